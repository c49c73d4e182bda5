"""Configuration, read from ``CLIENTLOOP_*`` environment variables only.

With none of the URLs set you get the embedded default: SQLite files and Kombu's filesystem
transport under one data folder. Every variable is documented in the README's table.

The secret key signs every token, so a start is refused (``SystemExit`` with a one-line reason)
when the key is weak: missing in production (any database or broker URL set), shorter than
:data:`MIN_SECRET_BYTES`, or one of the project's own example values. The embedded default keeps
its key in ``<data dir>/secret.key``, created atomically on first use by the suite (``up`` and
the services); the token commands never make one (``create_key=False``).
"""
from __future__ import annotations

import os
import re
import secrets
import tempfile
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
PRODUCTION_VARIABLES = (*DATABASE_URL_VARIABLES.values(), "CLIENTLOOP_BROKER_URL")
MIN_SECRET_BYTES = 32
KEY_FILE = "secret.key"
MAX_TOKEN_DAYS = 365
#: The longest a web request may run: gunicorn's worker ``timeout``, and the lease of an
#: ``Idempotency-Key`` reservation (``shared.web.idempotency``).
REQUEST_TIMEOUT_S = 60
#: Keys shown in the project's own files (deploy/, docs): public, so never a real key. Shorter
#: examples are refused for their length; tests check every documented key is refused.
EXAMPLE_SECRETS = frozenset({"change-me-to-a-long-random-string"})
#: Seconds between a webhook delivery's attempts (about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
WEBHOOK_RETRY_DELAYS_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
SECRET_ADVICE = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"


def web_threads(env: Mapping[str, str] | None = None) -> int:
    """Request threads per gunicorn worker (``CLIENTLOOP_THREADS``, default 4)."""
    return int((os.environ if env is None else env).get("CLIENTLOOP_THREADS", "4"))


def background_nice(env: Mapping[str, str] | None = None) -> int:
    """How much lower ``clientloop up`` runs its background work (relays, consumers, periodic
    jobs) than its web server, in nice steps (``CLIENTLOOP_BACKGROUND_NICE``, 0–19, default
    10; 0: the same priority)."""
    name = "CLIENTLOOP_BACKGROUND_NICE"
    value = _int(os.environ if env is None else env, name, 10)
    if not 0 <= value <= 19:
        raise SystemExit(f"{name} must be between 0 and 19, got {value}")
    return value


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


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SystemExit(f"{name} must be 1 or 0, got {raw!r}")


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise SystemExit(f"{name} must be more than 0, got {raw!r}")
    return value


