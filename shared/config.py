"""Configuration, read from ``CLIENTLOOP_*`` environment variables only.

With none of the URLs set you get the embedded default: SQLite files and Kombu's filesystem
transport under one data folder. Every variable is documented in the README's table.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

SERVICE_NAMES = ("registry", "survey", "complaints")
LANGUAGES = ("zh-CN", "en")
DATABASE_URL_VARIABLES = {
    "registry": "CLIENTLOOP_REGISTRY_DATABASE_URL",
    "survey": "CLIENTLOOP_SURVEY_DATABASE_URL",
    "complaints": "CLIENTLOOP_COMPLAINTS_DATABASE_URL",
}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def _floats(env: Mapping[str, str], name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise SystemExit(f"{name} must be a comma-separated list of seconds, got {raw!r}") from exc


def parse_pairs(name: str, raw: str) -> dict[str, str]:
    """``"KEY=VALUE,KEY=VALUE"`` from the variable ``name`` (blank items ignored)."""
    pairs: dict[str, str] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise SystemExit(f"{name}: expected KEY=VALUE items separated by commas, got {part!r}")
        pairs[key.strip()] = value.strip()
    return pairs


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    secret_key: str
    broker_url: str
    database_urls: Mapping[str, str]
    public_url: str | None = None
    timezone: str = "UTC"
    currency: str = "CNY"
    default_language: str = "zh-CN"
    smtp_url: str | None = None
    smtp_sender: str = "ClientLoop <no-reply@localhost>"
    ratelimit_storage_url: str | None = None
    ratelimit_public: str = "30 per minute"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    token_days: int = 30
    max_body_bytes: int = 1_048_576
    retry_delays_s: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    relay_poll_s: float = 1.0
    outbox_retention_days: int = 7
    inbox_retention_days: int = 30
    idempotency_hours: int = 24
    jobs_interval_s: float = 60.0
    proxy_hops: int = 0
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def embedded_bus(self) -> bool:
        return self.broker_url.startswith("filesystem:")

    def database_url(self, service: str) -> str:
        return self.database_urls[service]

    def with_overrides(self, **changes) -> "Settings":
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, data_dir: str | Path | None = None,
                 **overrides) -> "Settings":
        env = dict(os.environ if env is None else env)
        folder = Path(data_dir or env.get("CLIENTLOOP_DATA_DIR") or "./var").resolve()
        secret = env.get("CLIENTLOOP_SECRET_KEY") or _data_dir_secret(folder)
        broker = env.get("CLIENTLOOP_BROKER_URL") or f"filesystem://{folder / 'bus'}"
        databases = {
            name: env.get(DATABASE_URL_VARIABLES[name]) or f"sqlite:///{folder / (name + '.db')}"
            for name in SERVICE_NAMES
        }
        language = env.get("CLIENTLOOP_DEFAULT_LANGUAGE") or "zh-CN"
        if language not in LANGUAGES:
            raise SystemExit(f"CLIENTLOOP_DEFAULT_LANGUAGE must be one of {LANGUAGES}")
        settings = cls(
            data_dir=folder,
            secret_key=secret,
            broker_url=broker,
            database_urls=databases,
            public_url=(env.get("CLIENTLOOP_PUBLIC_URL") or None),
            timezone=env.get("CLIENTLOOP_TIMEZONE") or "UTC",
            currency=(env.get("CLIENTLOOP_CURRENCY") or "CNY").upper(),
            default_language=language,
            smtp_url=env.get("CLIENTLOOP_SMTP_URL") or None,
            smtp_sender=env.get("CLIENTLOOP_SMTP_SENDER") or "ClientLoop <no-reply@localhost>",
            ratelimit_storage_url=env.get("CLIENTLOOP_RATELIMIT_STORAGE_URL") or None,
            ratelimit_public=env.get("CLIENTLOOP_RATELIMIT_PUBLIC") or "30 per minute",
            host=env.get("CLIENTLOOP_HOST") or "127.0.0.1",
            port=_int(env, "CLIENTLOOP_PORT", 8000),
            log_level=(env.get("CLIENTLOOP_LOG_LEVEL") or "INFO").upper(),
            token_days=_int(env, "CLIENTLOOP_TOKEN_DAYS", 30),
            max_body_bytes=_int(env, "CLIENTLOOP_MAX_BODY_BYTES", 1_048_576),
            retry_delays_s=_floats(env, "CLIENTLOOP_RETRY_DELAYS", (1.0, 5.0, 30.0, 120.0)),
            relay_poll_s=float(env.get("CLIENTLOOP_RELAY_POLL_S") or 1.0),
            outbox_retention_days=_int(env, "CLIENTLOOP_OUTBOX_RETENTION_DAYS", 7),
            inbox_retention_days=_int(env, "CLIENTLOOP_INBOX_RETENTION_DAYS", 30),
            jobs_interval_s=float(env.get("CLIENTLOOP_JOBS_INTERVAL_S") or 60.0),
            proxy_hops=_int(env, "CLIENTLOOP_PROXY_HOPS", 0),
            extra={k: v for k, v in env.items() if k.startswith("CLIENTLOOP_")},
        )
        return replace(settings, **overrides) if overrides else settings


def _data_dir_secret(folder: Path) -> str:
    """The data dir's own secret key, created on first use (embedded default only)."""
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "secret.key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
