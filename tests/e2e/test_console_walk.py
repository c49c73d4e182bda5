"""The staff console end to end, in Chromium, on the embedded default (``clientloop up``).

One ``clientloop up`` (gunicorn, SQLite, the filesystem bus) serves the module; the tests use
the console as people do, by the roles and names the pages show (tests/e2e/console_site.py):

* a support agent's day, in zh-CN and again switched to English with the language control: a
  complaint opened through the API is in the queue → acknowledge → assign → start → resolve with
  a root cause → the client's page shows satisfaction moved, with the ledger's reasons → invite
  the client to a survey and copy the link → the client answers it in another browser context
  → the survey's results and responses show the answer; axe-core finds no serious or critical
  violation on any console page on the way;
* an analyst walks the same pages and is offered no action; a forged POST carrying the
  session's own valid CSRF token gets a 403 page and changes nothing;
* hostile strings typed into every text field staff or clients fill in are shown as text on
  every console page that shows them (the browser bypasses the Content-Security-Policy, so an
  injected script would really run);
* one session opens every service's pages; a POST without the CSRF token, with another
  session's or from another origin is refused; sign-out and a revoked token end it everywhere.
"""
from __future__ import annotations

import re
import time
import uuid

import pytest

from services.survey.web.texts import TEXTS
from tests.e2e.console_site import (HOSTILE, IMAGE, SCRIPT, SERVICES, Api, Words, checked,
                                    eventually, fact, flash_says, follow, main_text,
                                    post_from_page, press, running_suite, search_until_found,
                                    shown_as_text)
from tests.support.console import DESKTOP, need_chromium, new_browser, sign_in

pytestmark = pytest.mark.browser

ACTIONS = ("Acknowledge", "Assign", "Start", "Escalate", "Wait for client", "Resume", "Resolve",
           "Close", "Reopen")
FORM = TEXTS["zh-CN"]                       # the public survey form, in the client's language


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    need_chromium()
    with running_suite(tmp_path_factory.mktemp("console-walk")) as suite:
        yield suite


