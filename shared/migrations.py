"""Alembic migrations per service: ``clientloop migrate SERVICE`` and ``upgrade()``.

Each service keeps its scripts in ``services/<service>/migrations``; their ``env.py`` calls
:func:`run_env` with the service's metadata.
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from shared.db import make_engine, normalise_url

ROOT = Path(__file__).resolve().parents[1]


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
    config.attributes["database_url"] = normalise_url(url)
    config.attributes["service"] = service
    return config


def upgrade(service: str, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, url), revision)


def run_env(metadata: MetaData) -> None:
    """Body of every service's ``migrations/env.py`` (online mode only)."""
    from alembic import context

    config = context.config
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    connection = config.attributes.get("connection")
    engine = None
    if connection is None:
        engine = make_engine(url)
        connection = engine.connect()
    try:
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=connection.dialect.name == "sqlite",
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        if connection.in_transaction():
            connection.commit()
    finally:
        if engine is not None:
            connection.close()
            engine.dispose()


def new_revision(service: str, message: str) -> None:
    """Developer helper: autogenerate the next revision from the models against a scratch
    SQLite database (``python -m shared.migrations SERVICE "message"``)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/scratch.db"
        upgrade(service, url)
        command.revision(alembic_config(service, url), message=message, autogenerate=True)


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3:
        raise SystemExit('usage: python -m shared.migrations SERVICE "message"')
    new_revision(sys.argv[1], sys.argv[2])
