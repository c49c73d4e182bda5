"""``clientloop token list`` / ``token revoke``, the revocation every service checks, and why a 401.

A revoked token is refused by every service once its revocation list is re-read (every 2 s), so
within 5 s of ``token revoke``; the list survives a brief database outage; ``token list`` prints
one JSON object a line; ``--days`` is at most 365; a 401 says whether the token was missing,
not valid, expired or revoked, and nothing else.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from shared.auth import issue_token
from shared.cli import _admin_token, main
from shared.config import Settings
from shared.db import Database
from shared.migrations import upgrade
from shared.runtime import service_module
from shared.tokens import RevocationListUnavailable, TokenRecord, merge_records
from shared.web.security import revocation_list
from tests.conftest import TEST_SECRET, auth
from tests.e2e.harness import ProcessSuite

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("registry", "survey", "complaints")
READ_PATHS = {"registry": "/api/v1/clients", "survey": "/api/v1/surveys", "complaints": "/api/v1/complaints"}
LIST_KEYS = {"id", "name", "role", "created_at", "expires_at", "revoked_at"}
UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:1/nothing"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cli_env(settings, monkeypatch):
    """The command line in this process, configured like the suite under test (embedded)."""
    for name in [key for key in os.environ
                 if key.startswith("CLIENTLOOP_") and key != "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CLIENTLOOP_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("CLIENTLOOP_DATA_DIR", str(settings.data_dir))


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def services(settings):
    """The three services' apps on the embedded databases, each with a hand-driven list clock."""
    apps, contexts, clock = {}, {}, FakeMonotonic()
    for name in SERVICES:
        upgrade(name, settings.database_url(name))
        module = service_module(name)
        contexts[name] = module.build_context(settings)
        apps[name] = module.create_app(context=contexts[name])
        revocation_list(apps[name]).monotonic = clock
    yield apps, contexts, clock
    for ctx in contexts.values():
        ctx.database.dispose()


def statuses(apps, token: str) -> dict[str, int]:
    return {name: app.test_client().get(READ_PATHS[name], headers=auth(token)).status_code
            for name, app in apps.items()}


def listed(capsys) -> list[dict]:
    code, out, err = run(capsys, "token", "list")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_a_revoked_token_is_refused_by_every_service_at_its_next_list_read(services, cli_env, capsys):
    apps, _contexts, clock = services
    code, token, _ = run(capsys, "token", "create", "--role", "staff", "--name", "Wang Fang")
    assert code == 0
    token = token.strip()
    _, other, _ = run(capsys, "token", "create", "--role", "analyst", "--name", "Li Lei")
    assert statuses(apps, token) == dict.fromkeys(SERVICES, 200)

    token_id = next(line["id"] for line in listed(capsys) if line["name"] == "Wang Fang")
    code, out, err = run(capsys, "token", "revoke", token_id)
    assert code == 0 and out.strip() == token_id
    assert "registry, survey, complaints" in err

    clock.now += 1.0           # the lists read a second ago are still used…
    assert statuses(apps, token) == dict.fromkeys(SERVICES, 200)
    clock.now += 1.0           # …and re-read 2 s after the last read: refused everywhere
    assert statuses(apps, token) == dict.fromkeys(SERVICES, 401)
    body = apps["survey"].test_client().get(READ_PATHS["survey"], headers=auth(token)).get_json()
    assert body["reason"] == "revoked" and body["detail"] == "The bearer token has been revoked."
    assert statuses(apps, other.strip()) == dict.fromkeys(SERVICES, 200)