# -- a support agent's day, in both languages -------------------------------------------------
@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_a_support_agent_works_a_complaint_and_a_survey_in_the_browser(suite, language):
    words, base = Words(language), suite.base
    c, r, s = words.of("complaints"), words.of("registry"), words.of("survey")
    api = Api(base, suite.staff)
    tag = uuid.uuid4().hex[:6]
    client = api.client(f"华东物流有限公司 {tag}")
    complaint = api.complaint(client["id"], f"货物晚到两周 {tag}")
    survey = api.survey(f"服务回访 {tag}")
    link = suite.cli("console", "link", "--name", "王芳", "--role", "staff")
    assert link.startswith(f"{base}/registry/console/sign-in/")

    with new_browser() as browser:
        agent = browser.new_context(locale="zh-CN", **DESKTOP)
        page = agent.new_page()
        page.goto(link)                                       # the one-time link signs in
        assert page.url == f"{base}/registry/console/"
        assert "王芳" in page.locator("header").inner_text()
        if language == "en":                                  # the language control, remembered
            press(page, "English")
            assert page.url == f"{base}/registry/console/"
        checked(page, "the client list", language)

        # the queue shows the complaint opened through the API, due within 4 h
        page.goto(f"{base}/complaints/console/")
        assert page.get_by_role("heading", level=1).inner_text() == c("Complaint queue")
        row = page.get_by_role("row").filter(has_text=complaint["ref"])
        assert client["name"] in row.inner_text() and complaint["title"] in row.inner_text()
        due_in = c("due in %(time)s").split("%(time)s")[0]
        assert row.locator(".countdown").inner_text().startswith(due_in)
        checked(page, "the queue", language)

        follow(page, complaint["ref"], scope=row)
        assert page.url == f"{base}/complaints/console/complaints/{complaint['id']}"
        checked(page, "the new complaint", language)

        # acknowledge → assign → start → resolve with a root cause
        press(page, c("Acknowledge"))
        flash_says(page, c("%(action)s: done.") % {"action": c("Acknowledge")})
        assign = page.get_by_role("form", name=c("Assign"))
        assign.get_by_label(c("Assignee")).fill("王芳")
        press(assign, c("Assign"))
        press(page, c("Start"))
        assert fact(page, c("Status")) == c("In progress")
        assert fact(page, c("Assignee")) == "王芳"
        checked(page, "the complaint in progress", language)
        resolve = page.get_by_role("form", name=c("Resolve"))
        resolve.get_by_label(c("Resolution")).select_option("replacement")
        resolve.get_by_label(c("Root cause")).fill("承运商丢失托盘")
        resolve.get_by_label(c("Summary")).fill("已空运补发。")
        press(resolve, c("Resolve"))
        assert fact(page, c("Status")) == c("Resolved")
        assert fact(page, c("Root cause")) == "承运商丢失托盘"
        timeline = page.locator("ol.timeline > li").all_inner_texts()
        assert [entry.split("·")[0].strip() for entry in timeline] == [
            c("Opened"), c("Acknowledge"), c("Assign"), c("Start"), c("Resolve")]
        for action in ACTIONS:                                # only what "resolved" allows
            offered = page.get_by_role("button", name=c(action), exact=True).count() > 0
            assert offered == (action in ("Close", "Reopen")), action
        checked(page, "the resolved complaint", language)

        # the client's page: satisfaction moved, each change with its reason
        follow(page, client["name"])
        assert page.url == f"{base}/registry/console/clients/{client['id']}"
        ledger = page.locator("section[aria-labelledby=satisfaction] tbody tr")
        eventually(lambda: ledger.count() == 2, page, "the ledger has both complaint entries")
        # newest first; each row: when, event, change, satisfaction after, reason
        resolved, opened = [row.locator("th, td").all_inner_texts()[1:] for row in ledger.all()]
        assert opened[:3] == [r("Complaint opened"), "-10.00", "60.00"], opened
        assert opened[3].startswith(f"Complaint {complaint['ref']} (high) opened: −10"), opened
        assert resolved[:3] == [r("Complaint resolved"), "+5.00", "65.00"], resolved
        assert resolved[3].startswith(f"Complaint {complaint['ref']} (high) resolved"), resolved
        alt = page.locator("section[aria-labelledby=satisfaction] img.chart").get_attribute("alt")
        assert alt.startswith(r("Satisfaction over time")), alt
        assert re.search(r": 60(\.0+)?; .*: 65(\.0+)?$", alt), alt
        assert fact(page, r("Satisfaction")) == "65.00 / 100"
        checked(page, "the client page", language)

        # invite the client to the survey and copy the link, shown this once
        follow(page, r("Surveys"), scope=page.locator("header"))
        assert page.url == f"{base}/survey/console/"
        checked(page, "the survey list", language)
        follow(page, survey["title"]["zh-CN"])
        checked(page, "the survey", language)
        follow(page, s("Invite clients"))
        checked(page, "the invite page", language)
        client_box = page.get_by_role("checkbox", name=client["name"])
        search_until_found(page, s("Find clients by name"), tag, s("Search"), client_box)
        client_box.check()
        press(page, s("Invite"))
        link_field = page.locator("input.copy-link")
        assert link_field.count() == 1 and link_field.get_attribute("readonly") is not None
        survey_link = link_field.input_value()
        assert survey_link.startswith(f"{base}/survey/s/")
        checked(page, "the new link", language)
        follow(page, s("All invitations of this survey"))
        assert client["name"] in main_text(page)
        assert survey_link not in page.content()
        checked(page, "the invitations", language)

        # the client answers in a browser of their own, not signed in
        visitor = browser.new_context(locale="zh-CN", **DESKTOP)
        form = visitor.new_page()
        form.goto(survey_link)
        assert form.get_by_role("heading", level=1).inner_text() == survey["title"]["zh-CN"]
        form.click("label[for='q-recommend-9']")
        form.locator('textarea[name="comment"]').fill("补发很快，谢谢。")
        with form.expect_navigation():
            form.get_by_role("button", name=FORM["submit"]).click()
        assert form.locator("h1").inner_text() == FORM["thanks_title"]
        visitor.close()

        # the results and the responses show the answer
        follow(page, s("Results"))
        metrics = page.locator("dl.metrics")
        eventually(lambda: fact(metrics, s("Responses")) == "1", page, "the response counted")
        assert fact(metrics, s("NPS")) == "100.0"
        checked(page, "the results", language)
        follow(page, s("Responses"), scope=page.locator("nav.tabs"))
        answers = page.locator("table.responses tbody").inner_text()
        assert "补发很快，谢谢。" in answers and client["name"] in answers
        checked(page, "the responses", language)
        agent.close()


