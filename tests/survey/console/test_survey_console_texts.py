"""Every text the survey console shows has a Chinese translation, and the domain's messages
are shown in Chinese on a Chinese page."""
from __future__ import annotations

import re
from pathlib import Path

from services.survey.web import console_messages
from shared.web.console.catalogue import (missing_translations, texts_in_python,
                                          texts_in_templates)
from tests.survey.html_check import assert_valid_html
from tests.survey.survey_support import create_survey

WEB = Path(__file__).resolve().parents[3] / "services" / "survey" / "web"
VIEWS = ["console.py", "console_invitations.py", "console_results.py", "console_text.py"]


def test_every_console_text_has_a_chinese_translation(survey_app):
    texts = texts_in_templates(WEB / "templates" / "console" / "survey") | texts_in_python(
        [WEB / name for name in VIEWS])
    assert len(texts) > 150
    assert missing_translations(texts, service="survey") == []


def test_the_domains_messages_have_patterns_that_compile_and_fill_their_places():
    for pattern, translation in console_messages.DOMAIN_MESSAGES:
        groups = re.compile(pattern).groups
        assert translation.count("{") == groups, pattern


def test_a_chinese_page_shows_the_builders_errors_in_chinese(zh_console, http, staff):
    from tests.survey.console.forms import form_fields
    survey = create_survey(http, staff)
    page = zh_console.page(f"/console/surveys/{survey['id']}")
    assert "保存草稿" in page and "上移" in page
    fields = form_fields(page, "builder").set("title.en", "").set("questions.3.scale", "2")
    refused = zh_console.post(f"/console/surveys/{survey['id']}", fields.press("save"))
    assert refused.status_code == 422
    page = assert_valid_html(refused)
    assert "标题（English）: 不能为空。" in page
    assert "第 4 题 · 量表: 必须是 3 到 10 之间的整数。" in page
