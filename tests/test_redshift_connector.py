"""The Redshift load plan, run on the PostgreSQL 15 destination (its statements are valid on both).

Exact table contents and counts for every strategy, errors with their lines across statement
batches, rollbacks, and no statement Redshift would refuse or run differently.
"""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest

from credentials.connectors import ConnectorError, LoadPlan, TargetColumn, get_connector
from credentials.connectors.base import ConnectionParams
from credentials.connectors.redshift import RedshiftConnector
from tests import services
from tests.conftest import dest_credential_fields

# The same rows and helpers as the PostgreSQL strategy tests (and conftest's `existing` table).
from tests.test_postgres_strategies import contents, no_events, plan, rows

STRATEGIES = ["INSERT", "UPSERT", "TRUNCATE_INSERT"]


class RecordingConnector(RedshiftConnector):
    """Keeps the text of every statement the load sends (staging INSERTs go through a raw cursor)."""

    def __init__(self, params):
        super().__init__(params)
        self.statements: list[str] = []

    def connect(self):
        conn = super().connect()
        conn.recorded = self.statements
        conn.cursor_factory = RecordingCursor
        return conn

    def inserts_into_stage(self) -> int:
        return sum(statement.startswith('INSERT INTO "etlportal_stage"') for statement in self.statements)


def _record(cursor, query) -> None:
    if hasattr(cursor.connection, "recorded"):
        cursor.connection.recorded.append(query if isinstance(query, str) else query.as_string(cursor.connection))


class RecordingCursor(psycopg.Cursor):
    def execute(self, query, params=None, **kwargs):
        _record(self, query)
        return super().execute(query, params, **kwargs)


class RecordingRawCursor(psycopg.RawCursor):
    def execute(self, query, params=None, **kwargs):
        _record(self, query)
        return super().execute(query, params, **kwargs)


@pytest.fixture(autouse=True)
def _record_raw_statements(monkeypatch):
    monkeypatch.setattr(psycopg, "RawCursor", RecordingRawCursor)


def params() -> ConnectionParams:
    return ConnectionParams(**{**dest_credential_fields(), "kind": "redshift"})


def connector(**settings) -> RecordingConnector:
    made = RecordingConnector(params())
    for name, value in settings.items():
        setattr(made, name, value)
    return made


def test_redshift_destinations_can_load():
    assert isinstance(get_connector(params()), RedshiftConnector)
    assert RedshiftConnector.supports_load is True


def test_insert_appends_in_file_order(existing):
    result = connector().load(plan(existing), rows((6, "six", 60), (4, "four", None), (5, None, 50)), no_events)

    assert (result.rows_written, result.inserted, result.table_created) == (3, 3, False)
    assert contents(existing) == [
        (1, "one", 10), (2, "two", 20), (3, "three", 30), (4, "four", None), (5, None, 50), (6, "six", 60)
    ]  # fmt: skip
    in_heap_order = existing.execute(f'SELECT id FROM "{existing.schema}".t ORDER BY ctid').fetchall()
    assert [id_ for (id_,) in in_heap_order] == [1, 2, 3, 6, 4, 5]


def test_truncate_insert_replaces_the_rows_and_keeps_a_dependent_view(existing):
    schema = existing.schema
    existing.execute(f'CREATE VIEW "{schema}".big AS SELECT id, name FROM "{schema}".t WHERE qty > 15')

    result = connector().load(plan(existing, "TRUNCATE_INSERT"), rows((7, "seven", 70), (8, "eight", 5)), no_events)

    assert (result.rows_written, result.inserted) == (2, 2)
    assert contents(existing) == [(7, "seven", 70), (8, "eight", 5)]
    assert existing.execute(f'SELECT * FROM "{schema}".big').fetchall() == [(7, "seven")]


def test_truncate_insert_of_an_empty_file_empties_the_table(existing):
    result = connector().load(plan(existing, "TRUNCATE_INSERT"), [], no_events)

    assert result.rows_written == 0
    assert contents(existing) == []