# -- an analyst reads everything and may change nothing ---------------------------------------
#: What staff are offered and an analyst must not be: (service, English label).
STAFF_LINKS = (("complaints", "New complaint"), ("registry", "New client"), ("registry", "Edit"),
               ("registry", "Erase personal data"), ("survey", "New survey"),
               ("survey", "Invite clients"))
STAFF_BUTTONS = tuple(("complaints", action) for action in ACTIONS) + (
    ("complaints", "Add note"), ("complaints", "Save corrections"), ("registry", "Archive"),
    ("registry", "Log interaction"), ("registry", "Save plan"), ("survey", "Publish"),
    ("survey", "Close"), ("survey", "Revoke"), ("survey", "Send a new link"))


def test_an_analyst_is_offered_no_action_and_a_forged_post_gets_a_403_page(suite):
    words, base = Words("zh-CN"), suite.base
    analyst = words("complaints", "analyst")                  # the role the 403 page names
    api = Api(base, suite.staff)
    tag = uuid.uuid4().hex[:6]
    client = api.client(f"西南能源集团 {tag}")
    complaint = api.complaint(client["id"], f"发票金额有误 {tag}")   # new: every action open
    survey = api.survey(f"季度满意度 {tag}")
    invitation = api.post(f"/survey/api/v1/surveys/{survey['id']}/invitations",
                          {"client_id": client["id"]})["items"][0]
    draft = api.survey(f"草稿 {tag}", publish=False)
    complaint_path = f"/complaints/console/complaints/{complaint['id']}"
    client_path = f"/registry/console/clients/{client['id']}"
    survey_path = f"/survey/console/surveys/{survey['id']}"
    pages = {
        "the queue": "/complaints/console/", "the complaint": complaint_path,
        "the analysis": "/complaints/console/analysis", "the client list": "/registry/console/",
        "the client page": client_path, "the portfolio": "/registry/console/portfolio",
        "the survey list": "/survey/console/", "the survey": survey_path,
        "a draft survey": f"/survey/console/surveys/{draft['id']}",
        "the invitations": f"{survey_path}/invitations", "the results": f"{survey_path}/results",
        "the responses": f"{survey_path}/responses",
    }
    shows = {"the queue": complaint["ref"], "the client page": client["name"],
             "the invitations": client["name"]}
    with new_browser() as browser:
        context = browser.new_context(locale="zh-CN", **DESKTOP)
        page = context.new_page()
        sign_in(page, f"{base}/complaints", suite.analyst)      # the token field
        assert "赵分析" in page.locator("header").inner_text()
        for where, path in pages.items():
            response = page.goto(base + path)
            assert response.status == 200, (where, response.status)
            main = page.locator("main")
            assert shows.get(where, "") in main.inner_text(), where
            assert main.locator("form[method=post]").count() == 0, where
            for service, text in STAFF_BUTTONS:
                button = main.get_by_role("button", name=words(service, text), exact=True)
                assert button.count() == 0, (where, text)
            for service, text in STAFF_LINKS:
                link = main.get_by_role("link", name=words(service, text), exact=True)
                assert link.count() == 0, (where, text)
            checked(page, where, "zh-CN")

        # staff pages asked for by their address
        for path in ("/complaints/console/new", "/registry/console/clients/new",
                     f"{client_path}/edit", f"{client_path}/erase", "/survey/console/surveys/new",
                     f"{survey_path}/invite"):
            response = page.goto(base + path)
            assert response.status == 403, (path, response.status)
            assert analyst in main_text(page), path

        # forged POSTs: the session's own valid CSRF token, from this site — still refused
        token = page.locator('header input[name="csrf_token"]').first.input_value()
        assert token
        forged = [
            (f"{complaint_path}/actions", {"action": "acknowledge", "version": "1"}),
            (f"{complaint_path}/notes", {"text": "伪造的备注"}),
            (f"{complaint_path}/triage", {"intent": "save", "severity": "low", "version": "1"}),
            ("/complaints/console/new", {"client_id": client["id"], "channel": "phone",
                                         "category": "delivery", "severity": "low",
                                         "title": "伪造的投诉"}),
            (f"{client_path}/archive", {"version": "1"}),
            (f"{client_path}/erase", {"version": "1"}),
            (f"{client_path}/interactions", {"channel": "phone", "summary": "伪造的沟通"}),
            (f"{survey_path}/close", {"version": "2"}),
            (f"/survey/console/surveys/{draft['id']}/publish", {"version": "1"}),
            (f"/survey/console/invitations/{invitation['id']}/revoke", {"version": "1"}),
        ]
        for path, fields in forged:
            response = post_from_page(page, base + path, {**fields, "csrf_token": token})
            assert response.status == 403, (path, response.status)
            heading = page.get_by_role("heading", level=1).inner_text()
            assert heading == words("complaints", "Not allowed"), (path, heading)
            assert analyst in main_text(page), path
            checked(page, f"the 403 page of {path}", "zh-CN")
        context.close()

    # nothing changed
    now = api.get(f"/complaints/api/v1/complaints/{complaint['id']}")
    assert now["status"] == "new" and now["severity"] == "high" and len(now["timeline"]) == 1
    assert api.get(f"/registry/api/v1/clients/{client['id']}")["status"] == "active"
    assert api.get(f"/survey/api/v1/surveys/{survey['id']}")["status"] == "active"
    assert api.get(f"/survey/api/v1/surveys/{draft['id']}")["status"] == "draft"
    listed = api.get(f"/survey/api/v1/surveys/{survey['id']}/invitations")["items"]
    assert [item["state"] for item in listed] == ["open"], listed
    assert "伪造" not in str(api.get(f"/complaints/api/v1/complaints?client_id={client['id']}"))
    assert "伪造" not in str(api.get(f"/registry/api/v1/clients/{client['id']}/interactions"))


