"""Invitation emails through a real SMTP server (aiosmtpd on loopback)."""
from __future__ import annotations

import email
import email.policy
import re
import uuid

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from services.survey.adapters.orm import InvitationRecord
from services.survey.app import build_context, create_app, run_jobs
from services.survey.delivery.email import parse_smtp_url
from shared.migrations import upgrade
from tests.conftest import auth, make_token
from tests.e2e.harness import eventually, free_port
from tests.survey.survey_support import (active_survey, deliver, invite, learn_client, outbox,
                                         token_of)
from tests.survey.integration.test_survey_events_in import resolved

LINK = re.compile(r"(https?://\S+/s/[A-Za-z0-9_-]+)")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{controller.port}"
    yield inbox
    controller.stop()


@pytest.fixture
def mailing(settings, smtp, clock):
    configured = settings.with_overrides(smtp_url=smtp.url, public_url="https://cl.example.com",
                                         ratelimit_public="1000 per minute")
    upgrade("survey", configured.database_url("survey"))
    ctx = build_context(configured, clock=clock)
    app = create_app(context=ctx)
    yield ctx, app.test_client(), auth(make_token(configured, "staff"))
    ctx.extras["delivery_worker"].stop()
    ctx.database.dispose()


def body_text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def invitation(ctx, invitation_id) -> InvitationRecord:
    with ctx.database.transaction() as session:
        return session.get(InvitationRecord, invitation_id)


def test_smtp_urls_are_parsed():
    target = parse_smtp_url("smtps://mailer:p%40ss@smtp.example.com")
    assert (target.host, target.port, target.use_ssl, target.username, target.password) == (
        "smtp.example.com", 465, True, "mailer", "p@ss")
    assert parse_smtp_url("smtp://127.0.0.1:2525?starttls=true").starttls is True
    with pytest.raises(ValueError):
        parse_smtp_url("http://example.com")


def test_an_invitation_is_emailed_in_its_language_after_commit(mailing, smtp):
    ctx, http, staff = mailing
    survey = active_survey(http, staff)
    client_id = learn_client(ctx, language="zh-CN", email="li.wei@example.com", name="李伟")
    item = invite(http, staff, survey["id"], client_id)
    assert item["delivery"] == "email" and item["delivery_status"] == "pending"
    assert item["url"].startswith("https://cl.example.com/survey/s/")
    assert eventually(lambda: smtp.messages, timeout=10)
    [message] = smtp.messages
    assert smtp.recipients == [["li.wei@example.com"]]
    assert message["Subject"] == "请告诉我们您的感受：客户满意度调查"
    assert message["Content-Language"] == "zh-CN"
    text = body_text(message)
    assert "李伟 contact，您好" in text
    [link] = LINK.findall(text)
    assert link.startswith("https://cl.example.com/survey/s/") and link != item["url"]
    assert http.get(f"/s/{token_of(link)}").status_code == 200
    assert eventually(lambda: invitation(ctx, item["id"]).delivery_status == "sent", timeout=5)
    listed = http.get(f"/api/v1/surveys/{survey['id']}/invitations", headers=staff).get_json()
    assert listed["items"][0]["links"] == 2 and listed["items"][0]["delivered_at"]
    [event] = outbox(ctx, "survey.invitation.created")
    assert event["data"]["delivery"] == "email" and token_of(link) not in str(event)


def test_an_english_invitation_email_is_in_english_and_escapes_the_title(mailing, smtp):
    ctx, http, staff = mailing
    survey = active_survey(http, staff, title={"zh-CN": "调查", "en": "<b>Survey</b>"})
    invite(http, staff, survey["id"], learn_client(ctx, language="en", email="ann@example.com"))
    assert eventually(lambda: smtp.messages, timeout=10)
    message = smtp.messages[0]
    assert message["Subject"] == "Tell us how we did: <b>Survey</b>"
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "&lt;b&gt;Survey&lt;/b&gt;" in html and "<b>Survey</b>" not in html


def test_a_client_without_an_email_gets_no_email(mailing, smtp):
    ctx, http, staff = mailing
    survey = active_survey(http, staff)
    item = invite(http, staff, survey["id"], learn_client(ctx))
    assert item["delivery"] == "none" and item["delivery_status"] == "not_requested"
    run_jobs(ctx, ctx.clock())
    assert smtp.messages == []


def test_a_failed_send_is_kept_pending_and_retried_by_the_jobs(settings, clock):
    port = free_port()
    configured = settings.with_overrides(smtp_url=f"smtp://127.0.0.1:{port}")
    upgrade("survey", configured.database_url("survey"))
    ctx = build_context(configured, clock=clock)
    http = create_app(context=ctx).test_client()
    staff = auth(make_token(configured, "staff", days=10))
    try:
        survey = active_survey(http, staff)
        item = invite(http, staff, survey["id"], learn_client(ctx, email="ann@example.com"))
        assert eventually(lambda: invitation(ctx, item["id"]).delivery_error, timeout=10)
        failed = invitation(ctx, item["id"])
        assert (failed.delivery_status, failed.delivery_attempts) == ("pending", 1)
        assert run_jobs(ctx, ctx.clock()) == {"emails_sent": 0}  # backing off
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            clock.advance(minutes=2)
            assert run_jobs(ctx, ctx.clock()) == {"emails_sent": 1}
        finally:
            controller.stop()
        assert invitation(ctx, item["id"]).delivery_status == "sent"
        [link] = LINK.findall(body_text(inbox.messages[0]))
        assert http.get(f"/s/{token_of(link)}").status_code == 200
    finally:
        ctx.extras["delivery_worker"].stop()
        ctx.database.dispose()


def test_an_answered_invitation_is_not_emailed(mailing, smtp):
    ctx, http, staff = mailing
    ctx.extras["delivery_worker"].stop()  # deliver only when the test says so
    survey = active_survey(http, staff)
    item = invite(http, staff, survey["id"], learn_client(ctx, email="ann@example.com"))
    http.post("/api/v1/public/responses", json={"token": token_of(item["url"]),
                                                "answers": {"recommend": 8, "satisfied": 4}})
    assert run_jobs(ctx, ctx.clock()) == {"emails_sent": 0}
    assert invitation(ctx, item["id"]).delivery_status == "cancelled"
    assert smtp.messages == []


def test_a_resolved_complaint_emails_the_follow_up_survey(mailing, smtp):
    ctx, http, staff = mailing
    survey = active_survey(http, staff, send_after_complaint_resolved=True)
    client_id = learn_client(ctx, language="en", email="bo@example.com")
    complaint_id = str(uuid.uuid4())
    deliver(ctx, resolved(client_id, complaint_id))
    deliver(ctx, resolved(client_id, complaint_id))
    assert eventually(lambda: smtp.messages, timeout=10)
    [link] = LINK.findall(body_text(smtp.messages[0]))
    page = http.get(f"/s/{token_of(link)}")
    assert page.status_code == 200 and '<html lang="en">' in page.get_data(as_text=True)
    with ctx.database.transaction() as session:
        [record] = session.execute(select(InvitationRecord)).scalars().all()
    assert (record.survey_id, record.complaint_id) == (survey["id"], complaint_id)
    assert eventually(lambda: invitation(ctx, record.id).delivery_status == "sent", timeout=5)
    assert len(smtp.messages) == 1