def _hosts(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    """A comma-separated list of host names or addresses, lower-cased, IPv6 without brackets;
    None when the variable is not set (no list: any public host)."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    return tuple(part.strip().lower().strip("[]") for part in raw.split(",") if part.strip())


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
    outbox_retention_days: int = 35
    inbox_retention_days: int = 30
    idempotency_hours: int = 24
    jobs_interval_s: float = 60.0
    proxy_hops: int = 0
    #: Who is asking, on the pages a client sees (survey form, thanks, unavailable links).
    org_name: str | None = None
    org_logo_url: str | None = None
    org_contact: str | None = None
    #: Webhooks (``shared.webhooks``): http and private addresses allowed (development, tests);
    #: the only hosts deliveries may go to, when set; the delays between attempts; the limit of
    #: one attempt; how long an endpoint may fail before it is disabled; how long finished
    #: deliveries are kept.
    webhooks_allow_private: bool = False
    webhooks_allow_hosts: tuple[str, ...] | None = None
    webhooks_retry_delays: tuple[float, ...] = WEBHOOK_RETRY_DELAYS_S
    webhooks_timeout_s: float = 10.0
    webhooks_disable_after_days: float = 5.0
    webhooks_delivery_retention_days: int = 30
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def embedded_bus(self) -> bool:
        return self.broker_url.startswith("filesystem:")

    def database_url(self, service: str) -> str:
        return self.database_urls[service]

    def with_overrides(self, **changes) -> "Settings":
        if "secret_key" in changes:
            check_secret_key(changes["secret_key"], source="the secret key")
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, data_dir: str | Path | None = None,
                 create_key: bool = True, **overrides) -> "Settings":
        """``create_key=False``: without ``CLIENTLOOP_SECRET_KEY``, use the data folder's key only
        if it exists (the command line's token commands); only a suite makes one."""
        env = dict(os.environ if env is None else env)
        folder = data_folder(env, data_dir)
        secret = overrides.pop("secret_key", None) or env.get("CLIENTLOOP_SECRET_KEY") \
            or _embedded_secret(folder, production=is_production(env), create=create_key)
        check_secret_key(secret, source="CLIENTLOOP_SECRET_KEY")
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
            token_days=_token_days(env),
            max_body_bytes=_int(env, "CLIENTLOOP_MAX_BODY_BYTES", 1_048_576),
            retry_delays_s=_floats(env, "CLIENTLOOP_RETRY_DELAYS", (1.0, 5.0, 30.0, 120.0)),
            relay_poll_s=float(env.get("CLIENTLOOP_RELAY_POLL_S") or 1.0),
            outbox_retention_days=_int(env, "CLIENTLOOP_OUTBOX_RETENTION_DAYS", 35),
            inbox_retention_days=_int(env, "CLIENTLOOP_INBOX_RETENTION_DAYS", 30),
            jobs_interval_s=float(env.get("CLIENTLOOP_JOBS_INTERVAL_S") or 60.0),
            proxy_hops=_int(env, "CLIENTLOOP_PROXY_HOPS", 0),
            org_name=_text(env, "CLIENTLOOP_ORG_NAME", 200),
            org_logo_url=logo_url(env.get("CLIENTLOOP_ORG_LOGO_URL")),
            org_contact=_text(env, "CLIENTLOOP_ORG_CONTACT", 300),
            webhooks_allow_private=_flag(env, "CLIENTLOOP_WEBHOOKS_ALLOW_PRIVATE"),
            webhooks_allow_hosts=_hosts(env, "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"),
            webhooks_retry_delays=_floats(env, "CLIENTLOOP_WEBHOOKS_RETRY_DELAYS",
                                          WEBHOOK_RETRY_DELAYS_S),
            webhooks_timeout_s=_positive(env, "CLIENTLOOP_WEBHOOKS_TIMEOUT_S", 10.0),
            webhooks_disable_after_days=_positive(env, "CLIENTLOOP_WEBHOOKS_DISABLE_AFTER_DAYS", 5.0),
            webhooks_delivery_retention_days=_int(env, "CLIENTLOOP_WEBHOOKS_RETENTION_DAYS", 30),
            extra={k: v for k, v in env.items() if k.startswith("CLIENTLOOP_")},
        )
        return replace(settings, **overrides) if overrides else settings


def data_folder(env: Mapping[str, str], data_dir: str | Path | None = None) -> Path:
    """The data folder: ``data_dir`` (``--data-dir``), else ``CLIENTLOOP_DATA_DIR``, else ``./var``."""
    return Path(data_dir or env.get("CLIENTLOOP_DATA_DIR") or "./var").resolve()


def _text(env: Mapping[str, str], name: str, max_length: int) -> str | None:
    """A free text shown to clients: trimmed, on one line, at most ``max_length`` characters."""
    value = " ".join((env.get(name) or "").split())
    if len(value) > max_length:
        raise SystemExit(f"{name} must be at most {max_length} characters")
    return value or None


_LOGO_ORIGIN = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?", re.IGNORECASE)


def logo_url(raw: str | None) -> str | None:
    """``CLIENTLOOP_ORG_LOGO_URL``: an ``https://`` URL or a path on this site (``/…``).

    Anything else (``http:``, ``javascript:``, ``data:``, ``//host``, a backslash, spaces or
    control characters) is refused at start. The URL's origin goes into the pages'
    Content-Security-Policy, so its host may hold letters, digits, dots and hyphens only.
    """
    value = (raw or "").strip()
    if not value:
        return None
    problem = "must be an https:// URL or a path starting with / (e.g. /assets/logo.png)"
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 or char in '\\"<>`'
           for char in value):
        raise SystemExit(f"CLIENTLOOP_ORG_LOGO_URL {problem}; it contains a character not allowed")
    if value.startswith("/") and not value.startswith("//"):
        return value
    origin = _LOGO_ORIGIN.match(value)
    if origin is None or value[origin.end():origin.end() + 1] not in ("/", "?", ""):
        raise SystemExit(f"CLIENTLOOP_ORG_LOGO_URL {problem}, got {value!r}")
    return value


