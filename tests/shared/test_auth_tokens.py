"""``clientloop token create`` and the bearer tokens every service verifies from the secret alone.

A token printed by the command line is accepted by the API with its role and carries its
name (the API scopes ``Idempotency-Key`` by it); bad arguments are refused with a message and
no traceback; a token whose payload or signature was altered, that expired, or that was signed
with another key is a 401.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from shared.auth import InvalidToken, issue_token, verify_token
from shared.cli import main
from shared.config import Settings, data_dir_secret
from shared.migrations import upgrade
from tests.conftest import TEST_SECRET, auth

ROOT = Path(__file__).resolve().parents[2]
SECRET = TEST_SECRET
ANOTHER_SECRET = "another-installation-secret-0123456789abcdef"
CLIENT = {"name": "Acme", "kind": "external", "category": "enterprise"}


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CLIENTLOOP_") or key == "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"}
    return {**env, **extra}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=env or clean_env(CLIENTLOOP_SECRET_KEY=SECRET))


@pytest.fixture
def registry_http(settings):
    from services.registry.app import build_context, create_app
    upgrade("registry", settings.database_url("registry"))
    ctx = build_context(settings)
    yield create_app(context=ctx).test_client()
    ctx.database.dispose()


def test_a_printed_token_is_accepted_with_its_role_name_and_expiry(registry_http):
    before = datetime.now(timezone.utc)
    result = cli("token", "create", "--role", "staff", "--name", "Wang Fang", "--days", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and " " not in lines[0]        # the token alone, ready for a script
    token = lines[0]

    principal = verify_token(SECRET, token, now=datetime.now(timezone.utc))
    assert (principal.name, principal.role) == ("Wang Fang", "staff")
    assert before + timedelta(days=2) - timedelta(minutes=1) <= principal.expires_at <= \
        datetime.now(timezone.utc) + timedelta(days=2)
    assert verify_token(SECRET, token, now=before + timedelta(days=1, hours=23)).name == "Wang Fang"
    with pytest.raises(InvalidToken):
        verify_token(SECRET, token, now=before + timedelta(days=2, minutes=1))

    assert registry_http.get("/api/v1/clients", headers=auth(token)).status_code == 200
    created = registry_http.post("/api/v1/clients", json=CLIENT, headers=auth(token, **{"Idempotency-Key": "k1"}))
    assert created.status_code == 201                    # staff may write…
    erase = registry_http.post(f"/api/v1/clients/{created.get_json()['id']}/erase", headers=auth(token))
    assert erase.status_code == 403                      # …but not erase (admin only)

    # the API knows the caller by name: another token with the same name replays the same key,
    # a token with another name does not
    same_name = cli("token", "create", "--role", "staff", "--name", "Wang Fang").stdout.strip()
    assert same_name != token
    replay = registry_http.post("/api/v1/clients", json=CLIENT, headers=auth(same_name, **{"Idempotency-Key": "k1"}))
    assert replay.get_json()["id"] == created.get_json()["id"]
    other = cli("token", "create", "--role", "staff", "--name", "Li Lei").stdout.strip()
    fresh = registry_http.post("/api/v1/clients", json=CLIENT, headers=auth(other, **{"Idempotency-Key": "k1"}))
    assert fresh.status_code == 201 and fresh.get_json()["id"] != created.get_json()["id"]


@pytest.mark.parametrize("role, reads, writes, erases", [
    ("admin", 200, 201, 200), ("staff", 200, 201, 403), ("analyst", 200, 403, 403)])
def test_each_role_can_do_what_the_spec_says(registry_http, settings, capsys, monkeypatch,
                                            role, reads, writes, erases):
    for name in [key for key in os.environ
                 if key.startswith("CLIENTLOOP_") and key != "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CLIENTLOOP_SECRET_KEY", SECRET)
    assert main(["token", "create", "--role", role, "--name", f"{role} person"]) == 0
    token = capsys.readouterr().out.strip()
    principal = verify_token(SECRET, token, now=datetime.now(timezone.utc))
    assert (principal.role, principal.name) == (role, f"{role} person")
    expected = datetime.now(timezone.utc) + timedelta(days=settings.token_days)  # the default: 30 days
    assert abs(principal.expires_at - expected) < timedelta(minutes=1)
    admin = issue_token(SECRET, name="root", role="admin", days=1, now=datetime.now(timezone.utc))
    client_id = registry_http.post("/api/v1/clients", json=CLIENT, headers=auth(admin)).get_json()["id"]
    assert registry_http.get("/api/v1/clients", headers=auth(token)).status_code == reads
    assert registry_http.post("/api/v1/clients", json=CLIENT, headers=auth(token)).status_code == writes
    assert registry_http.post(f"/api/v1/clients/{client_id}/erase", headers=auth(token)).status_code == erases


@pytest.mark.parametrize("args, message", [
    (["--role", "boss", "--name", "X"], "invalid choice"),
    (["--role", "Admin", "--name", "X"], "invalid choice"),
    (["--name", "X"], "--role"),
    (["--role", "staff"], "--name"),
    (["--role", "staff", "--name", "X", "--days", "two"], "invalid int value"),
])
def test_bad_arguments_are_refused_by_the_parser(args, message):
    result = cli("token", "create", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args", [
    ["--role", "staff", "--name", "X", "--days", "0"],
    ["--role", "staff", "--name", "X", "--days", "-3"],
    ["--role", "staff", "--name", "X", "--days", "100000000"],
    ["--role", "staff", "--name", ""],
    ["--role", "staff", "--name", "   "],
])
def test_bad_values_are_refused_with_a_message_and_no_token(args):
    result = cli("token", "create", *args)
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith("clientloop: ") and "Traceback" not in result.stderr
    assert result.stdout == ""


def _tamper_payload(token: str, **changes) -> str:
    """Change fields of the token's payload, keeping its signature."""
    payload, signature = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload.lstrip(".")) % 4))
    if payload.startswith("."):  # itsdangerous compressed it
        raw = zlib.decompress(raw)
    data = json.loads(raw)
    data.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{forged}.{signature}"


