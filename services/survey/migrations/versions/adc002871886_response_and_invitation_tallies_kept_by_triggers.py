"""response and invitation tallies per survey and UTC day, kept by database triggers

Revision ID: adc002871886
Revises: 6e59aa8406f6
Create Date: 2026-12-15 09:00:00.000000

``response_tally`` and ``invitation_tally`` hold, per survey, UTC day and slot, the counts and
sums results are computed from; triggers on ``survey_response`` and ``invitation`` keep them
right whatever writes the rows (the service, an import, a restore, plain SQL). On PostgreSQL:
plpgsql functions; inserts and deletes are counted once per statement (transition tables, so a
bulk ``INSERT … SELECT`` or ``COPY`` costs one grouped upsert), updates per row when a counted
column changes, ``TRUNCATE`` empties the tally. ``slot`` is the writing backend's
``pg_backend_pid() % 64``: concurrent writers of one survey and day mostly update different rows
instead of queueing on one (a slot's own counts may go below zero when a row is deleted by
another backend than the one that inserted it; only their sum means anything). On SQLite: row
triggers, slot 0. ``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n`` adds under
concurrency without losing counts.

A response inserted without its ``nps``, ``csat`` or ``ces`` (by plain SQL) has them filled from
its answers to the survey's first question of that type (an integral JSON number; anything else
is no answer), before it is counted: a ``BEFORE`` trigger on PostgreSQL, an ``AFTER`` trigger
updating the row on SQLite (the tally triggers count the update as a change). The same on
update, for a column left ``NULL``.

Upgrade: responses stored without those columns are filled in, then both tallies are counted
from the rows, then the triggers are created; on PostgreSQL both tables are locked against
writes (``SHARE ROW EXCLUSIVE``) meanwhile, so no row escapes the tally.

On SQLite a later migration that rebuilds ``survey_response`` or ``invitation`` (Alembic's
batch mode copies the table) drops their triggers: it must create them again (the statements
below) and recount.
"""
from alembic import op
import sqlalchemy as sa


revision = 'adc002871886'
down_revision = '6e59aa8406f6'
branch_labels = None
depends_on = None

SLOTS = 64
NPS = range(0, 11)
CSAT = range(1, 6)
FIRST = ('nps', 'csat', 'ces')


def _bucket(column: str, low: int, high: int) -> str:
    """An answer beyond the scale counts at its end."""
    return (f"CASE WHEN {column} <= {low} THEN {low} WHEN {column} >= {high} THEN {high} "
            f"ELSE {column} END")


def _counted(condition: str) -> str:
    return f"CASE WHEN {condition} THEN sign ELSE 0 END"


RESPONSE_SUMS = [
    ('responses', 'sign'),
    ('scored', _counted('score IS NOT NULL')),
    ('score_cents', 'sign * CAST(round(score * 100) AS INTEGER)'),
    *((f'nps_{value}', _counted(f"{_bucket('nps', 0, 10)} = {value}")) for value in NPS),
    *((f'csat_{value}', _counted(f"{_bucket('csat', 1, 5)} = {value}")) for value in CSAT),
    ('ces_answered', _counted('ces IS NOT NULL')),
    ('ces_sum', 'sign * ces'),
]
RESPONSE_COLUMNS = ('survey_id', 'submitted_at', 'score', 'nps', 'csat', 'ces')
INVITATION_SUMS = [
    ('invitations', 'sign'),
    ('answered', _counted('answered_at IS NOT NULL')),
]
INVITATION_COLUMNS = ('survey_id', 'created_at', 'answered_at')
# table counted: (tally, time column, row columns, sums)
TALLIES = {
    'survey_response': ('response_tally', 'submitted_at', RESPONSE_COLUMNS, RESPONSE_SUMS),
    'invitation': ('invitation_tally', 'created_at', INVITATION_COLUMNS, INVITATION_SUMS),
}


