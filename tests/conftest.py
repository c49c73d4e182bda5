"""Fixtures shared by every test: settings on a temporary data dir, tokens, real servers.

Tests that need PostgreSQL or RabbitMQ use the real servers on 127.0.0.1. Where a server is
missing they skip with the reason, unless ``CLIENTLOOP_REQUIRE_SERVICES=1`` (set by CI), in
which case they fail.
"""
from __future__ import annotations

import os
import socket
import subprocess
import uuid
from datetime import datetime, timezone

import pytest

from shared.auth import issue_token
from shared.config import Settings

# Webhook deliveries from any test may only go to this machine, whatever a test registers
# (checked before any DNS lookup). Loopback stays refused unless a test allows private
# addresses (``webhooks_allow_private``) for its own receivers.
os.environ.setdefault("CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS", "127.0.0.1,localhost,::1")
WEBHOOK_HOSTS = {"CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS": os.environ["CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"]}

PG_HOST, PG_PORT = "127.0.0.1", 5432
RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672
REQUIRE = os.environ.get("CLIENTLOOP_REQUIRE_SERVICES") == "1"
#: The secret key every test signs with: long enough for the production start check (32 bytes).
TEST_SECRET = "clientloop-test-secret-0123456789abcdefghijkl"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_server(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if REQUIRE:
        pytest.fail(message + " and CLIENTLOOP_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(dict(WEBHOOK_HOSTS), data_dir=tmp_path / "data", secret_key=TEST_SECRET,
                             retry_delays_s=(0.05, 0.1), relay_poll_s=0.05)


def make_token(settings: Settings, role: str = "staff", name: str | None = None, days: int = 1) -> str:
    return issue_token(settings.secret_key, name=name or f"{role}-user", role=role, days=days,
                       now=datetime.now(timezone.utc))


@pytest.fixture
def tokens(settings):
    return {role: make_token(settings, role) for role in ("admin", "staff", "analyst")}


def auth(token: str, **headers) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


# -- PostgreSQL -----------------------------------------------------------------------------
@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    need_server("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg
    name = f"clientloop_test_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_urls():
    """Three fresh databases, one per service."""
    need_server("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg
    admin = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
    names = {service: f"clientloop_test_{service}_{uuid.uuid4().hex[:8]}"
             for service in ("registry", "survey", "complaints")}
    with psycopg.connect(admin, autocommit=True) as connection:
        for name in names.values():
            connection.execute(f'CREATE DATABASE "{name}"')
    yield {service: f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}" for service, name in names.items()}
    with psycopg.connect(admin, autocommit=True) as connection:
        for name in names.values():
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- RabbitMQ --------------------------------------------------------------------------------
@pytest.fixture
def rabbitmq_url():
    """A fresh RabbitMQ virtual host for one test, so queues never leak between tests."""
    need_server("RabbitMQ", RABBIT_HOST, RABBIT_PORT)
    vhost = f"clientloop-test-{uuid.uuid4().hex[:10]}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/{vhost}"
    _rabbitmqctl("delete_vhost", vhost)


def _rabbitmqctl(*args: str) -> None:
    try:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.CalledProcessError) as exc:
        message = f"rabbitmqctl {' '.join(args)} failed: {exc}"
        if REQUIRE:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