@pytest.mark.parametrize("primary_key", [True, False], ids=["primary-key", "no-key"])
def test_upsert_counts_inserted_updated_and_unchanged_rows_with_nulls_equal(dest, primary_key):
    key = "PRIMARY KEY" if primary_key else ""
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id integer {key}, name text, qty integer)')
    dest.execute(
        f"INSERT INTO \"{dest.schema}\".t VALUES (1, 'one', NULL), (2, 'two', 20), (3, NULL, 30), (4, 'four', 40), "
        "(5, NULL, NULL)"
    )
    incoming = rows(
        (1, "one", None),  # unchanged: NULL = NULL
        (2, "two", None),  # updated: a value becomes NULL
        (3, "three", 30),  # updated: NULL becomes a value
        (4, "four", 40),  # unchanged
        (5, None, None),  # unchanged: all NULL
        (6, None, 60),  # inserted
        (7, "seven", None),  # inserted
    )

    made = connector()
    result = made.load(plan(dest, "UPSERT", key_columns=("id",)), incoming, no_events)

    assert (result.inserted, result.updated, result.unchanged, result.rows_written) == (2, 2, 3, 4)
    assert contents(dest) == [
        (1, "one", None), (2, "two", None), (3, "three", 30), (4, "four", 40), (5, None, None), (6, None, 60),
        (7, "seven", None),
    ]  # fmt: skip
    assert any(statement.startswith("MERGE INTO") for statement in made.statements)


def test_upsert_of_unchanged_rows_only_writes_nothing(existing):
    made = connector()
    result = made.load(plan(existing, "UPSERT", key_columns=("id",)), rows((2, "two", 20), (1, "one", 10)), no_events)

    assert (result.inserted, result.updated, result.unchanged, result.rows_written) == (0, 0, 2, 0)
    assert not any(statement.startswith("MERGE") for statement in made.statements)


def test_upsert_with_only_key_columns(dest):
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id integer)')
    dest.execute(f'INSERT INTO "{dest.schema}".t VALUES (1), (2)')
    columns = [TargetColumn("id", "integer")]

    result = connector().load(
        plan(dest, "UPSERT", columns=columns, key_columns=("id",)), rows((2,), (3,), (1,)), no_events
    )

    assert (result.inserted, result.updated, result.unchanged) == (1, 0, 2)
    assert contents(dest) == [(1,), (2,), (3,)]


