"""The survey builder in the staff console: a draft's definition edited in both languages
without JavaScript, each button posting the whole form; the same use case as the API's PATCH."""
from __future__ import annotations

import pytest

from services.survey.adapters.orm import SurveyRecord
from tests.survey.console.forms import form_fields, texts_of
from tests.survey.html_check import assert_valid_html
from tests.survey.survey_support import create_survey

HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_ATTR = '"><img src=x onerror=alert(1)>'


def stored(ctx, survey_id: str) -> SurveyRecord:
    with ctx.database.transaction() as session:
        survey = session.get(SurveyRecord, survey_id)
        session.expunge(survey)
        return survey


def builder_form(console, survey_id: str):
    page = console.page(f"/console/surveys/{survey_id}")
    return form_fields(page, "builder")


def test_a_new_survey_is_built_question_by_question_and_saved_as_a_draft(staff_console,
                                                                          survey_ctx):
    page = assert_valid_html(staff_console.get("/console/surveys/new"))
    fields = form_fields(page, "builder")
    fields.set("title.zh-CN", "新问卷").set("title.en", "New survey")

    added = staff_console.post("/console/surveys/new",
                               fields.set("new_type", "rating").press("add"))
    assert added.status_code == 200
    page = assert_valid_html(added)
    assert "Question added below" in page
    with survey_ctx.database.transaction() as session:
        assert session.query(SurveyRecord).count() == 0  # adding alone saves nothing
    fields = form_fields(page, "builder")
    assert fields.get("questions.0.type") == "rating"
    assert fields.get("questions.0.scale") == "5"
    assert fields.get("title.en") == "New survey"  # what was typed is kept
    fields.set("questions.0.text.zh-CN", "请打分").set("questions.0.text.en", "Rate us")

    saved = staff_console.post("/console/surveys/new", fields.press("save"))
    assert saved.status_code == 303
    survey_id = saved.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    survey = stored(survey_ctx, survey_id)
    assert survey.status == "draft"
    assert survey.created_by == "staff-user"
    assert survey.definition["title"] == {"zh-CN": "新问卷", "en": "New survey"}
    assert survey.definition["questions"] == [{
        "key": "rating", "type": "rating", "text": {"zh-CN": "请打分", "en": "Rate us"},
        "required": False, "weight": 1, "scale": 5}]
    assert "Draft saved" in staff_console.page(saved.headers["Location"])


@pytest.mark.parametrize("question_type", ["nps", "csat", "ces", "rating", "single_choice",
                                           "multi_choice", "text"])
def test_every_question_type_can_be_added_filled_in_and_saved(staff_console, survey_ctx, http,
                                                               staff, question_type):
    survey = create_survey(http, staff)
    fields = builder_form(staff_console, survey["id"])
    page = staff_console.post(f"/console/surveys/{survey['id']}",
                              fields.set("new_type", question_type).press("add"))
    fields = form_fields(page.get_data(as_text=True), "builder")
    new = f"questions.{len(survey['questions'])}"
    fields.set(f"{new}.text.zh-CN", "新题").set(f"{new}.text.en", "New question")
    if question_type in ("single_choice", "multi_choice"):
        for number in (0, 1):
            fields.set(f"{new}.options.{number}.label.zh-CN", f"选项{number}")
            fields.set(f"{new}.options.{number}.label.en", f"Option {number}")
        if question_type == "single_choice":
            fields.set(f"{new}.options.0.score", "0").set(f"{new}.options.1.score", "100")
    saved = staff_console.post(f"/console/surveys/{survey['id']}", fields.press("save"))
    assert saved.status_code == 303, saved.get_data(as_text=True)
    added = stored(survey_ctx, survey["id"]).definition["questions"][-1]
    assert added["type"] == question_type
    assert added["text"] == {"zh-CN": "新题", "en": "New question"}
    if question_type == "single_choice":
        assert [option.get("score") for option in added["options"]] == [0, 100]
    if question_type == "multi_choice":
        assert [option["label"]["en"] for option in added["options"]] == ["Option 0", "Option 1"]