def _day(dialect: str, column: str) -> str:
    if dialect == 'postgresql':
        return f"CAST(timezone('UTC', {column}) AS DATE)"
    # Stored as UTC text 'YYYY-MM-DD HH:MM:SS…': its first ten characters are the day, the
    # very order in which periods compare it.
    return f"substr({column}, 1, 10)"


def _slot(dialect: str) -> str:
    return f"CAST(pg_backend_pid() % {SLOTS} AS SMALLINT)" if dialect == 'postgresql' else '0'


def _upsert(dialect: str, table: str, source: str, slot: str | None = None) -> str:
    """Add the signed rows of ``source`` (``sign`` and the table's counted columns) to the
    table's tally, grouped by survey and day (in that order: concurrent writers lock tally rows
    in the same order)."""
    tally, time_column, _columns, sums = TALLIES[table]
    day = _day(dialect, time_column)
    names = ', '.join(name for name, _sum in sums)
    totals = ', '.join(f"coalesce(sum({expression}), 0)" for _name, expression in sums)
    added = ', '.join(f"{name} = {tally}.{name} + excluded.{name}" for name, _sum in sums)
    order = f" ORDER BY survey_id, {day}" if dialect == 'postgresql' else ''
    return (f"INSERT INTO {tally} (survey_id, day, slot, {names}) "
            f"SELECT survey_id, {day}, {slot or _slot(dialect)}, {totals} "
            f"FROM ({source}) AS changed_rows WHERE true GROUP BY survey_id, {day}{order} "
            f"ON CONFLICT (survey_id, day, slot) DO UPDATE SET {added}")


def _rows(table: str, sign: str, row: str | None = None) -> str:
    columns = TALLIES[table][2]
    if row is None:
        return f"SELECT {sign} AS sign, {', '.join(columns)}"
    return f"SELECT {sign} AS sign, " + ', '.join(f"{row}.{name} AS {name}" for name in columns)


def _changed(table: str, old: str, new: str) -> str:
    return ' OR '.join(f"{old}.{name} IS DISTINCT FROM {new}.{name}" for name in TALLIES[table][2])


# -- PostgreSQL --------------------------------------------------------------------------------

PG_FIRST_ANSWER = """
CREATE FUNCTION survey_first_answer(questions json, answers json, question_type text)
RETURNS smallint LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    question_key text;
    answer json;
    number numeric;
BEGIN
    IF json_typeof(questions) IS DISTINCT FROM 'array' THEN
        RETURN NULL;
    END IF;
    SELECT q.question ->> 'key' INTO question_key
      FROM json_array_elements(questions) WITH ORDINALITY AS q(question, position)
     WHERE json_typeof(q.question) = 'object' AND q.question ->> 'type' = question_type
     ORDER BY q.position LIMIT 1;
    IF question_key IS NULL OR json_typeof(answers) IS DISTINCT FROM 'object' THEN
        RETURN NULL;
    END IF;
    answer := answers -> question_key;
    IF json_typeof(answer) IS DISTINCT FROM 'number' THEN
        RETURN NULL;
    END IF;
    number := answer::text::numeric;
    IF number <> trunc(number) OR number NOT BETWEEN -32768 AND 32767 THEN
        RETURN NULL;
    END IF;
    RETURN number::smallint;
END $$
"""

PG_FILL = """
CREATE FUNCTION survey_response_first_answers() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    questions json;
BEGIN
    SELECT definition -> 'questions' INTO questions FROM survey WHERE id = NEW.survey_id;
""" + ''.join(f"""    IF NEW.{name} IS NULL THEN
        NEW.{name} := survey_first_answer(questions, NEW.answers, '{name}');
    END IF;
""" for name in FIRST) + """    RETURN NEW;
END $$
"""


def _pg_functions(table: str) -> list[str]:
    tally = TALLIES[table][0]
    sign = "CASE TG_OP WHEN 'DELETE' THEN -1 ELSE 1 END"
    changed = _upsert('postgresql', table, _rows(table, sign) + " FROM changed")
    updated = _upsert('postgresql', table, _rows(table, '-1', 'OLD') + ' UNION ALL '
                      + _rows(table, '1', 'NEW'))
    return [
        f"CREATE FUNCTION {tally}_changed() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n    {changed};\n    RETURN NULL;\nEND $$",
        f"CREATE FUNCTION {tally}_updated() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n    {updated};\n    RETURN NULL;\nEND $$",
        f"CREATE FUNCTION {tally}_truncated() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n    DELETE FROM {tally};\n    RETURN NULL;\nEND $$",
    ]