def test_upsert_with_a_composite_key_into_a_table_it_creates(dest):
    columns = [TargetColumn("region", "text", False), TargetColumn("day", "date", False), TargetColumn("n", "bigint")]
    first = connector().load(
        plan(dest, "UPSERT", columns=columns, key_columns=("region", "day"), create_table=True),
        rows(("eu", "2026-01-01", 1), ("us", "2026-01-01", 2)),
        no_events,
    )
    second = connector().load(
        plan(dest, "UPSERT", columns=columns, key_columns=("region", "day")),
        rows(("eu", "2026-01-01", 5), ("us", "2026-01-01", 2), ("eu", "2026-01-02", 3)),
        no_events,
    )

    assert first.table_created and (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    assert (second.inserted, second.updated, second.unchanged) == (1, 1, 1)
    got = dest.execute(f'SELECT region, day::text, n FROM "{dest.schema}".t ORDER BY 1, 2').fetchall()
    assert got == [("eu", "2026-01-01", 5), ("eu", "2026-01-02", 3), ("us", "2026-01-01", 2)]


def test_a_created_table_gets_types_valid_on_redshift(dest):
    columns = [
        TargetColumn("id", "uuid", nullable=False),
        TargetColumn("note", "text"),
        TargetColumn("code", "varchar(12)"),
        TargetColumn("doc", "jsonb"),
        TargetColumn("at", "timestamptz"),
        TargetColumn("amount", "numeric(12,2)"),
        TargetColumn("ratio", "numeric"),
        TargetColumn("ok", "boolean"),
    ]
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    value = (key, "x" * 300, "abc", '{"a": 1}', "2026-01-02 03:04:05+00", Decimal("12.50"), Decimal("0.125"), True)

    result = connector().load(
        plan(dest, "UPSERT", columns=columns, key_columns=("id",), create_table=True), rows(value), no_events
    )

    assert result.table_created
    types = dest.execute(
        "SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns "
        "JOIN pg_attribute ON attrelid = %s::regclass AND attname = column_name "
        "WHERE table_schema = %s AND table_name = 't' ORDER BY ordinal_position",
        (f'"{dest.schema}".t', dest.schema),
    ).fetchall()
    assert types == [
        ("id", "character(36)"),
        ("note", "character varying(65535)"),
        ("code", "character varying(12)"),
        ("doc", "character varying(65535)"),
        ("at", "timestamp with time zone"),
        ("amount", "numeric(12,2)"),
        ("ratio", "numeric(38,10)"),
        ("ok", "boolean"),
    ]
    stored = dest.execute(f'SELECT id, note, doc, amount, ratio FROM "{dest.schema}".t').fetchone()
    assert stored == (str(key), "x" * 300, '{"a": 1}', Decimal("12.50"), Decimal("0.1250000000"))


def test_every_mapping_type_round_trips_into_a_created_and_an_existing_table(dest):
    columns = [
        TargetColumn("id", "bigint", nullable=False),
        TargetColumn("small", "smallint"),
        TargetColumn("ratio", "double precision"),
        TargetColumn("low", "real"),
        TargetColumn("ok", "boolean"),
        TargetColumn("day", "date"),
        TargetColumn("at", "timestamp"),
        TargetColumn("atz", "timestamptz"),
        TargetColumn("price", "numeric(12,2)"),
        TargetColumn("code", "varchar(5)"),
        TargetColumn("doc", "json"),
        TargetColumn("uid", "uuid"),
    ]
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    values = (
        2**40, -7, 1 / 3, 0.5, False, date(2026, 2, 28), datetime(2026, 2, 28, 23, 59, 59, 123456),
        datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC), Decimal("-12.05"), "ünï", "[1, 2]", key,
    )  # fmt: skip
    dest.execute(
        f'CREATE TABLE "{dest.schema}".existing (id bigint, small smallint, ratio double precision, low real, '
        "ok boolean, day date, at timestamp, atz timestamptz, price numeric(12,2), code varchar(5), doc jsonb, "
        "uid uuid)"
    )

    connector().load(plan(dest, columns=columns, create_table=True), rows(values, (1, *[None] * 11)), no_events)
    connector().load(plan(dest, columns=columns, table="existing"), rows(values, (1, *[None] * 11)), no_events)

    created = dest.execute(f'SELECT * FROM "{dest.schema}".t ORDER BY id DESC').fetchall()
    assert created == [(*values[:-1], str(key)), (1, *[None] * 11)]
    in_existing = dest.execute(f'SELECT * FROM "{dest.schema}".existing ORDER BY id DESC').fetchall()
    assert in_existing == [(*values[:-2], [1, 2], key), (1, *[None] * 11)]


@pytest.mark.parametrize(
    ("sql_type", "says"),
    [("numeric(50,2)", "hold at most 38 digits"), ("varchar(70000)", "hold at most 65,535 bytes")],
)
def test_a_type_redshift_cannot_hold_is_refused_before_anything_is_created(dest, sql_type, says):
    columns = [TargetColumn("id", "integer"), TargetColumn("big", sql_type)]

    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(dest, columns=columns, create_table=True), rows((1, None)), no_events)
    with pytest.raises(ConnectorError) as dry:
        connector().check(plan(dest, columns=columns, create_table=True))

    assert says in caught.value.message and says in dry.value.message
    assert dest.execute("SELECT to_regclass(%s)", (f'"{dest.schema}".t',)).fetchone()[0] is None


def test_a_value_with_more_decimals_than_an_unscaled_numeric_keeps_is_refused_not_rounded(dest):
    columns = [TargetColumn("id", "integer"), TargetColumn("ratio", "numeric")]

    with pytest.raises(ConnectorError) as caught:
        connector().load(
            plan(dest, columns=columns, create_table=True),
            rows((1, Decimal("0.5")), (2, Decimal("0.12345678901"))),
            no_events,
        )

    assert caught.value.line == 3
    assert "has more than 10 decimal places" in caught.value.message
    assert dest.execute("SELECT to_regclass(%s)", (f'"{dest.schema}".t',)).fetchone()[0] is None