def test_questions_move_up_and_down_and_are_removed(staff_console, survey_ctx, http, staff):
    survey = create_survey(http, staff)
    keys = [question["key"] for question in survey["questions"]]
    path = f"/console/surveys/{survey['id']}"

    moved = staff_console.post(path, builder_form(staff_console, survey["id"]).press("down.0"))
    assert moved.status_code == 303
    assert moved.headers["Location"].endswith("#question-2")
    order = [q["key"] for q in stored(survey_ctx, survey["id"]).definition["questions"]]
    assert order == [keys[1], keys[0], *keys[2:]]

    staff_console.post(path, builder_form(staff_console, survey["id"]).press("up.6"))
    order = [q["key"] for q in stored(survey_ctx, survey["id"]).definition["questions"]]
    assert order == [keys[1], keys[0], *keys[2:5], keys[6], keys[5]]

    staff_console.post(path, builder_form(staff_console, survey["id"]).press("remove.0"))
    order = [q["key"] for q in stored(survey_ctx, survey["id"]).definition["questions"]]
    assert order == [keys[0], *keys[2:5], keys[6], keys[5]]
    assert stored(survey_ctx, survey["id"]).version == 4

    # An index that is not there changes nothing (and is no 500).
    staff_console.post(path, builder_form(staff_console, survey["id"]).press("remove.99"))
    assert stored(survey_ctx, survey["id"]).version == 4


def test_options_are_added_with_scores_and_removed(staff_console, survey_ctx, http, staff):
    survey = create_survey(http, staff)
    path = f"/console/surveys/{survey['id']}"
    index = next(i for i, q in enumerate(survey["questions"]) if q["type"] == "single_choice")
    added = staff_console.post(path, builder_form(staff_console, survey["id"])
                               .press(f"add-option.{index}"))
    assert added.status_code == 200
    fields = form_fields(added.get_data(as_text=True), "builder")
    option = f"questions.{index}.options.3"
    assert fields.get(f"{option}.key") == "option_1"
    fields.set(f"{option}.label.zh-CN", "极好").set(f"{option}.label.en", "Excellent")
    fields.set(f"{option}.score", "100").set(f"questions.{index}.options.2.score", "75.5")
    assert staff_console.post(path, fields.press("save")).status_code == 303
    options = stored(survey_ctx, survey["id"]).definition["questions"][index]["options"]
    assert [(o["key"], o.get("score")) for o in options] == [
        ("poor", 0), ("fair", 50), ("good", 75.5), ("option_1", 100)]

    staff_console.post(path, builder_form(staff_console, survey["id"])
                       .press(f"remove-option.{index}.0"))
    options = stored(survey_ctx, survey["id"]).definition["questions"][index]["options"]
    assert [o["key"] for o in options] == ["fair", "good", "option_1"]


def test_invalid_fields_are_shown_in_a_summary_with_the_input_kept_and_nothing_saved(
        staff_console, survey_ctx, http, staff):
    survey = create_survey(http, staff)
    path = f"/console/surveys/{survey['id']}"
    fields = builder_form(staff_console, survey["id"])
    fields.set("title.en", "   ").set("questions.0.text.zh-CN", HOSTILE_SCRIPT)
    fields.set("questions.0.weight", "heavy").set("questions.3.scale", "12")
    fields.set("questions.1.key", "recommend")  # the key of question 1 already

    refused = staff_console.post(path, fields.press("save"))
    assert refused.status_code == 422
    page = assert_valid_html(refused)
    summary = texts_of(page, "error-summary-title")
    assert summary
    assert 'href="#field-title.en"' in page
    assert 'href="#field-questions.0.weight"' in page
    assert 'href="#field-questions.3.scale"' in page
    assert 'href="#field-questions.1.key"' in page
    assert "Title (English): Must not be empty." in page
    assert "Question 1 · Weight: Must be a number greater than 0 and at most 100." in page
    assert "Question 4 · Scale: Must be a whole number from 3 to 10." in page
    kept = form_fields(page, "builder")
    assert kept.get("questions.0.text.zh-CN") == HOSTILE_SCRIPT
    assert kept.get("questions.0.weight") == "heavy"
    assert HOSTILE_SCRIPT not in page
    assert stored(survey_ctx, survey["id"]).version == 1