def _pg_triggers(table: str) -> list[str]:
    tally = TALLIES[table][0]
    return [
        f"CREATE TRIGGER {tally}_inserted AFTER INSERT ON {table} "
        f"REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION {tally}_changed()",
        f"CREATE TRIGGER {tally}_deleted AFTER DELETE ON {table} "
        f"REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION {tally}_changed()",
        f"CREATE TRIGGER {tally}_updated AFTER UPDATE ON {table} FOR EACH ROW "
        f"WHEN ({_changed(table, 'OLD', 'NEW')}) EXECUTE FUNCTION {tally}_updated()",
        f"CREATE TRIGGER {tally}_truncated AFTER TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {tally}_truncated()",
    ]


PG_FILL_TRIGGER = (
    "CREATE TRIGGER survey_response_first_answers BEFORE INSERT OR UPDATE ON survey_response "
    "FOR EACH ROW WHEN (" + ' OR '.join(f"NEW.{name} IS NULL" for name in FIRST)
    + ") EXECUTE FUNCTION survey_response_first_answers()")


def _pg_fill_existing() -> str:
    first = {name: f"survey_first_answer(s.definition -> 'questions', r.answers, '{name}')"
             for name in FIRST}
    return ("UPDATE survey_response AS r SET "
            + ', '.join(f"{name} = coalesce(r.{name}, {first[name]})" for name in FIRST)
            + " FROM survey AS s WHERE s.id = r.survey_id AND ("
            + ' OR '.join(f"(r.{name} IS NULL AND {first[name]} IS NOT NULL)" for name in FIRST)
            + ")")


# -- SQLite ------------------------------------------------------------------------------------

def _sqlite_first(row: str, question_type: str) -> str:
    """The row's answer to its survey's first question of the type, as SQL (SQLite has no
    stored functions): an integral JSON number, else ``NULL``."""
    key = ("SELECT json_extract(question.value, '$.key') FROM survey, "
           "json_each(survey.definition, '$.questions') AS question "
           f"WHERE survey.id = {row}.survey_id AND question.type = 'object' "
           f"AND json_extract(question.value, '$.type') = '{question_type}' "
           "ORDER BY question.key LIMIT 1")
    return ("(SELECT CAST(answer.value AS INTEGER) FROM json_each("
            f"CASE WHEN json_valid({row}.answers) THEN {row}.answers END) AS answer "
            f"WHERE answer.key = ({key}) AND answer.type IN ('integer', 'real') "
            "AND answer.value = CAST(answer.value AS INTEGER) "
            "AND answer.value BETWEEN -32768 AND 32767)")


def _sqlite_to_fill(row: str) -> str:
    return ' OR '.join(f"({row}.{name} IS NULL AND {_sqlite_first(row, name)} IS NOT NULL)"
                       for name in FIRST)


def _sqlite_fill(row: str) -> str:
    return ("UPDATE survey_response SET "
            + ', '.join(f"{name} = coalesce({name}, {_sqlite_first(row, name)})"
                        for name in FIRST))


def _sqlite_triggers(table: str) -> list[str]:
    tally = TALLIES[table][0]
    changed = _changed(table, 'OLD', 'NEW').replace('IS DISTINCT FROM', 'IS NOT')
    both = _rows(table, '-1', 'OLD') + ' UNION ALL ' + _rows(table, '1', 'NEW')
    return [
        f"CREATE TRIGGER {tally}_inserted AFTER INSERT ON {table} BEGIN "
        f"{_upsert('sqlite', table, _rows(table, '1', 'NEW'))}; END",
        f"CREATE TRIGGER {tally}_deleted AFTER DELETE ON {table} BEGIN "
        f"{_upsert('sqlite', table, _rows(table, '-1', 'OLD'))}; END",
        f"CREATE TRIGGER {tally}_updated AFTER UPDATE ON {table} WHEN {changed} BEGIN "
        f"{_upsert('sqlite', table, both)}; END",
    ]