def test_upsert_refuses_a_key_twice_in_the_file_naming_both_lines(existing):
    before = contents(existing)
    incoming = rows((5, "a", 1), (6, "b", 2), (5, "c", 3), (7, "d", 4), (6, "e", 5))

    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(existing, "UPSERT", key_columns=("id",)), incoming, no_events)

    assert caught.value.message == (
        "The key (id=5) appears 2 times in the file (lines 2, 4); an UPSERT needs each key once. Nothing was written."
    )
    assert (caught.value.line, caught.value.column, caught.value.value) == (4, "id", "5")
    assert contents(existing) == before


def test_upsert_names_the_first_five_lines_of_a_key_repeated_many_times(existing):
    incoming = rows(*[(9, f"n{i}", i) for i in range(7)], first_line=10)

    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(existing, "UPSERT", key_columns=("id",)), incoming, no_events)

    assert caught.value.message.startswith("The key (id=9) appears 7 times in the file (lines 10, 11, 12, 13, 14 …)")
    assert caught.value.line == 11


def test_upsert_refuses_an_empty_key(dest):
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id integer, name text, qty integer)')
    columns = [TargetColumn("id", "integer"), TargetColumn("name", "text"), TargetColumn("qty", "integer")]
    with pytest.raises(ConnectorError) as caught:
        connector().load(
            plan(dest, "UPSERT", columns=columns, key_columns=("id",)), rows((5, "a", 1), (None, "b", 2)), no_events
        )

    assert caught.value.line == 3
    assert caught.value.message == "An UPSERT key column (id) is empty; every row needs its key. Nothing was written."
    assert contents(dest) == []


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_null_for_a_not_null_column_at_the_last_row_leaves_the_table_as_it_was(existing, strategy):
    before = contents(existing)
    incoming = rows(*[(100 + i, f"n{i}", i) for i in range(2000)], (2100, "fine", 1), (None, "bad", 1))

    with pytest.raises(ConnectorError) as caught:
        connector().load(
            plan(existing, strategy, key_columns=("id",) if strategy == "UPSERT" else ()), incoming, no_events
        )

    assert caught.value.line == 2003
    assert caught.value.column == "id"
    assert "etlportal_stage" not in caught.value.message
    assert contents(existing) == before


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_row_the_table_refuses_at_the_last_insert_leaves_the_table_as_it_was(existing, strategy):
    """A CHECK constraint on the target is only tested when the strategy writes it, after DELETE for replace-all."""
    schema = existing.schema
    existing.execute(f'ALTER TABLE "{schema}".t ADD CONSTRAINT small CHECK (qty < 1000000)')
    before = contents(existing)
    changed = (2100, "new", 1) if strategy == "INSERT" else (1, "changed", 1)
    incoming = rows(*[(100 + i, f"n{i}", i) for i in range(2000)], changed, (5000, "bad", 1000000))

    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(existing, strategy, key_columns=("id",)), incoming, no_events)

    assert 'violates check constraint "small"' in caught.value.message
    assert caught.value.message.endswith("Nothing was written.")
    assert contents(existing) == before


def test_a_killed_connection_leaves_the_table_as_it_was(existing):
    before = contents(existing)

    def incoming():
        yield 2, (50, "x", 1)
        with psycopg.connect(services.DEST_URL, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'etlportal' AND pid <> pg_backend_pid() AND datname = current_database()"
            )
        for index in range(5000):
            yield 3 + index, (51 + index, "y", 1)

    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(existing), incoming(), no_events)

    assert "Nothing was written" in caught.value.message
    assert contents(existing) == before


