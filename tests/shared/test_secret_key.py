"""The secret key signs every token: a weak one must stop the suite before it serves anything.

A production start (a database or broker URL set) without ``CLIENTLOOP_SECRET_KEY``, a key
shorter than 32 bytes, a key copied from the project's own examples, or an empty ``secret.key``
is refused with a one-line reason and no traceback. The embedded default's own key is created
atomically, so processes starting together on a fresh data dir all sign with the same key, and
no token signed with an empty key is ever accepted.
"""
from __future__ import annotations

import multiprocessing
import os
import re
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from itsdangerous import URLSafeSerializer

from shared import config
from shared.auth import InvalidToken, issue_token, verify_token
from shared.config import EXAMPLE_SECRETS, Settings, data_dir_secret
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
PG_URL = "postgresql://postgres@127.0.0.1:5432/clientloop_unused"


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CLIENTLOOP_") or key == "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"}
    return {**env, **extra}


def refusal(env: dict[str, str], tmp_path: Path, **overrides) -> str:
    with pytest.raises(SystemExit) as stopped:
        Settings.from_env(env, data_dir=tmp_path / "data", **overrides)
    message = str(stopped.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("variable", ["CLIENTLOOP_REGISTRY_DATABASE_URL", "CLIENTLOOP_SURVEY_DATABASE_URL",
                                      "CLIENTLOOP_COMPLAINTS_DATABASE_URL", "CLIENTLOOP_BROKER_URL"])
def test_a_production_start_without_a_key_is_refused_and_makes_no_key_file(variable, tmp_path):
    url = "amqp://guest:guest@127.0.0.1:5672/" if variable == "CLIENTLOOP_BROKER_URL" else PG_URL
    message = refusal({variable: url}, tmp_path)
    assert "CLIENTLOOP_SECRET_KEY is not set" in message
    assert not (tmp_path / "data" / "secret.key").exists()
    # with the key set, the same configuration starts
    assert Settings.from_env({variable: url, "CLIENTLOOP_SECRET_KEY": TEST_SECRET},
                             data_dir=tmp_path / "data").secret_key == TEST_SECRET


@pytest.mark.parametrize("key", ["short", "x" * 31, "é" * 15, "   " + "y" * 20 + "   "])
def test_a_key_shorter_than_32_bytes_is_refused(key, tmp_path):
    assert "at least 32 bytes" in refusal({"CLIENTLOOP_SECRET_KEY": key}, tmp_path)
    assert "at least 32 bytes" in refusal({"CLIENTLOOP_SECRET_KEY": key, "CLIENTLOOP_BROKER_URL": "amqp://x/"},
                                          tmp_path)
    assert "at least 32 bytes" in refusal({}, tmp_path, secret_key=key)
    settings = Settings.from_env({}, data_dir=tmp_path / "data", secret_key=TEST_SECRET)
    with pytest.raises(SystemExit):
        settings.with_overrides(secret_key=key)
    assert Settings.from_env({"CLIENTLOOP_SECRET_KEY": "z" * 32}, data_dir=tmp_path).secret_key == "z" * 32


def _documented_example_keys() -> set[str]:
    """Every literal CLIENTLOOP_SECRET_KEY value shown in deploy/, the docs and the README."""
    pattern = re.compile(r"CLIENTLOOP_SECRET_KEY\s*[:=]\s*[\"']?([A-Za-z0-9][^\"'\s`|]*)")
    files = [*(ROOT / "deploy").rglob("*"), *(ROOT / "docs").rglob("*.md"), ROOT / "README.md",
             ROOT / "docker-compose.yml", *(ROOT / "examples").rglob("*")]
    found = set()
    for path in files:
        if path.is_file():
            found.update(pattern.findall(path.read_text(errors="replace")))
    return found


def test_the_projects_own_example_keys_are_refused(tmp_path):
    documented = _documented_example_keys()
    assert "change-me-to-a-long-random-string" in documented      # deploy/kubernetes
    for key in documented | EXAMPLE_SECRETS:
        message = refusal({"CLIENTLOOP_SECRET_KEY": key, "CLIENTLOOP_BROKER_URL": "amqp://x/"}, tmp_path)
        assert "example value" in message or "at least 32 bytes" in message, key
    assert "example value" in refusal({"CLIENTLOOP_SECRET_KEY": "change-me-to-a-long-random-string"}, tmp_path)


@pytest.mark.parametrize("content", ["", "\n", "too-short-key\n"])
def test_an_empty_or_short_key_file_is_refused_not_used_or_replaced(content, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "secret.key").write_text(content)
    message = refusal({}, tmp_path)
    assert "secret.key" in message and "delete it" in message
    assert (data_dir / "secret.key").read_text() == content      # left for the operator to look at


def test_processes_started_together_on_a_fresh_data_dir_share_one_key(tmp_path):
    context = multiprocessing.get_context("fork")
    for round_ in range(5):
        folder = tmp_path / f"suite-{round_}"
        with context.Pool(8) as pool:
            keys = pool.map(data_dir_secret, [folder] * 16)
        assert len(set(keys)) == 1 and len(keys[0]) >= 32
        assert (folder / "secret.key").read_text() == keys[0]
        assert [path.name for path in folder.iterdir()] == ["secret.key"]   # no temporary file left


def test_a_key_file_being_written_is_never_read_empty(tmp_path, monkeypatch):
    """Whoever creates the key takes its time writing it; the others must still get the key."""
    real_fdopen = os.fdopen
    barrier = threading.Barrier(8)

    def slow_fdopen(*args, **kwargs):
        handle = real_fdopen(*args, **kwargs)
        threading.Event().wait(0.2)
        return handle

    monkeypatch.setattr(config.os, "fdopen", slow_fdopen)
    keys, errors = [], []

    def start():
        barrier.wait()
        try:
            keys.append(data_dir_secret(tmp_path / "data"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == [] and len(keys) == 8
    assert len(set(keys)) == 1 and len(keys[0]) >= 32


def test_a_token_signed_with_an_empty_key_is_refused():
    now = datetime.now(timezone.utc)
    payload = {"jti": "00000000-0000-4000-8000-000000000000", "sub": "mallory", "role": "admin",
               "exp": int(now.timestamp()) + 3600}
    forged = URLSafeSerializer("", salt="clientloop.api-token.v1").dumps(payload)
    for key in ("", "   "):
        with pytest.raises(InvalidToken):
            verify_token(key, forged, now=now)
        with pytest.raises(ValueError):
            issue_token(key, name="mallory", role="admin", days=1, now=now)
    with pytest.raises(InvalidToken):
        verify_token(TEST_SECRET, forged, now=now)


def _start(entry: str) -> None:
    """What gunicorn calls: a service's ``create_app()`` or the embedded ``wsgi()``."""
    if entry == "embedded":
        from shared.embedded import wsgi
        wsgi()
    else:
        from shared.runtime import service_module
        service_module(entry).create_app()


@pytest.mark.parametrize("entry", ["registry", "survey", "complaints", "embedded"])
def test_every_web_entry_point_refuses_a_weak_key(entry, monkeypatch, tmp_path):
    for name in [key for key in os.environ
                 if key.startswith("CLIENTLOOP_") and key != "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CLIENTLOOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CLIENTLOOP_REGISTRY_DATABASE_URL", PG_URL)
    with pytest.raises(SystemExit, match="CLIENTLOOP_SECRET_KEY is not set"):
        _start(entry)
    monkeypatch.setenv("CLIENTLOOP_SECRET_KEY", "change-me-to-a-long-random-string")
    with pytest.raises(SystemExit, match="example value"):
        _start(entry)


@pytest.mark.parametrize("command", [["serve", "registry"], ["relay", "registry"], ["consume", "survey"],
                                     ["migrate", "complaints"], ["token", "create", "--role", "admin",
                                                                 "--name", "ops"]])
def test_the_command_line_refuses_in_one_line_without_a_traceback(command, tmp_path):
    env = clean_env(CLIENTLOOP_BROKER_URL="amqp://guest:guest@127.0.0.1:5672/",
                    CLIENTLOOP_REGISTRY_DATABASE_URL=PG_URL, CLIENTLOOP_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run([sys.executable, "-m", "shared.cli", *command], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "CLIENTLOOP_SECRET_KEY is not set" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "secret.key").exists()