def test_a_language_is_added_by_ticking_it_and_filling_in_its_texts(staff_console, survey_ctx,
                                                                      http, staff):
    survey = create_survey(http, staff, languages=["zh-CN"], title={"zh-CN": "仅中文"},
                           intro=None, questions=[{"key": "recommend", "type": "nps",
                                                   "text": {"zh-CN": "推荐吗？"}}])
    path = f"/console/surveys/{survey['id']}"
    page = staff_console.page(path)
    assert 'name="title.en"' not in page
    fields = form_fields(page, "builder").tick("languages", "en")
    refused = staff_console.post(path, fields.press("save"))
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Title (English)" in page and "Question 1 · Question text (English)" in page
    fields = form_fields(page, "builder")
    fields.set("title.en", "English only after all").set("questions.0.text.en", "Recommend?")
    fields.set("default_language", "en")
    assert staff_console.post(path, fields.press("save")).status_code == 303
    definition = stored(survey_ctx, survey["id"]).definition
    assert definition["languages"] == ["en", "zh-CN"]
    assert definition["title"] == {"zh-CN": "仅中文", "en": "English only after all"}

    # Unticking a language drops its texts when saved.
    fields = builder_form(staff_console, survey["id"]).untick("languages", "zh-CN")
    assert staff_console.post(path, fields.press("save")).status_code == 303
    definition = stored(survey_ctx, survey["id"]).definition
    assert definition["languages"] == ["en"]
    assert definition["questions"][0]["text"] == {"en": "Recommend?"}


def test_a_save_over_someone_elses_newer_save_is_a_409_with_the_input_kept(
        staff_console, survey_ctx, http, staff):
    survey = create_survey(http, staff)
    path = f"/console/surveys/{survey['id']}"
    fields = builder_form(staff_console, survey["id"]).set("title.en", "Mine")
    other = http.patch(f"/api/v1/surveys/{survey['id']}", headers=staff,
                       json={"title": {"zh-CN": "他们的", "en": "Theirs"}})
    assert other.status_code == 200

    refused = staff_console.post(path, fields.press("save"))
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "Someone else saved this survey" in page
    assert stored(survey_ctx, survey["id"]).definition["title"]["en"] == "Theirs"
    again = form_fields(page, "builder")
    assert again.get("title.en") == "Mine" and again.get("version") == "2"
    assert staff_console.post(path, again.press("save")).status_code == 303
    assert stored(survey_ctx, survey["id"]).definition["title"]["en"] == "Mine"


def test_a_published_survey_is_shown_read_only_and_cannot_be_changed(staff_console, survey_ctx,
                                                                       http, staff):
    survey = create_survey(http, staff)
    path = f"/console/surveys/{survey['id']}"
    fields = builder_form(staff_console, survey["id"])
    published = staff_console.post(f"{path}/publish", {"version": "1"})
    assert published.status_code == 303
    assert stored(survey_ctx, survey["id"]).status == "active"
    page = assert_valid_html(staff_console.get(path))
    assert 'id="builder"' not in page
    assert "Survey published" in page
    assert ">Close<" in page and "Invite clients" in page

    late = staff_console.post(path, fields.set("title.en", "Too late").press("save"))
    assert late.status_code == 303
    assert stored(survey_ctx, survey["id"]).definition["title"]["en"] != "Too late"
    assert "Only a draft can be changed" in staff_console.page(path)

    twice = staff_console.post(f"{path}/publish", {"version": "2"})
    assert twice.status_code == 303
    assert "cannot be published while it is Active" in staff_console.page(path)

    closed = staff_console.post(f"{path}/close", {"version": "2"})
    assert closed.status_code == 303
    assert stored(survey_ctx, survey["id"]).status == "closed"
    page = staff_console.page(path)
    assert "Survey closed" in page and ">Close<" not in page


def test_publish_with_a_stale_version_changes_nothing(staff_console, survey_ctx, http, staff):
    survey = create_survey(http, staff)
    http.patch(f"/api/v1/surveys/{survey['id']}", headers=staff,
               json={"title": {"zh-CN": "新", "en": "New"}})
    response = staff_console.post(f"/console/surveys/{survey['id']}/publish", {"version": "1"})
    assert response.status_code == 303
    assert stored(survey_ctx, survey["id"]).status == "draft"
    assert "Someone else changed this survey" in staff_console.page(
        f"/console/surveys/{survey['id']}")