def test_2503_rows_in_statements_of_1000_all_load_in_file_order(dest):
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id integer, name varchar(5), qty integer)')
    ids = list(range(2503, 0, -1))  # the file is in descending order
    made = connector(batch_rows=1000)

    result = made.load(plan(dest), rows(*[(i, f"n{i % 1000}", i * 2) for i in ids]), no_events)

    assert result.rows_written == 2503
    assert made.inserts_into_stage() == 3
    in_heap_order = dest.execute(f'SELECT id, name, qty FROM "{dest.schema}".t ORDER BY ctid').fetchall()
    assert in_heap_order == [(i, f"n{i % 1000}", i * 2) for i in ids]


@pytest.mark.parametrize("bad_row", [1, 17, 1000, 1001, 2000, 2503])
def test_a_value_the_server_refuses_is_named_by_its_line_across_statements(dest, bad_row):
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id integer, name varchar(5), qty integer)')
    values = [(i, "ok", i) for i in range(1, 2504)]
    values[bad_row - 1] = (bad_row, "too long", bad_row)

    with pytest.raises(ConnectorError) as caught:
        connector(batch_rows=1000).load(plan(dest), rows(*values, first_line=10), no_events)

    assert caught.value.line == bad_row + 9
    assert caught.value.message == (
        f"Amazon Redshift rejected the load into {dest.schema}.t: value too long for type character varying(5). "
        "Nothing was written."
    )
    assert contents(dest) == []


def test_an_out_of_range_integer_is_named_by_its_line(existing):
    existing.execute(f'ALTER TABLE "{existing.schema}".t ALTER COLUMN qty TYPE smallint')
    before = contents(existing)
    incoming = rows(*[(100 + i, "x", i) for i in range(50)], (200, "x", 40000), (201, "x", 1))

    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(existing), incoming, no_events)

    assert caught.value.line == 52
    assert "smallint out of range" in caught.value.message
    assert contents(existing) == before


def test_long_text_splits_statements_by_size(dest):
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id integer, name text, qty integer)')
    made = connector(batch_rows=1000, batch_chars=10_000)

    result = made.load(plan(dest), rows(*[(i, "x" * 1000, i) for i in range(45)]), no_events)

    assert result.rows_written == 45
    assert made.inserts_into_stage() == 5  # 10 rows of 1,000 characters per statement
    assert dest.execute(f'SELECT count(*), sum(length(name)) FROM "{dest.schema}".t').fetchone() == (45, 45_000)


def test_wide_tables_stay_under_the_parameter_limit(dest):
    columns = [TargetColumn(f"c{i}", "integer") for i in range(100)]
    made = connector(batch_rows=1000)

    result = made.load(
        plan(dest, columns=columns, create_table=True), rows(*[tuple(range(i, i + 100)) for i in range(700)]), no_events
    )

    assert result.rows_written == 700
    assert made.inserts_into_stage() == 3  # 324 rows x 101 parameters <= 32,767
    assert dest.execute(f'SELECT count(*), sum(c99) FROM "{dest.schema}".t').fetchone() == (700, sum(range(99, 799)))


FORBIDDEN = re.compile(
    r"\bTRUNCATE\b|\bON CONFLICT\b|\bCOPY\b|advisory|lock_timeout|\bGENERATED\b|\bIDENTITY\b|\bON COMMIT\b|"
    r"array_agg|\bFILTER\b|IS DISTINCT FROM|WITH NO DATA|\bRETURNING\b|xmax|regclass|::",
    re.IGNORECASE,
)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_no_statement_uses_what_redshift_lacks(existing, strategy):
    made = connector()
    first = (1, "ONE", 11) if strategy != "INSERT" else (8, "eight", 80)
    made.load(plan(existing, strategy, key_columns=("id",)), rows(first, (9, "nine", 90)), no_events)
    made.load(
        plan(existing, strategy, table="fresh", key_columns=("id",), create_table=True), rows((1, "a", 1)), no_events
    )
    made.check(plan(existing, strategy, key_columns=("id",)))

    used = [statement for statement in made.statements if FORBIDDEN.search(statement)]
    assert used == []
    assert any(statement.startswith("LOCK TABLE") for statement in made.statements)
    if strategy == "TRUNCATE_INSERT":
        assert f'DELETE FROM "{existing.schema}"."t"' in made.statements