def _sqlite_fill_triggers() -> list[str]:
    # Whatever order SQLite runs them in beside the tally triggers, the tally ends right: the
    # fill is an update, which the update trigger counts as old row out, new row in.
    return [
        f"CREATE TRIGGER survey_response_first_answers_inserted AFTER INSERT ON survey_response "
        f"WHEN {_sqlite_to_fill('NEW')} BEGIN {_sqlite_fill('NEW')} WHERE id = NEW.id; END",
        f"CREATE TRIGGER survey_response_first_answers_updated AFTER UPDATE ON survey_response "
        f"WHEN {_sqlite_to_fill('NEW')} BEGIN {_sqlite_fill('NEW')} WHERE id = NEW.id; END",
    ]


# -- the migration -----------------------------------------------------------------------------

def _create_tables() -> None:
    op.create_table(
        'response_tally',
        sa.Column('survey_id', sa.String(length=36), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('slot', sa.SmallInteger(), nullable=False),
        sa.Column('responses', sa.Integer(), nullable=False),
        sa.Column('scored', sa.Integer(), nullable=False),
        sa.Column('score_cents', sa.BigInteger(), nullable=False),
        *(sa.Column(f'nps_{value}', sa.Integer(), nullable=False) for value in NPS),
        *(sa.Column(f'csat_{value}', sa.Integer(), nullable=False) for value in CSAT),
        sa.Column('ces_answered', sa.Integer(), nullable=False),
        sa.Column('ces_sum', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('survey_id', 'day', 'slot', name=op.f('pk_response_tally')),
    )
    op.create_table(
        'invitation_tally',
        sa.Column('survey_id', sa.String(length=36), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('slot', sa.SmallInteger(), nullable=False),
        sa.Column('invitations', sa.Integer(), nullable=False),
        sa.Column('answered', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('survey_id', 'day', 'slot', name=op.f('pk_invitation_tally')),
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute("LOCK TABLE survey_response, invitation IN SHARE ROW EXCLUSIVE MODE")
    _create_tables()
    if dialect == 'postgresql':
        op.execute(PG_FIRST_ANSWER)
        op.execute(_pg_fill_existing())
    else:
        op.execute(_sqlite_fill('survey_response') + ' WHERE ' + _sqlite_to_fill('survey_response'))
    for table in TALLIES:
        op.execute(_upsert(dialect, table, _rows(table, '1') + f" FROM {table}", slot='0'))
    if dialect == 'postgresql':
        op.execute(PG_FILL)
        op.execute(PG_FILL_TRIGGER)
        for table in TALLIES:
            for statement in (*_pg_functions(table), *_pg_triggers(table)):
                op.execute(statement)
    else:
        for statement in (*_sqlite_fill_triggers(), *(trigger for table in TALLIES
                                                      for trigger in _sqlite_triggers(table))):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute("DROP TRIGGER survey_response_first_answers ON survey_response")
        op.execute("DROP FUNCTION survey_response_first_answers()")
        op.execute("DROP FUNCTION survey_first_answer(json, json, text)")
        for table, (tally, *_rest) in TALLIES.items():
            for event in ('inserted', 'deleted', 'updated', 'truncated'):
                op.execute(f"DROP TRIGGER {tally}_{event} ON {table}")
            for function in ('changed', 'updated', 'truncated'):
                op.execute(f"DROP FUNCTION {tally}_{function}()")
    else:
        for name in ('survey_response_first_answers_inserted',
                     'survey_response_first_answers_updated',
                     *(f"{tally}_{event}" for tally, *_rest in TALLIES.values()
                       for event in ('inserted', 'deleted', 'updated'))):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table('invitation_tally')
    op.drop_table('response_tally')