def _tamper_signature(token: str) -> str:
    """Change the signature's first character (its last one carries bits base64 ignores)."""
    payload, signature = token.rsplit(".", 1)
    return f"{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def test_altered_expired_or_foreign_tokens_are_401(registry_http):
    now = datetime.now(timezone.utc)
    analyst = issue_token(SECRET, name="Reader", role="analyst", days=1, now=now)
    assert registry_http.get("/api/v1/clients", headers=auth(analyst)).status_code == 200
    forged = {
        "role raised": _tamper_payload(analyst, role="admin"),
        "name changed": _tamper_payload(analyst, sub="Someone Else"),
        "expiry extended": _tamper_payload(analyst, exp=int((now + timedelta(days=999)).timestamp())),
        "signature changed": _tamper_signature(analyst),
        "signature removed": analyst.rsplit(".", 1)[0],
        "expired": issue_token(SECRET, name="Reader", role="analyst", days=1, now=now - timedelta(days=2)),
        "another key": issue_token(ANOTHER_SECRET, name="Reader", role="admin", days=1, now=now),
        "empty": "",
    }
    for label, token in forged.items():
        for method, url in (("GET", "/api/v1/clients"), ("POST", "/api/v1/clients")):
            response = registry_http.open(url, method=method, headers={"Authorization": f"Bearer {token}"}, json=CLIENT)
            assert response.status_code == 401, (label, method, response.get_data(as_text=True))
            assert response.mimetype == "application/problem+json"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert registry_http.get("/api/v1/clients", headers=auth(analyst)).get_json()["total"] == 0


def test_without_a_secret_key_the_data_dir_key_signs_and_only_that_suite_accepts(tmp_path):
    from services.registry.app import build_context, create_app
    data_dir = tmp_path / "suite"
    key = data_dir_secret(data_dir)              # made by the suite's first start (clientloop up)
    result = cli("token", "create", "--role", "admin", "--name", "Ops", "--data-dir", str(data_dir), env=clean_env())
    assert result.returncode == 0, result.stderr
    assert (data_dir / "secret.key").is_file()
    assert (data_dir / "secret.key").read_text().strip() == key   # the suite's key, never replaced
    token = result.stdout.strip()
    for folder, expected in ((data_dir, 200), (tmp_path / "another-suite", 401)):
        settings = Settings.from_env({}, data_dir=folder)
        upgrade("registry", settings.database_url("registry"))
        ctx = build_context(settings)
        try:
            response = create_app(context=ctx).test_client().get("/api/v1/clients", headers=auth(token))
            assert response.status_code == expected
        finally:
            ctx.database.dispose()


@pytest.mark.parametrize("command", [["token", "create", "--role", "admin", "--name", "Ops"],
                                     ["token", "list"],
                                     ["token", "revoke", "7b2e8a9c-4f4e-4c53-9d8a-0d1e2f3a4b5c"]])
def test_without_any_key_the_token_commands_say_where_they_looked_and_make_nothing(command, tmp_path):
    elsewhere = tmp_path / "elsewhere"                 # a folder no suite runs from
    elsewhere.mkdir()
    suite = tmp_path / "suite"
    for env, looked_in in ((clean_env(), elsewhere / "var"),
                           (clean_env(CLIENTLOOP_DATA_DIR=str(suite)), suite)):
        result = subprocess.run([sys.executable, "-m", "shared.cli", *command], cwd=elsewhere,
                                env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 1 and result.stdout == ""          # no token, no listing
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        for needed in (str(looked_in), "--data-dir", "CLIENTLOOP_DATA_DIR", "CLIENTLOOP_SECRET_KEY"):
            assert needed in lines[0], lines[0]
        assert not looked_in.exists()                  # no key, no database, no folder
    assert list(elsewhere.iterdir()) == [] and not suite.exists()


def test_pointed_at_the_suites_folder_the_token_is_recorded_there_and_accepted(tmp_path):
    from services.registry.app import build_context, create_app
    suite = tmp_path / "suite"
    data_dir_secret(suite)                             # the suite's first start made its key
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, "-m", "shared.cli", "token", "create", "--role", "staff",
                             "--name", "Ops"], cwd=elsewhere, capture_output=True, text=True, timeout=60,
                            env=clean_env(CLIENTLOOP_DATA_DIR=str(suite), PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr
    assert list(elsewhere.iterdir()) == []
    settings = Settings.from_env({}, data_dir=suite)
    ctx = build_context(settings)
    try:
        response = create_app(context=ctx).test_client().get("/api/v1/clients",
                                                             headers=auth(result.stdout.strip()))
        assert response.status_code == 200, response.get_data(as_text=True)
    finally:
        ctx.database.dispose()