def test_token_list_prints_one_json_object_a_line_newest_first(services, cli_env, capsys, settings):
    _apps, contexts, _clock = services
    before = datetime.now(timezone.utc)
    _, first, _ = run(capsys, "token", "create", "--role", "staff", "--name", "First", "--days", "7")
    _, second, _ = run(capsys, "token", "create", "--role", "admin", "--name", "Second")
    _admin_token(settings, contexts)                       # the token `clientloop up` prints
    lines = listed(capsys)
    assert [line["name"] for line in lines] == ["admin", "Second", "First"]
    for line in lines:
        assert set(line) == LIST_KEYS
        assert line["revoked_at"] is None
        assert line["created_at"].endswith("Z") and line["expires_at"].endswith("Z")
    first_line = lines[2]
    assert first_line["role"] == "staff"
    expires = datetime.fromisoformat(first_line["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (before + timedelta(days=7))) < timedelta(minutes=1)

    # revoke by the token itself, and an id no database recorded (a token from before the list)
    assert run(capsys, "token", "revoke", second.strip())[0] == 0
    unknown = str(uuid.uuid4())
    code, _, err = run(capsys, "token", "revoke", unknown)
    assert code == 0 and "no database had recorded this token" in err
    lines = {line["id"]: line for line in listed(capsys)}
    assert lines[unknown] == {"id": unknown, "name": None, "role": None, "created_at": None,
                              "expires_at": None, "revoked_at": lines[unknown]["revoked_at"]}
    assert lines[unknown]["revoked_at"].endswith("Z")
    assert sum(line["revoked_at"] is not None for line in lines.values()) == 2
    assert list(lines)[-1] == unknown                      # no creation time: listed last

    code, out, err = run(capsys, "token", "revoke", "not-a-token")
    assert code == 2 and out == "" and "neither a token id nor a token" in err


def test_a_token_revoked_in_some_databases_only_is_not_listed_as_revoked():
    at = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
    record = TokenRecord("t1", "Ops", "admin", at, at + timedelta(days=30), None)
    revoked = TokenRecord("t1", None, None, None, None, at + timedelta(hours=1))
    partly = merge_records({"registry": [revoked], "survey": [record], "complaints": [record]})
    assert partly == [{"id": "t1", "name": "Ops", "role": "admin", "created_at": "2026-03-01T08:00:00.000000Z",
                       "expires_at": "2026-03-31T08:00:00.000000Z", "revoked_at": None,
                       "revoked_in": ["registry"]}]
    everywhere = merge_records({"registry": [revoked], "survey": [revoked]})
    assert everywhere[0]["revoked_at"] == "2026-03-01T09:00:00.000000Z" and "revoked_in" not in everywhere[0]


@pytest.mark.parametrize("days, accepted", [(365, True), (366, False), (36_500, False)])
def test_days_are_capped_at_a_year(days, accepted, cli_env, capsys):
    code, out, err = run(capsys, "token", "create", "--role", "staff", "--name", "X", "--days", str(days))
    if accepted:
        assert code == 0 and out.count("\n") == 1
        return
    assert code == 2 and out == ""
    assert err.strip() == f"clientloop: --days must be from 1 to 365, got {days}"
    with pytest.raises(ValueError):
        issue_token(TEST_SECRET, name="X", role="staff", days=days, now=datetime.now(timezone.utc))


def test_a_default_validity_over_a_year_is_refused_at_start(tmp_path):
    with pytest.raises(SystemExit, match="CLIENTLOOP_TOKEN_DAYS must be from 1 to 365"):
        Settings.from_env({"CLIENTLOOP_TOKEN_DAYS": "400"}, data_dir=tmp_path, secret_key=TEST_SECRET)


def test_a_401_says_missing_invalid_expired_or_revoked_and_nothing_more(services, cli_env, capsys):
    apps, _contexts, clock = services
    now = datetime.now(timezone.utc)
    valid = issue_token(TEST_SECRET, name="Zhao Min", role="admin", days=1, now=now)
    payload, signature = valid.rsplit(".", 1)
    revoked = issue_token(TEST_SECRET, name="Zhao Min", role="admin", days=1, now=now)
    assert run(capsys, "token", "revoke", revoked)[0] == 0
    cases = {
        "missing": {},
        "invalid": {"Authorization": f"Bearer {payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"},
        "expired": auth(issue_token(TEST_SECRET, name="Zhao Min", role="admin", days=1,
                                    now=now - timedelta(days=2))),
        "revoked": auth(revoked),
    }
    cases["invalid (another key)"] = auth(issue_token("another-installation-0123456789abcdefgh",
                                                      name="Zhao Min", role="admin", days=1, now=now))
    cases["invalid (garbage)"] = {"Authorization": "Bearer not-a-token"}
    clock.now += 5
    for service, app in apps.items():
        for label, headers in cases.items():
            response = app.test_client().get(READ_PATHS[service], headers=headers)
            assert response.status_code == 401, (service, label)
            assert response.mimetype == "application/problem+json"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            body = response.get_json()
            assert set(body) == {"type", "title", "status", "detail", "instance", "reason"}, body
            assert body["reason"] == label.split(" ")[0], (service, label, body)
            assert "Zhao Min" not in response.get_data(as_text=True)
            assert "admin" not in response.get_data(as_text=True)


def test_the_list_outlives_a_brief_database_outage_but_not_a_long_one(services, cli_env, capsys, caplog):
    apps, _contexts, clock = services
    app = apps["complaints"]
    _, kept, _ = run(capsys, "token", "create", "--role", "staff", "--name", "Kept")
    _, gone, _ = run(capsys, "token", "create", "--role", "staff", "--name", "Gone")
    kept, gone = kept.strip(), gone.strip()
    run(capsys, "token", "revoke", gone)
    ids = {line["name"]: line["id"] for line in listed(capsys)}
    http = app.test_client()
    assert http.get(READ_PATHS["complaints"], headers=auth(kept)).status_code == 200
    revocations = revocation_list(app)
    working = revocations.database
    revocations.database = Database(UNREACHABLE_PG, connect_args={"connect_timeout": 2})
    try:
        clock.now += 3                 # the re-read fails: the list read 3 s ago is still used
        with caplog.at_level(logging.WARNING, logger="clientloop.tokens"):
            assert http.get(READ_PATHS["complaints"], headers=auth(gone)).status_code == 401
            assert not revocations.is_revoked(ids["Kept"])
        assert any("cannot read the revoked tokens" in record.getMessage() for record in caplog.records)
        clock.now += 30                # no successful read for 33 s: the list is not trusted any more
        with pytest.raises(RevocationListUnavailable) as unavailable:
            revocations.is_revoked(ids["Kept"])
        assert unavailable.value.__cause__ is not None   # the database error, answered as an outage
        response = http.get(READ_PATHS["complaints"], headers=auth(kept))
        assert response.status_code == 503 and "Retry-After" in response.headers
    finally:
        revocations.database.dispose()
        revocations.database = working
    clock.now += 3                     # the database is back: read again, served again
    assert http.get(READ_PATHS["complaints"], headers=auth(kept)).status_code == 200
    assert http.get(READ_PATHS["complaints"], headers=auth(gone)).status_code == 401


# -- production: one database per service ----------------------------------------------------------
def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def production_env(tmp_path: Path, urls: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CLIENTLOOP_") or key == "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"}
    return {**env, "CLIENTLOOP_SECRET_KEY": TEST_SECRET, "CLIENTLOOP_DATA_DIR": str(tmp_path / "data"),
            **{f"CLIENTLOOP_{name.upper()}_DATABASE_URL": url for name, url in urls.items()}}


def test_an_unreachable_or_unmigrated_database_is_named_and_the_others_still_revoke(tmp_path, postgres_urls):
    for service in ("registry", "complaints"):
        upgrade(service, postgres_urls[service])
    env = production_env(tmp_path, postgres_urls)
    unmigrated = cli(env, "token", "create", "--role", "staff", "--name", "Ops")
    assert unmigrated.returncode == 1 and unmigrated.stdout == ""
    assert "the survey database has no api_token table; run 'clientloop migrate survey' first" \
        in unmigrated.stderr

    env = production_env(tmp_path, {**postgres_urls, "survey": UNREACHABLE_PG})
    created = cli(env, "token", "create", "--role", "staff", "--name", "Ops")
    assert created.returncode == 1 and created.stdout == ""          # no token nobody can list
    assert "the survey database cannot be reached" in created.stderr and "Traceback" not in created.stderr

    token_id = str(uuid.uuid4())
    revoked = cli(env, "token", "revoke", token_id)
    assert revoked.returncode == 1
    assert f"token {token_id} revoked in registry, complaints only" in revoked.stderr
    assert "the survey database cannot be reached" in revoked.stderr
    env = production_env(tmp_path, {name: postgres_urls[name] for name in ("registry", "complaints")})
    lines = [json.loads(line) for line in cli(env, "token", "list").stdout.splitlines()]
    assert [(line["id"], line["revoked_at"] is not None) for line in lines] == [(token_id, True)]
    only_two = cli(env, "token", "revoke", token_id)
    assert only_two.returncode == 1 and "CLIENTLOOP_SURVEY_DATABASE_URL is not set" in only_two.stderr


def test_revoked_on_three_service_processes_within_five_seconds(tmp_path, postgres_urls, rabbitmq_url):
    """Each service under gunicorn with 2 workers, on its own PostgreSQL database."""
    suite = ProcessSuite(tmp_path, broker_url=rabbitmq_url, database_urls=postgres_urls)
    try:
        urls = {service: suite.start(service, relay=False, consume=False) for service in SERVICES}
        created = cli(suite.env, "token", "create", "--role", "analyst", "--name", "Leaver")
        assert created.returncode == 0, created.stderr
        token = created.stdout.strip()
        session = requests.Session()

        def status(service: str) -> int:
            return session.get(urls[service] + READ_PATHS[service], headers=auth(token), timeout=5).status_code

        for service in SERVICES:   # every worker of every service has read its list
            assert {status(service) for _ in range(10)} == {200}
        revoke = cli(suite.env, "token", "revoke", token)
        assert revoke.returncode == 0, revoke.stderr
        revoked_at = time.monotonic()
        refused_after: dict[str, float] = {}
        while len(refused_after) < len(SERVICES) and time.monotonic() - revoked_at < 10:
            for service in set(SERVICES) - set(refused_after):
                # refused by every worker: ten requests in a row
                if all(status(service) == 401 for _ in range(10)):
                    refused_after[service] = time.monotonic() - revoked_at
            time.sleep(0.05)
        assert set(refused_after) == set(SERVICES), (refused_after, suite.logs())
        assert max(refused_after.values()) < 5.0, refused_after
        body = session.get(urls["registry"] + READ_PATHS["registry"], headers=auth(token), timeout=5).json()
        assert body["reason"] == "revoked"
        print("revoked → 401 on every worker after", {k: round(v, 2) for k, v in refused_after.items()})
    finally:
        suite.stop()