def test_the_preview_is_the_clients_form_in_the_chosen_language_and_cannot_be_submitted(
        staff_console, analyst_console, http, staff):
    survey = create_survey(http, staff, title={"zh-CN": "预览" + HOSTILE_SCRIPT,
                                               "en": "Preview" + HOSTILE_ATTR})
    for console in (staff_console, analyst_console):
        english = console.get(f"/console/surveys/{survey['id']}/preview?language=en")
        assert english.status_code == 200
        page = assert_valid_html(english)
        assert '<html lang="en">' in page
        assert "How likely are you to recommend us?" in page
        assert '<button type="submit" class="submit" disabled>' in page
        assert "It cannot be submitted" in page
        assert HOSTILE_ATTR not in page and "Preview&#34;&gt;&lt;img" in page
    chinese = staff_console.page(f"/console/surveys/{survey['id']}/preview?language=zh-CN")
    assert "您有多大可能推荐我们？" in chinese and HOSTILE_SCRIPT not in chinese
    assert "预览&lt;script&gt;" in chinese
    fallback = staff_console.page(f"/console/surveys/{survey['id']}/preview?language=fr")
    assert '<html lang="zh-CN">' in fallback


def test_an_analyst_reads_the_draft_without_any_button_and_a_forged_post_is_refused(
        analyst_console, survey_ctx, http, staff):
    survey = create_survey(http, staff)
    path = f"/console/surveys/{survey['id']}"
    page = assert_valid_html(analyst_console.get(path))
    assert 'id="builder"' not in page
    assert "<button" not in page.split("<main", 1)[1].split("</main>")[0]
    assert "How likely are you to recommend us?" in page
    assert "New survey" not in analyst_console.page("/console/")

    for target, data in [(path, {"title.en": "Forged", "op": "save", "question_count": "0"}),
                         (f"{path}/publish", {"version": "1"}),
                         ("/console/surveys/new", {"op": "save"})]:
        refused = analyst_console.post(target, data)
        assert refused.status_code == 403
        assert "may not do this" in refused.get_data(as_text=True)
    assert analyst_console.get("/console/surveys/new").status_code == 403
    survey_now = stored(survey_ctx, survey["id"])
    assert (survey_now.version, survey_now.status) == (1, "draft")
    with survey_ctx.database.transaction() as session:
        assert session.query(SurveyRecord).count() == 1


def test_a_post_without_a_valid_csrf_token_changes_nothing(staff_console, survey_app, tokens,
                                                           survey_ctx, http, staff):
    from tests.survey.console.conftest import Console
    survey = create_survey(http, staff)
    path = f"/console/surveys/{survey['id']}"
    fields = builder_form(staff_console, survey["id"]).set("title.en", "CSRF")
    without = staff_console.post(path, fields.without("csrf_token").press("save"), csrf=False)
    assert without.status_code == 403
    other = Console(survey_app, tokens["admin"])
    foreign = staff_console.post(path, fields.without("csrf_token").press("save")
                                 + [("csrf_token", other.csrf)], csrf=False)
    assert foreign.status_code == 403
    cross_site = staff_console.post(f"{path}/publish", {"version": "1"},
                                    headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    survey_now = stored(survey_ctx, survey["id"])
    assert (survey_now.version, survey_now.status) == (1, "draft")


def test_hostile_texts_are_shown_as_text_in_the_builder_and_the_survey_page(
        staff_console, analyst_console, http, staff):
    hostile = {"zh-CN": HOSTILE_SCRIPT, "en": HOSTILE_ATTR}
    survey = create_survey(http, staff, title=hostile, intro=hostile, questions=[
        {"key": "pick", "type": "single_choice", "text": hostile,
         "options": [{"key": "a", "label": hostile, "score": 10},
                     {"key": "b", "label": {"zh-CN": "乙", "en": "B"}}]}])
    for console in (staff_console, analyst_console):
        for page in (console.page("/console/"), console.page(f"/console/surveys/{survey['id']}")):
            assert HOSTILE_SCRIPT not in page and HOSTILE_ATTR not in page
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page or \
                "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    page = assert_valid_html(staff_console.get(f"/console/surveys/{survey['id']}"))
    kept = form_fields(page, "builder")
    assert kept.get("questions.0.options.0.label.en") == HOSTILE_ATTR
    assert kept.get("title.zh-CN") == HOSTILE_SCRIPT
