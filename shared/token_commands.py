"""``clientloop token create | list | revoke`` and ``console link``: what the command line does
with every service database.

The command line writes to each service database it is configured for: in production the ones
whose ``CLIENTLOOP_<SERVICE>_DATABASE_URL`` is set (run it with the services' own environment);
in the embedded default all three SQLite files of the data dir, brought to the latest migration
first as ``clientloop up`` would. A production database must already be migrated.

* ``create`` records the token everywhere before printing it: if a database cannot be reached
  (or is not migrated) the command fails naming it, writes nowhere and prints no token;
* ``revoke`` revokes in every database it can reach, then fails naming any it could not reach or
  is not configured for (those services still accept the token);
* ``list`` merges the copies (``shared.tokens.merge_records``).
"""
from __future__ import annotations

import uuid
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Iterator

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from shared.auth import InvalidToken, issue, token_id
from shared.config import DATABASE_URL_VARIABLES, Settings, is_production
from shared.db import Database, define_platform_tables, is_postgres, new_metadata, normalise_url
from shared.tokens import TokenRecord, list_tokens, merge_records, record_token, revoke_token

API_TOKEN = define_platform_tables(new_metadata()).api_token
CONNECT_TIMEOUT_S = 5


class TokenStoreError(Exception):
    """A service database could not be read or written; the message names it."""


def configured_databases(settings: Settings) -> dict[str, str]:
    """Service → database URL for every database the command line is configured for."""
    from shared.runtime import available_services
    services = available_services()
    if not is_production(settings.extra):
        return {service: settings.database_url(service) for service in services}
    return {service: settings.database_url(service) for service in services
            if settings.extra.get(DATABASE_URL_VARIABLES[service])}


def missing_databases(settings: Settings) -> list[str]:
    """The variables of the service databases a production command line is not configured for."""
    from shared.runtime import available_services
    configured = configured_databases(settings)
    return [DATABASE_URL_VARIABLES[service] for service in available_services() if service not in configured]


@contextmanager
def _token_table(service: str, url: str, *, embedded: bool) -> Iterator[Database]:
    try:
        if embedded:
            from shared.migrations import upgrade
            upgrade(service, url)
        kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}} if is_postgres(normalise_url(url)) else {}
        database = Database(url, **kwargs)
    except SQLAlchemyError as exc:
        raise TokenStoreError(f"the {service} database cannot be reached: {_reason(exc)}") from exc
    try:
        try:
            migrated = inspect(database.engine).has_table(API_TOKEN.name)
        except SQLAlchemyError as exc:
            raise TokenStoreError(f"the {service} database cannot be reached: {_reason(exc)}") from exc
        if not migrated:
            raise TokenStoreError(f"the {service} database has no {API_TOKEN.name} table; "
                                  f"run 'clientloop migrate {service}' first")
        yield database
    finally:
        database.dispose()


@contextmanager
def _named(service: str) -> Iterator[None]:
    """A database error while reading or writing, as a message naming the service."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise TokenStoreError(f"the {service} database failed: {_reason(exc)}") from exc


def _reason(error: SQLAlchemyError) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def create(settings: Settings, *, name: str, role: str, days: int, now: datetime) -> str:
    token, principal = issue(settings.secret_key, name=name, role=role, days=days, now=now)
    embedded = not is_production(settings.extra)
    with ExitStack() as opened:   # every database reachable and migrated before any is written
        databases = {service: opened.enter_context(_token_table(service, url, embedded=embedded))
                     for service, url in configured_databases(settings).items()}
        for service, database in databases.items():
            with _named(service):
                record_token(database, API_TOKEN, principal, now=now)
    return token


def create_link(settings: Settings, *, name: str, role: str, now: datetime, public_url: str) -> str:
    """A one-time console sign-in link (``shared.sign_in_links``), its id recorded in every
    database like a token's (all reachable, or none written and no link printed)."""
    from shared.sign_in_links import LINK_SERVICE, issue_link, link_url
    if LINK_SERVICE not in configured_databases(settings):
        raise TokenStoreError(f"{DATABASE_URL_VARIABLES[LINK_SERVICE]} is not set: a sign-in link "
                              f"is used up in the {LINK_SERVICE} database")
    link_token, principal = issue_link(settings.secret_key, name=name, role=role, now=now)
    embedded = not is_production(settings.extra)
    with ExitStack() as opened:
        databases = {service: opened.enter_context(_token_table(service, url, embedded=embedded))
                     for service, url in configured_databases(settings).items()}
        for service, database in databases.items():
            with _named(service):
                record_token(database, API_TOKEN, principal, now=now)
    return link_url(public_url, link_token)


def listing(settings: Settings) -> list[dict]:
    embedded = not is_production(settings.extra)
    copies: dict[str, list[TokenRecord]] = {}
    for service, url in configured_databases(settings).items():
        with _token_table(service, url, embedded=embedded) as database, _named(service):
            copies[service] = list_tokens(database, API_TOKEN)
    return merge_records(copies)


def resolve_id(settings: Settings, id_or_token: str) -> str:
    """A token id as given, or the id of a token signed with this installation's key."""
    try:
        return str(uuid.UUID(id_or_token))
    except ValueError:
        pass
    try:
        return token_id(settings.secret_key, id_or_token.strip())
    except InvalidToken:
        raise ValueError(f"{id_or_token[:40]!r} is neither a token id nor a token signed with this "
                         "installation's key") from None


def revoke(settings: Settings, id_or_token: str, *, now: datetime) -> tuple[str, list[str], bool]:
    """Revoke everywhere reachable: (token id, services revoked in, whether any had recorded it).

    Raises :class:`TokenStoreError` naming what could not be reached, after revoking elsewhere.
    """
    revoked_id = resolve_id(settings, id_or_token)
    embedded = not is_production(settings.extra)
    done, failures, known = [], [], False
    for service, url in configured_databases(settings).items():
        try:
            with _token_table(service, url, embedded=embedded) as database, _named(service):
                known = revoke_token(database, API_TOKEN, revoked_id, now=now) or known
            done.append(service)
        except TokenStoreError as exc:
            failures.append(str(exc))
    failures += [f"{variable} is not set, so that service still accepts the token"
                 for variable in missing_databases(settings)]
    if failures:
        where = ", ".join(done) or "no database"
        raise TokenStoreError(f"token {revoked_id} revoked in {where} only; " + "; ".join(failures))
    return revoked_id, done, known
