"""An erasure audited the way an auditor would: nothing of the person is left in any database.

Registry, survey and complaints run in-process on their own PostgreSQL databases, with their
relays and consumers on a RabbitMQ virtual host and invitation emails to a loopback SMTP server
that refuses the client's address (so an email error quoting it is recorded). A client with a
unique name, contacts, tag and owner goes through everything that copies personal data: a
registration and a correction with ``Idempotency-Key``, a communication plan and an interaction,
a complaint with its texts, notes and reasons, a survey invitation with an ``Idempotency-Key``
(and its replay), a response with a comment, a follow-up survey after the complaint's
resolution. Then the client is erased, every event is delivered, and every column of every
table of every service database — found by reflecting the schema, not listed by hand — is
searched for the unique strings.
"""
from __future__ import annotations

import json
import time
import uuid

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import MetaData, create_engine, func, select

from services.complaints.app import build_context as complaints_context
from services.complaints.app import create_app as complaints_app
from services.registry.app import build_context as registry_context
from services.registry.app import create_app as registry_app
from services.survey.app import build_context as survey_context
from services.survey.app import create_app as survey_app
from shared.config import Settings
from shared.db import normalise_url
from shared.events import validate_envelope
from shared.runtime import Workers, migrate
from tests.conftest import TEST_SECRET, auth, make_token
from tests.e2e.harness import eventually, free_port
from tests.survey.survey_support import survey_fields, token_of

SERVICES = ("registry", "survey", "complaints")
#: Letters outside hexadecimal: no id, hash or token can contain the marker by chance.
MARKER = "zqxw" + uuid.uuid4().hex[:10]


