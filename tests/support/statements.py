"""Counting the SQL statements a request runs, and finding the subqueries its plans run per row.

    with statements(ctx.database.engine) as seen:
        client.get("/api/v1/clients")          # read the whole body inside the block
    len(seen)                                  # statements sent, as ``Statement(sql, parameters)``
    per_row_subqueries(ctx.database.engine, seen)   # [] when no plan runs a subquery per row
    plan(ctx.database.engine, seen[0])               # the database's plan of one, as lines

:func:`assert_fixed_statements` grows the data from a small size to a large one and checks that a
request runs as many statements at both, none of them a subquery per row.

Not counted, as they do not depend on the data: transaction control (``BEGIN``, ``COMMIT``,
``ROLLBACK``, savepoints), ``PRAGMA``, the pool's ``SELECT 1`` pings, and the re-read of the
revoked tokens (``FROM api_token``), which a request makes or not depending on the time since
the last one (``shared.tokens.RevocationList``).

:func:`per_row_subqueries` asks the database for the plan of each ``SELECT`` seen, with its
parameters: on SQLite ``EXPLAIN QUERY PLAN`` marks a subquery run for every row of the outer
query ``CORRELATED``; on PostgreSQL ``EXPLAIN`` shows it as a ``SubPlan`` (an ``InitPlan``, or a
``SubPlan`` that the plan uses ``hashed``, runs once).
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Callable, Iterator, NamedTuple

from sqlalchemy import event

NOT_COUNTED = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA|SELECT 1\s*$)",
                         re.IGNORECASE)
REVOCATION_LIST = re.compile(r"\bFROM api_token\b", re.IGNORECASE)
_READS = re.compile(r"\s*(SELECT|WITH)\b", re.IGNORECASE)


class Statement(NamedTuple):
    sql: str
    parameters: Any


@contextmanager
def statements(engine) -> Iterator[list[Statement]]:
    """The statements ``engine`` sends while the block runs (see the module doc)."""
    seen: list[Statement] = []

    def record(_connection, _cursor, sql, parameters, _context, _executemany):
        if not NOT_COUNTED.match(sql) and not REVOCATION_LIST.search(sql):
            seen.append(Statement(sql, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def assert_fixed_statements(engine, grow: Callable[[int], None], request: Callable[[], Any], *,
                            sizes: tuple[int, int], label: str,
                            before_count: Callable[[], None] | None = None) -> None:
    """``request()`` (a test client's call, answering 200) runs as many statements once the data
    has grown from the small size of ``sizes`` to the large one (``grow(size)``), and none of
    those at the large size runs a subquery per row. It is sent once at the small size before
    counting, as the first request may fill caches; ``before_count`` runs before each request,
    outside the count (to drop what the service keeps in memory, say)."""
    small_size, large_size = sizes

    def count() -> tuple[int, list[Statement]]:
        if before_count is not None:
            before_count()
        with statements(engine) as seen:
            answer = request()
            body = answer.get_data(as_text=True)  # read as it streams, inside the count
        assert answer.status_code == 200, body
        return len(seen), seen

    grow(small_size)
    count()  # the first request may fill caches
    small, _ = count()
    grow(large_size)
    large, seen = count()

    assert large == small, f"{label}: {small} statements for {small_size}, {large} for {large_size}"
    assert per_row_subqueries(engine, seen) == []


def per_row_subqueries(engine, seen: list[Statement]) -> list[str]:
    """``"<plan line> in <statement>"`` for each subquery a plan of ``seen`` runs per row."""
    found = []
    for statement in seen:
        if not _READS.match(statement.sql) or isinstance(statement.parameters, list):
            continue
        for line in _per_row(engine.dialect.name, plan(engine, statement)):
            found.append(f"{line.strip()} in {' '.join(statement.sql.split())[:300]}")
    return found


def plan(engine, statement: Statement, *, avoid_seq_scans: bool = False) -> list[str]:
    """The lines of the database's plan for ``statement`` (``EXPLAIN QUERY PLAN`` on SQLite,
    ``EXPLAIN`` on PostgreSQL). ``avoid_seq_scans`` (PostgreSQL): plan as if scanning a whole
    table cost the earth, so a small test table is read the way a large one would be, through
    an index where one fits."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if avoid_seq_scans and engine.dialect.name == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
        lines = _plan(engine.dialect.name, cursor, statement.sql, statement.parameters)
        cursor.close()
        raw.rollback()
    finally:
        raw.close()
    return lines


def _plan(dialect: str, cursor, sql: str, parameters) -> list[str]:
    if dialect == "sqlite":
        cursor.execute("EXPLAIN QUERY PLAN " + sql, parameters or ())
        return [row[-1] for row in cursor.fetchall()]
    cursor.execute("EXPLAIN " + sql, parameters or None)
    return [row[0] for row in cursor.fetchall()]


def _per_row(dialect: str, plan: list[str]) -> list[str]:
    """The lines of ``plan`` that name a subquery run per row of its outer query."""
    if dialect == "sqlite":
        return [line for line in plan if "CORRELATED" in line]
    hashed = set(_HASHED.findall("\n".join(plan)))  # a hashed SubPlan is run once, then probed
    return [line for line in plan
            if (match := _SUBPLAN.match(line)) and match.group(1) not in hashed]


_SUBPLAN = re.compile(r"\s*(?:->\s*)?SubPlan (\d+)")
_HASHED = re.compile(r"hashed SubPlan (\d+)")