# -- hostile text is shown as text --------------------------------------------------------------
def test_hostile_text_from_staff_and_clients_is_shown_as_text_on_every_console_page(suite):
    words, base = Words("zh-CN"), suite.base
    c, r, s = words.of("complaints"), words.of("registry"), words.of("survey")
    tag = uuid.uuid4().hex[:6]
    name = f"客户{tag} {HOSTILE}"
    api = Api(base, suite.staff)
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    with new_browser() as browser:
        # bypass_csp: the pages' policy would block an injected script; here it would run
        staff = browser.new_context(locale="zh-CN", bypass_csp=True, **DESKTOP)
        page = staff.new_page()
        page.on("dialog", on_dialog)
        sign_in(page, f"{base}/registry", suite.staff)

        # the client, typed into the registry's forms
        page.goto(f"{base}/registry/console/clients/new")
        page.locator("#field-name").fill(name)
        page.locator("#field-kind").select_option("external")
        page.locator("#field-category").select_option("enterprise")
        page.locator("#field-tags").fill(f"{SCRIPT}, {IMAGE}")   # a tag is ≤ 50 characters
        page.locator("#field-owner").fill(f"负责人 {HOSTILE}")
        page.locator("#field-contacts-0-name").fill(f"联系人 {HOSTILE}")
        page.locator("#field-contacts-0-role").fill(f"职务 {HOSTILE}")
        press(page, r("Register client"))
        client_id = page.url.rstrip("/").rsplit("/", 1)[-1]
        client_path = f"/registry/console/clients/{client_id}"
        assert page.url == base + client_path, page.url
        page.locator("#field-channel").select_option("phone")
        page.locator("#field-summary").fill(f"沟通 {HOSTILE}")
        press(page, r("Log interaction"))
        page.get_by_text(r("Set a plan"), exact=True).click()
        page.locator("#field-plan_goal").fill(f"目标 {HOSTILE}")
        page.locator("#field-plan_channel").select_option("phone")
        page.locator("#field-plan_frequency_days").fill("14")
        press(page, r("Save plan"))

        # the complaint, typed into the complaints' forms and worked to resolved
        page.goto(f"{base}/complaints/console/new?client_q={tag}")
        eventually(lambda: page.get_by_role("radio").count() == 1, page,
                   "the complaints service knows the client")
        page.get_by_role("radio").check()
        page.locator("#field-new-channel").select_option("phone")
        page.locator("#field-new-category").select_option("delivery")
        page.locator("#field-new-severity").select_option("high")
        page.locator("#field-new-title").fill(f"标题 {HOSTILE}")
        page.locator("#field-new-description").fill(f"描述 {HOSTILE}\n第二行 {HOSTILE}")
        page.locator("#field-new-remedy_sought").fill(f"诉求 {HOSTILE}")
        press(page, c("Open complaint"))
        complaint_path = page.url.removeprefix(base)
        assert complaint_path.startswith("/complaints/console/complaints/"), page.url
        page.locator("#field-note-text").fill(f"备注 {HOSTILE}")
        press(page, c("Add note"))
        press(page, c("Acknowledge"))
        assign = page.get_by_role("form", name=c("Assign"))
        assign.locator("#field-assign-assignee").fill(f"处理人 {HOSTILE}")
        press(assign, c("Assign"))
        press(page, c("Start"))
        wait = page.get_by_role("form", name=c("Wait for client"))
        wait.locator("#field-wait-reason").fill(f"等待 {HOSTILE}")
        press(wait, c("Wait for client"))
        press(page, c("Resume"))
        resolve = page.get_by_role("form", name=c("Resolve"))
        resolve.locator("#field-resolve-resolution_code").select_option("fixed")
        resolve.locator("#field-resolve-root_cause").fill(f"原因 {HOSTILE}")
        resolve.locator("#field-resolve-summary").fill(f"总结 {HOSTILE}")
        press(resolve, c("Resolve"))
        assert fact(page, c("Status")) == c("Resolved")

        # the survey, defined through the API; the client invited from the console
        survey = api.survey(f"问卷 {HOSTILE}", question=f"题目 {HOSTILE}",
                            option=f"选项 {HOSTILE}", intro=f"说明 {HOSTILE}")
        survey_path = f"/survey/console/surveys/{survey['id']}"
        page.goto(f"{base}{survey_path}/invite?q={tag}")
        eventually(lambda: page.get_by_role("checkbox").count() == 1, page,
                   "the survey service knows the client")
        page.get_by_role("checkbox").check()
        press(page, s("Invite"))
        shown_as_text(page, "the new link", [name])
        survey_link = page.locator("input.copy-link").input_value()

        # the client answers with a hostile comment, in a browser of their own
        visitor = browser.new_context(locale="zh-CN", bypass_csp=True, **DESKTOP)
        form = visitor.new_page()
        form.on("dialog", on_dialog)
        form.goto(survey_link)
        shown_as_text(form, "the survey form", [f"问卷 {HOSTILE}", f"说明 {HOSTILE}",
                                                 f"题目 {HOSTILE}", f"选项 {HOSTILE}"])
        form.click("label[for='q-recommend-3']")
        form.locator('textarea[name="comment"]').fill(f"评论 {HOSTILE}")
        form.click("label[for='q-value']")
        with form.expect_navigation():
            form.get_by_role("button", name=FORM["submit"]).click()
        assert form.locator("h1").inner_text() == FORM["thanks_title"]
        shown_as_text(form, "the thanks page", [f"问卷 {HOSTILE}"])
        visitor.close()

        # every console page that shows what was typed shows it as text
        survey_texts = [f"问卷 {HOSTILE}", f"说明 {HOSTILE}", f"题目 {HOSTILE}", f"选项 {HOSTILE}"]
        shown = {
            f"/complaints/console/?q={tag}&status=any": [f"标题 {HOSTILE}", name],
            complaint_path: [name, f"标题 {HOSTILE}", f"描述 {HOSTILE}", f"第二行 {HOSTILE}",
                             f"诉求 {HOSTILE}", f"备注 {HOSTILE}", f"处理人 {HOSTILE}",
                             f"等待 {HOSTILE}", f"原因 {HOSTILE}", f"总结 {HOSTILE}"],
            "/complaints/console/analysis": [f"原因 {HOSTILE}"],
            f"/complaints/console/new?client_q={tag}": [name],
            f"/registry/console/?q={tag}": [name, SCRIPT, IMAGE, f"负责人 {HOSTILE}"],
            client_path: [name, SCRIPT, IMAGE, f"负责人 {HOSTILE}", f"联系人 {HOSTILE}",
                          f"职务 {HOSTILE}", f"沟通 {HOSTILE}", f"目标 {HOSTILE}"],
            f"{client_path}/edit": [name],
            "/survey/console/": [f"问卷 {HOSTILE}"],
            survey_path: survey_texts,
            f"{survey_path}/preview": survey_texts,
            f"{survey_path}/invite?q={tag}": [f"问卷 {HOSTILE}", name],
            f"{survey_path}/invitations": [f"问卷 {HOSTILE}", name],
            f"{survey_path}/results": [f"问卷 {HOSTILE}"],
            f"{survey_path}/responses": [f"问卷 {HOSTILE}", name, f"题目 {HOSTILE}",
                                         f"选项 {HOSTILE}", f"评论 {HOSTILE}"],
        }
        for path, texts in shown.items():
            page.goto(base + path)
            shown_as_text(page, path, texts)
        # the forms show it again in their fields, as typed
        page.goto(f"{base}{client_path}/edit")
        assert page.locator("#field-name").input_value() == name
        assert page.locator("#field-tags").input_value() == f"{SCRIPT}, {IMAGE}"
        assert page.locator("#field-contacts-0-role").input_value() == f"职务 {HOSTILE}"
        staff.close()
    assert dialogs == []