class RefusingServer:
    """SMTP that refuses every recipient, as a mailbox that no longer exists."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self.refused.append(address)
        return f"550 5.1.1 <{address}>: mailbox unavailable"


@pytest.fixture
def smtp():
    handler = RefusingServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.url = f"smtp://127.0.0.1:{controller.port}"
    yield handler
    controller.stop()


@pytest.fixture
def platform(tmp_path, postgres_urls, rabbitmq_url, smtp):
    settings = Settings.from_env({
        "CLIENTLOOP_BROKER_URL": rabbitmq_url,
        **{f"CLIENTLOOP_{name.upper()}_DATABASE_URL": url for name, url in postgres_urls.items()},
        "CLIENTLOOP_SMTP_URL": smtp.url, "CLIENTLOOP_RATELIMIT_PUBLIC": "1000 per minute",
        "CLIENTLOOP_RETRY_DELAYS": "0.2,0.5,1,2", "CLIENTLOOP_RELAY_POLL_S": "0.2",
        "CLIENTLOOP_JOBS_INTERVAL_S": "1",
    }, data_dir=tmp_path / "data", secret_key=TEST_SECRET)
    builders = {"registry": (registry_context, registry_app),
                "survey": (survey_context, survey_app),
                "complaints": (complaints_context, complaints_app)}
    contexts, clients = {}, {}
    workers = Workers()
    try:
        for name in SERVICES:
            migrate(name, settings)
            build, app = builders[name]
            contexts[name] = build(settings)
            clients[name] = app(context=contexts[name]).test_client()
            workers.start_service(name, contexts[name])
        yield settings, contexts, clients
    finally:
        workers.shutdown()
        if "survey" in contexts:
            contexts["survey"].extras["delivery_worker"].stop()
        for ctx in contexts.values():
            ctx.database.dispose()


def created(response, status: int = 201) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def unsent(ctx) -> int:
    table = ctx.tables.outbox
    with ctx.database.transaction() as session:
        return session.execute(select(func.count()).select_from(table)
                               .where(table.c.sent_at.is_(None))).scalar_one()


def quiet(contexts, settle_s: float = 1.5) -> bool:
    """Every outbox published, twice in a row ``settle_s`` apart (consumers may publish more)."""
    def all_sent():
        return all(unsent(ctx) == 0 for ctx in contexts.values())
    if not eventually(all_sent, timeout=30, interval=0.2):
        return False
    time.sleep(settle_s)
    return bool(eventually(all_sent, timeout=30, interval=0.2))


def dump(url: str) -> str:
    """Every value of every column of every table of one database, as text."""
    engine = create_engine(normalise_url(url))
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        lines = []
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    lines.append(f"{table.name}: {tuple(row)!r}")
        return "\n".join(lines)
    finally:
        engine.dispose()


def test_an_erased_client_leaves_no_personal_data_in_any_database(platform, postgres_urls, smtp):
    settings, contexts, http = platform
    staff = auth(make_token(settings, "staff"))
    admin = auth(make_token(settings, "admin"))
    name = f"Zhou {MARKER} Trading"
    email = f"{MARKER}@example.com"
    phone = f"+86 {MARKER} 0199"
    secrets = {
        "name": name, "email": email, "phone": phone, "contact": f"Ms {MARKER}-contact",
        "tag": f"tag-{MARKER}", "owner": f"owner-{MARKER}", "goal": f"goal {MARKER}",
        "interaction": f"called {MARKER}", "title": f"title {MARKER}",
        "description": f"description {MARKER}", "remedy": f"remedy {MARKER}",
        "reason": f"reason {MARKER}", "resolution": f"resolution {MARKER}",
        "comment": f"comment {MARKER} 很好",
    }

    # -- registry: register (with an Idempotency-Key, replayed), correct, plan, interaction ----
    client_body = {"name": name, "kind": "external", "category": "enterprise",
                   "preferred_language": "en", "tags": [secrets["tag"]], "owner": secrets["owner"],
                   "contacts": [{"name": secrets["contact"], "email": email, "phone": phone}]}
    registry = http["registry"]
    keyed = {**staff, "Idempotency-Key": "register-1"}
    client = created(registry.post("/api/v1/clients", headers=keyed, json=client_body))
    assert created(registry.post("/api/v1/clients", headers=keyed, json=client_body))["id"] \
        == client["id"]
    client_id = client["id"]
    created(registry.patch(f"/api/v1/clients/{client_id}", headers=staff,
                           json={"interest": 4}), 200)
    created(registry.put(f"/api/v1/clients/{client_id}/communication-plan", headers=staff,
                         json={"goal": secrets["goal"], "channel": "phone",
                               "frequency_days": 30}))
    created(registry.post(f"/api/v1/clients/{client_id}/interactions",
                          headers={**staff, "Idempotency-Key": "call-1"},
                          json={"channel": "phone", "summary": secrets["interaction"]}))

    # -- survey: an active survey with a text question and a follow-up survey ----------------
    survey = http["survey"]

    def active(**overrides) -> str:
        made = created(survey.post("/api/v1/surveys", headers=staff,
                                   json=survey_fields(**overrides)))
        created(survey.post(f"/api/v1/surveys/{made['id']}/publish", headers=staff), 200)
        return made["id"]

    survey_id = active()
    follow_up_id = active(send_after_complaint_resolved=True)

    # -- complaints: opened (Idempotency-Key) once the client is known, worked to resolution --
    complaints = http["complaints"]
    complaint_body = {"client_id": client_id, "channel": "email", "category": "billing",
                      "severity": "high", "title": secrets["title"],
                      "description": secrets["description"], "remedy_sought": secrets["remedy"]}

    def open_complaint():
        response = complaints.post("/api/v1/complaints", json=complaint_body,
                                   headers={**staff, "Idempotency-Key": "complaint-1"})
        return response.get_json() if response.status_code == 201 else None

    complaint = eventually(open_complaint, timeout=20, interval=0.2)
    assert complaint, "the complaints service never learnt the client"
    for action, fields in (("acknowledge", {}), ("escalate", {"reason": secrets["reason"]}),
                           ("resolve", {"resolution_code": "refund", "root_cause": "billing",
                                        "summary": secrets["resolution"]})):
        created(complaints.post(f"/api/v1/complaints/{complaint['id']}/actions",
                                headers=staff, json={"action": action, **fields}), 200)

    # -- survey: an invitation with an Idempotency-Key (replayed), a response with a comment --
    invite_headers = {**staff, "Idempotency-Key": "invite-1"}

    def invite():
        response = survey.post(f"/api/v1/surveys/{survey_id}/invitations",
                               headers=invite_headers, json={"client_id": client_id})
        return response.get_json()["items"][0] if response.status_code == 201 else None

    item = eventually(invite, timeout=20, interval=0.2)
    assert item and item["client_name"] == name
    assert survey.post(f"/api/v1/surveys/{survey_id}/invitations", headers=invite_headers,
                       json={"client_id": client_id}).status_code == 201
    created(survey.post("/api/v1/public/responses", json={
        "token": token_of(item["url"]),
        "answers": {"recommend": 9, "satisfied": 4, "comment": secrets["comment"]}}))

    # -- every event delivered: the follow-up invitation exists, its email was refused --------
    def follow_up_refused():
        listed = survey.get(f"/api/v1/surveys/{follow_up_id}/invitations", headers=staff)
        items = listed.get_json()["items"]
        return items if items and email in (items[0]["delivery_error"] or "") else None

    assert eventually(follow_up_refused, timeout=30, interval=0.2), "no refused follow-up email"
    assert quiet(contexts)
    before = {service: dump(url) for service, url in postgres_urls.items()}
    for service in SERVICES:  # the audit finds the person everywhere before the erasure
        assert MARKER in before[service].casefold(), service
    assert email in before["survey"]   # the refused email's error quotes the address

    # -- erase, deliver client.erased everywhere, audit ------------------------------------------
    created(registry.post(f"/api/v1/clients/{client_id}/erase", headers=admin), 200)

    def erased_everywhere():
        answer = complaints.get(f"/api/v1/complaints/{complaint['id']}", headers=staff)
        invitations = survey.get(f"/api/v1/surveys/{survey_id}/invitations", headers=staff)
        return answer.get_json()["client_erased"] and \
            invitations.get_json()["items"][0]["client_name"] is None

    assert eventually(erased_everywhere, timeout=30, interval=0.2), "client.erased not applied"
    assert quiet(contexts)
    found = []
    for service, url in postgres_urls.items():
        for line in dump(url).splitlines():
            if any(value.casefold() in line.casefold() for value in (MARKER, *secrets.values())):
                found.append(f"{service} {line[:300]}")
    assert not found, "personal data left after erasure:\n" + "\n".join(found)

    # Scrubbed events are kept, sent, and still valid events: replay and backfill can use them.
    for ctx in contexts.values():
        table = ctx.tables.outbox
        with ctx.database.transaction() as session:
            for body in session.execute(select(table.c.body)).scalars():
                validate_envelope(json.loads(body))
    # The erasure kept what is not personal: the client, its complaint and its response.
    assert created(registry.get(f"/api/v1/clients/{client_id}", headers=staff), 200)["status"] \
        == "erased"
    replay = survey.post(f"/api/v1/surveys/{survey_id}/invitations", headers=invite_headers,
                         json={"client_id": client_id})
    assert replay.status_code == 201 and replay.get_json()["items"][0]["id"] == item["id"]