def test_the_lock_is_the_first_statement_of_the_applying_transaction(existing):
    made = connector()
    made.load(plan(existing), rows((9, "nine", 90)), no_events)

    locks = [index for index, statement in enumerate(made.statements) if statement.startswith("LOCK TABLE")]
    assert len(locks) == 1
    assert "set_config('statement_timeout'" in made.statements[locks[0] - 1]
    assert made.statements[locks[0] + 1] == "RESET statement_timeout"


def test_a_second_load_into_the_same_table_waits_then_is_refused(existing):
    """The first load holds the table's lock from its strategy to COMMIT; the second waits, then gives up."""
    holding, release = threading.Event(), threading.Event()

    def hold():
        holding.set()
        release.wait(10)

    first_error = []

    def first_load():
        try:
            connector().load(plan(existing), rows((10, "first", 1)), no_events, hold)
        except Exception as exc:  # pragma: no cover - reported below
            first_error.append(exc)

    thread = threading.Thread(target=first_load)
    thread.start()
    try:
        assert holding.wait(10)
        with pytest.raises(ConnectorError) as caught:
            connector().load(plan(existing, lock_timeout_seconds=1), rows((11, "second", 1)), no_events)
    finally:
        release.set()
        thread.join(10)

    assert caught.value.message.startswith(f"Another load or session is using {existing.schema}.t (waited 1 s")
    assert caught.value.retryable is True
    assert first_error == []
    assert [row[0] for row in contents(existing)] == [1, 2, 3, 10]


def test_readers_do_not_wait_for_the_upload(existing):
    uploading, release = threading.Event(), threading.Event()

    def slow_rows():
        yield 2, (10, "first", 1)
        uploading.set()
        release.wait(10)

    thread = threading.Thread(target=lambda: connector().load(plan(existing), slow_rows(), no_events))
    thread.start()
    try:
        assert uploading.wait(10)
        with psycopg.connect(services.DEST_URL, options="-c statement_timeout=2000") as reader:
            seen = reader.execute(f'SELECT count(*) FROM "{existing.schema}".t').fetchone()[0]
    finally:
        release.set()
        thread.join(10)

    assert seen == 3
    assert len(contents(existing)) == 4


def test_check_reports_without_writing(existing):
    found = connector().check(plan(existing, "UPSERT", key_columns=("id",)))
    replace_all = connector().check(plan(existing, "TRUNCATE_INSERT"))
    missing = connector().check(plan(existing, table="new_table", create_table=True))

    assert found.table_exists and found.message.endswith("the load would use MERGE on (id).")
    assert replace_all.message.endswith("the load would use DELETE then INSERT.")
    assert not missing.table_exists and "would create it with 3 columns" in missing.message
    assert existing.execute("SELECT to_regclass(%s)", (f'"{existing.schema}".new_table',)).fetchone()[0] is None


QUIRKY = ['we"ird', "semi;colon", "with space", "ünïcödé", "select", "MixedCase"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_quirky_identifiers_load_into_exactly_the_named_table(dest, strategy):
    schema = dest.schema
    dest.execute(f'CREATE TABLE "{schema}".decoy (x int)')
    columns = [TargetColumn(name, "text") for name in QUIRKY]
    table = 'Tab"le; DROP TABLE decoy; --'
    quirky_plan = LoadPlan(schema, table, columns, strategy, create_table=True, key_columns=(QUIRKY[0],))

    first = connector().load(quirky_plan, rows(tuple(QUIRKY)), no_events)
    second = connector().load(quirky_plan, rows(tuple(QUIRKY), first_line=3), no_events)

    assert first.table_created and not second.table_created
    quoted = table.replace('"', '""')
    expected = [tuple(QUIRKY)] * (2 if strategy == "INSERT" else 1)
    assert dest.execute(f'SELECT * FROM "{schema}"."{quoted}"').fetchall() == expected
    names = dest.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    assert [name for (name,) in names] == QUIRKY
    tables = dest.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
    assert sorted(name for (name,) in tables.fetchall()) == sorted(["decoy", table])
