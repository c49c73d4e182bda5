"""Each service's migrations build exactly the tables its models describe, on SQLite and PostgreSQL.

A model changed without a migration (or a migration that differs from its model) would let tests
pass on one schema while ``clientloop migrate`` builds another; Alembic's own comparison says.
"""
from __future__ import annotations

import importlib

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from shared.db import make_engine
from shared.migrations import alembic_config, upgrade

SERVICES = ("registry", "survey", "complaints")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    return request.getfixturevalue("postgres_url")


def differences(service: str, url: str) -> list:
    metadata = importlib.import_module(f"services.{service}.adapters.orm").metadata
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def schema(url: str) -> dict[str, tuple[set[str], set[tuple]]]:
    """Each table's columns and indexes (name, columns, included columns)."""
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        return {table: ({column["name"] for column in inspector.get_columns(table)},
                        {(index["name"], tuple(index["column_names"]),
                          tuple(index.get("include_columns") or ()))
                         for index in inspector.get_indexes(table)})
                for table in inspector.get_table_names()}
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
def test_the_migrations_build_what_the_models_describe(service, database_url):
    upgrade(service, database_url)
    assert differences(service, database_url) == []
    tables = schema(database_url)
    columns, indexes = tables["idempotency_key"]
    assert "api_token" in tables
    assert "ix_idempotency_key_created_at" in {name for name, *_rest in indexes}
    assert "committed_at" in columns


@pytest.mark.parametrize("service", SERVICES)
def test_the_latest_migration_goes_down_and_up_again(service, database_url):
    config = alembic_config(service, database_url)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
    upgrade(service, database_url)
    before = schema(database_url)
    command.downgrade(config, "-1")
    assert schema(database_url) != before
    upgrade(service, database_url)
    assert schema(database_url) == before
    assert differences(service, database_url) == []
