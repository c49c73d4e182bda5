"""What people type is shown as text on every complaints page, and every text of the pages
has its Chinese translation."""
from __future__ import annotations

from pathlib import Path

import pytest

from services.complaints.web import console as _console  # noqa: F401 - registers the catalogue
from services.complaints.web import console_forms
from shared.web.console.catalogue import (missing_translations, texts_in_python,
                                          texts_in_templates)
from tests.complaints.complaints_helpers import register_client
from tests.complaints.console.console_helpers import ESCAPED, HOSTILE, page_path, post_form, text

WEB = Path(__file__).resolve().parents[3] / "services" / "complaints" / "web"


@pytest.mark.parametrize("hostile, escaped", list(zip(HOSTILE, ESCAPED)))
def test_hostile_text_is_shown_as_text_on_every_page(api, staff, complaints_ctx, hostile,
                                                     escaped):
    client_id = register_client(complaints_ctx, name=f"Client {hostile}")
    complaint = api.opened(client_id=client_id, title=f"Title {hostile}",
                           description=f"Description {hostile}",
                           remedy_sought=f"Remedy {hostile}")
    path = page_path(complaint["id"])
    post_form(staff, path, path + "/notes", {"text": f"Note {hostile}"})
    for action, fields in (("acknowledge", {}), ("assign", {"assignee": f"Agent {hostile}"}),
                           ("start", {}), ("escalate", {"reason": f"Reason {hostile}"}),
                           ("resolve", {"resolution_code": "other",
                                        "root_cause": f"Cause {hostile}",
                                        "summary": f"Summary {hostile}"})):
        assert api.act(complaint["id"], action, **fields).status_code == 200
    other = api.opened(client_id=client_id, title=f"Open {hostile}")
    api.acted(other["id"], "assign", assignee=f"Agent {hostile}")
    shown = {
        "queue": staff.get("/console/?status=any"),
        "queue searched": staff.get("/console/", query_string={"q": hostile}),
        "complaint": staff.get(path),
        "new complaint": staff.get("/console/new", query_string={"client_q": "Client"}),
        "analysis": staff.get("/console/analysis"),
        "triage error": post_form(staff, page_path(other["id"]),
                                  page_path(other["id"]) + "/triage",
                                  {"title": "", "description": f"Typed {hostile}"}),
    }
    expected = {
        "queue": ["Title", "Open", "Client", "Agent"],
        "queue searched": ["Open", "Client"],
        "complaint": ["Title", "Description", "Remedy", "Note", "Agent", "Reason", "Cause",
                      "Summary", "Client"],
        "new complaint": ["Client"],
        "analysis": ["Cause"],
        "triage error": ["Typed"],
    }
    for page, response in shown.items():
        html = text(response)
        assert hostile not in html, page
        for word in expected[page]:
            assert f"{word} {escaped}" in html, (page, word)


def test_every_text_of_the_pages_has_a_chinese_translation():
    texts = texts_in_templates(WEB / "templates") | texts_in_python(WEB.glob("*.py"))

    assert len(texts) > 150
    assert missing_translations(texts, service="complaints") == []


def test_every_label_of_the_vocabulary_has_a_chinese_translation():
    labels = {label for labels in console_forms.ALL_LABELS for label in labels.values()}

    assert missing_translations(labels, service="complaints") == []
    assert missing_translations(console_forms.DOMAIN_MESSAGES, service="complaints") == []


def test_the_action_buttons_keep_their_fixed_english_names():
    assert list(console_forms.ACTION_LABELS.values()) == [
        "Acknowledge", "Assign", "Start", "Escalate", "Wait for client", "Resume", "Resolve",
        "Close", "Reopen"]


def test_the_complaints_texts_agree_with_the_other_consoles():
    """The catalogue is one for the whole site: a text the complaints pages share with another
    package must read the same there (else whichever registers last would win everywhere)."""
    import importlib

    from services.complaints.web.console_messages import MESSAGES
    ours = MESSAGES["zh-CN"]
    for module in ("shared.web.console.messages", "services.registry.web.console_messages",
                   "services.survey.web.console_messages"):
        theirs = importlib.import_module(module).MESSAGES["zh-CN"]
        assert {key: (ours[key], theirs[key]) for key in ours.keys() & theirs.keys()
                if ours[key] != theirs[key]} == {}, module