def is_production(env: Mapping[str, str]) -> bool:
    """Any database or broker URL set: the services run apart and must share one key."""
    return any(env.get(name) for name in PRODUCTION_VARIABLES)


def check_secret_key(secret: str, *, source: str) -> None:
    """Refuse (``SystemExit``, one line) a key that would let anyone forge tokens."""
    if secret.strip() in EXAMPLE_SECRETS:
        raise SystemExit(f"{source} is an example value from the documentation; {SECRET_ADVICE}")
    if len(secret.strip().encode()) < MIN_SECRET_BYTES:
        raise SystemExit(f"{source} must be at least {MIN_SECRET_BYTES} bytes long; {SECRET_ADVICE}")


def _token_days(env: Mapping[str, str]) -> int:
    days = _int(env, "CLIENTLOOP_TOKEN_DAYS", 30)
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise SystemExit(f"CLIENTLOOP_TOKEN_DAYS must be from 1 to {MAX_TOKEN_DAYS}, got {days}")
    return days


def _embedded_secret(folder: Path, *, production: bool, create: bool = True) -> str:
    if production:
        raise SystemExit("CLIENTLOOP_SECRET_KEY is not set: with a database or broker URL set, every "
                         f"service and replica needs the same key of at least {MIN_SECRET_BYTES} bytes; "
                         + SECRET_ADVICE)
    if not create and not (folder / KEY_FILE).exists():
        raise SystemExit(f"no secret key: CLIENTLOOP_SECRET_KEY is not set and {folder} has no "
                         f"{KEY_FILE} (the first 'clientloop up' there makes one); point at the "
                         "suite's data folder with --data-dir DIR or CLIENTLOOP_DATA_DIR, or set "
                         "CLIENTLOOP_SECRET_KEY to its key")
    return data_dir_secret(folder)


def data_dir_secret(folder: Path) -> str:
    """The data dir's own secret key (embedded default only), created on first use.

    Created atomically: the key is written and synced to a temporary file that is then hard-linked
    to ``secret.key``, which fails if the name exists. A reader never sees a partial or empty
    file, and processes racing on a fresh data dir all end with the one key that won. An
    existing file that is empty or too short is refused, never replaced: tokens may have been
    signed with it, and replacing a file others are reading is a race; delete it and start again.
    """
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / KEY_FILE
    try:
        return _checked_key_file(key_file)
    except FileNotFoundError:
        pass
    fd, temporary = tempfile.mkstemp(prefix=".secret.key.", dir=folder)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, key_file)
        except FileExistsError:  # another process linked its key first: use that one
            pass
    finally:
        os.unlink(temporary)
    return _checked_key_file(key_file)


def _checked_key_file(key_file: Path) -> str:
    key = key_file.read_text().strip()
    if len(key.encode()) < MIN_SECRET_BYTES:
        raise SystemExit(f"{key_file} is empty or shorter than {MIN_SECRET_BYTES} bytes (left by an "
                         "interrupted start?); delete it and start again (tokens signed with it stop "
                         "working), or set CLIENTLOOP_SECRET_KEY")
    return key
