"""Hostile text a staff member or a client can enter — a survey's title, intro, question texts
and option labels, a client's name, a comment — is shown as text on every survey console page,
to every role."""
from __future__ import annotations

import pytest

from tests.survey.html_check import assert_valid_html
from tests.survey.survey_support import active_survey, invite, learn_client, token_of

HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
ESCAPED = ["&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"]


@pytest.fixture
def hostile_survey(survey_ctx, http, staff):
    texts = {"zh-CN": "问 " + HOSTILE[0], "en": "Q " + HOSTILE[1]}
    survey = active_survey(http, staff, title=texts, intro=texts, questions=[
        {"key": "recommend", "type": "nps", "text": texts},
        {"key": "pick", "type": "single_choice", "text": texts,
         "options": [{"key": "a", "label": texts, "score": 0},
                     {"key": "b", "label": texts, "score": 100}]},
        {"key": "comment", "type": "text", "text": texts}])
    client = learn_client(survey_ctx, name="Client " + HOSTILE[0] + HOSTILE[1])
    url = invite(http, staff, survey["id"], client)["url"]
    answered = http.post("/api/v1/public/responses", json={
        "token": token_of(url), "answers": {"recommend": 9, "pick": "a",
                                            "comment": HOSTILE[0] + " " + HOSTILE[1]}})
    assert answered.status_code == 201
    second = learn_client(survey_ctx, name="Second " + HOSTILE[1])
    invite(http, staff, survey["id"], second)
    return survey


def test_hostile_text_is_shown_as_text_on_every_page(staff_console, analyst_console, zh_console,
                                                     hostile_survey):
    base = f"/console/surveys/{hostile_survey['id']}"
    pages = ["/console/", base, f"{base}/preview?language=en", f"{base}/preview?language=zh-CN",
             f"{base}/invitations", f"{base}/results", f"{base}/responses"]
    for console in (staff_console, analyst_console, zh_console):
        for path in pages:
            page = assert_valid_html(console.get(path))
            for raw in HOSTILE:
                assert raw not in page, path
            assert any(escaped in page for escaped in ESCAPED), path
    invite_page = staff_console.page(f"{base}/invite?q=client")
    assert HOSTILE[0] not in invite_page and HOSTILE[1] not in invite_page
    assert "Client " + ESCAPED[0] + ESCAPED[1] in invite_page