# -- one session for the whole site; CSRF on every service ------------------------------------
def test_one_session_opens_every_service_and_its_forms_refuse_forged_posts(suite):
    words, base = Words("zh-CN"), suite.base
    api = Api(base, suite.staff)
    tag = uuid.uuid4().hex[:6]
    client = api.client(f"会话测试 {tag}")
    complaint = api.complaint(client["id"], f"会话 {tag}")
    notes = f"{base}/complaints/console/complaints/{complaint['id']}/notes"
    brief = suite.cli("token", "create", "--role", "staff", "--name", "临时工", "--days", "1")

    with new_browser() as browser:
        first = browser.new_context(locale="zh-CN")
        page = first.new_page()
        sign_in(page, f"{base}/survey", suite.staff)
        cookie, = [cookie for cookie in first.cookies() if cookie["name"] == "clientloop_console"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
        assert not cookie["secure"]                           # plain HTTP on this machine
        for service in SERVICES:                              # signed in once, for every service
            page.goto(f"{base}/{service}/console/")
            assert page.url == f"{base}/{service}/console/", page.url
        mine = page.locator('header input[name="csrf_token"]').first.input_value()

        second = browser.new_context(locale="zh-CN")
        other = second.new_page()
        sign_in(other, f"{base}/complaints", brief)
        theirs = other.locator('header input[name="csrf_token"]').first.input_value()
        assert mine and theirs and mine != theirs

        refused = [({}, {}), ({"csrf_token": theirs}, {}),
                   ({"csrf_token": mine}, {"Origin": "http://evil.example"})]
        for fields, headers in refused:
            response = page.request.post(notes, form={"text": f"伪造 {tag}", **fields},
                                         headers=headers, max_redirects=0)
            assert response.status == 403, (fields.keys(), headers, response.status)
            assert response.headers["content-type"].startswith("text/html")
        # the token of a survey page is this session's on the complaints service too
        response = page.request.post(notes, form={"text": f"真的 {tag}", "csrf_token": mine},
                                     max_redirects=0)
        assert response.status == 303, response.text()[:500]
        timeline = api.get(f"/complaints/api/v1/complaints/{complaint['id']}")["timeline"]
        assert [entry.get("note") for entry in timeline if entry["action"] == "note"] == [
            f"真的 {tag}"]

        # signing out ends the session everywhere
        press(page.locator("header"), words("registry", "Sign out"))
        checked(page, "the sign-in page", "zh-CN")
        assert page.locator('input[name="token"]').get_attribute("type") == "password"
        assert not [cookie for cookie in first.cookies() if cookie["name"] == "clientloop_console"]
        for service in SERVICES:
            page.goto(f"{base}/{service}/console/")
            assert page.url.startswith(f"{base}/{service}/console/sign-in"), page.url

        # a revoked token's session is sent back to sign-in by every service (within 5 s)
        suite.cli("token", "revoke", brief)
        for service in SERVICES:
            deadline = time.monotonic() + 10
            while True:
                other.goto(f"{base}/{service}/console/")
                if other.url.startswith(f"{base}/{service}/console/sign-in"):
                    break
                assert time.monotonic() < deadline, f"{service} still takes a revoked session"
                time.sleep(0.5)
        first.close()
        second.close()
