"""The DuckDB connector against real DuckDB files, without the worker."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import duckdb
import pytest

from credentials.connectors import ConnectorError, LoadPlan, TargetColumn, get_connector
from credentials.connectors.base import ConnectionParams
from credentials.connectors.duckdb import quote

PEOPLE = [TargetColumn("id", "integer", nullable=False), TargetColumn("name", "text")]


def connector(path):
    return get_connector(ConnectionParams(kind="duckdb", database=str(path)))


def no_events(phase, message):
    pass


def load(path, plan, rows, **kwargs):
    return connector(path).load(plan, iter(rows), kwargs.pop("on_event", no_events), **kwargs)


def people(schema="s", table="t", strategy="INSERT", create=True, keys=(), columns=PEOPLE, **kwargs):
    return LoadPlan(schema, table, columns, strategy, create_table=create, key_columns=keys, **kwargs)


def numbered(*values):
    """Rows as the transform yields them: the first data row is line 2 of the file."""
    return [(line, row) for line, row in enumerate(values, start=2)]


def execute(path, *statements):
    with duckdb.connect(str(path)) as conn:
        for statement in statements:
            conn.execute(statement)


def fetch(path, query):
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(query).fetchall()


def snapshot(path):
    """Every table's and view's full content: what "the file is as it was" means."""
    with duckdb.connect(str(path), read_only=True) as conn:
        relations = conn.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() UNION ALL "
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal ORDER BY ALL"
        ).fetchall()
        return {
            (schema, name): conn.execute(f"SELECT * FROM {quote(schema)}.{quote(name)} ORDER BY ALL").fetchall()
            for schema, name in relations
        }


@pytest.fixture
def db(tmp_path):
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def existing(db):
    """A file with s.t (id INTEGER PRIMARY KEY, name VARCHAR) holding two rows, and a view on it."""
    execute(
        db,
        "CREATE SCHEMA s",
        "CREATE TABLE s.t (id INTEGER PRIMARY KEY, name VARCHAR)",
        "INSERT INTO s.t VALUES (1, 'one'), (2, 'two')",
        "CREATE VIEW s.v AS SELECT id, upper(name) AS loud FROM s.t",
    )
    return db


# -- strategies ----------------------------------------------------------------------------
def test_insert_creates_the_schema_and_table_then_appends(db):
    events = []

    first = load(db, people(), numbered((1, "one"), (2, None)), on_event=lambda *event: events.append(event))
    second = load(db, people(), numbered((3, "three")))

    assert (first.rows_written, first.inserted, first.table_created) == (2, 2, True)
    assert (second.rows_written, second.inserted, second.table_created) == (1, 1, False)
    assert fetch(db, "SELECT id, name FROM s.t ORDER BY id") == [(1, "one"), (2, None), (3, "three")]
    assert fetch(db, "SELECT column_name, data_type, is_nullable FROM information_schema.columns") == [
        ("id", "INTEGER", "NO"),
        ("name", "VARCHAR", "YES"),
    ]
    assert [phase for phase, _ in events] == ["prepare", "load", "prepare", "prepare", "load", "commit"]
    assert ("prepare", "Creating table s.t with 2 columns") in events


def test_a_file_without_rows_still_creates_the_table(db):
    result = load(db, people(strategy="UPSERT", keys=("id",)), [])

    assert (result.rows_written, result.table_created) == (0, True)
    assert fetch(db, "SELECT count(*) FROM s.t") == [(0,)]


def test_truncate_insert_replaces_every_row_and_keeps_a_dependent_view(existing):
    result = load(existing, people(strategy="TRUNCATE_INSERT"), numbered((7, "seven"), (2, "deux")))

    assert (result.rows_written, result.inserted, result.table_created) == (2, 2, False)
    assert fetch(existing, "SELECT * FROM s.t ORDER BY id") == [(2, "deux"), (7, "seven")]
    assert fetch(existing, "SELECT * FROM s.v ORDER BY id") == [(2, "DEUX"), (7, "SEVEN")]


def test_upsert_on_a_table_it_created_counts_inserted_updated_and_unchanged(db):
    plan = people(strategy="UPSERT", keys=("id",))
    created = load(db, plan, numbered((1, "one"), (2, "two"), (3, None)))

    result = load(db, plan, numbered((1, "one"), (2, "TWO"), (3, None), (4, "four"), (5, None)))

    assert (created.inserted, created.updated, created.unchanged, created.table_created) == (3, 0, 0, True)
    assert (result.inserted, result.updated, result.unchanged, result.rows_written) == (2, 1, 2, 3)
    assert fetch(db, "SELECT * FROM s.t ORDER BY id") == [(1, "one"), (2, "TWO"), (3, None), (4, "four"), (5, None)]
    assert fetch(db, "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() ORDER BY 1") == [
        ("NOT NULL", ["id"]),
        ("PRIMARY KEY", ["id"]),
    ]


def test_upsert_into_an_existing_table_with_a_composite_primary_key(db):
    execute(
        db,
        "CREATE TABLE main.prices (shop VARCHAR, sku INTEGER, price DECIMAL(8,2), note VARCHAR, "
        "PRIMARY KEY (shop, sku))",
        "INSERT INTO main.prices VALUES ('a', 1, 1.50, NULL), ('a', 2, 2.00, 'x'), ('b', 1, 9.99, NULL)",
    )
    columns = [
        TargetColumn("shop", "text"),
        TargetColumn("sku", "integer"),
        TargetColumn("price", "numeric(8,2)"),
        TargetColumn("note", "text"),
    ]
    plan = LoadPlan("main", "prices", columns, "UPSERT", key_columns=("shop", "sku"))

    result = load(
        db,
        plan,
        numbered(
            ("a", 1, Decimal("1.50"), None),  # unchanged (NULL equals NULL)
            ("a", 2, Decimal("2.00"), None),  # updated: note x -> NULL
            ("b", 1, Decimal("10.00"), None),  # updated: price
            ("b", 2, Decimal("3.00"), "new"),  # inserted
        ),
    )

    assert (result.inserted, result.updated, result.unchanged, result.rows_written) == (1, 2, 1, 3)
    assert fetch(db, "SELECT * FROM main.prices ORDER BY ALL") == [
        ("a", 1, Decimal("1.50"), None),
        ("a", 2, Decimal("2.00"), None),
        ("b", 1, Decimal("10.00"), None),
        ("b", 2, Decimal("3.00"), "new"),
    ]


def test_upsert_into_an_existing_table_without_a_key_constraint(db):
    execute(
        db,
        "CREATE TABLE main.t (id BIGINT, name VARCHAR, seen DATE)",
        "INSERT INTO main.t VALUES (1, 'one', DATE '2024-01-01'), (2, 'two', NULL)",
    )
    columns = [TargetColumn("id", "integer"), TargetColumn("name", "text"), TargetColumn("seen", "date")]
    plan = LoadPlan("main", "t", columns, "UPSERT", key_columns=("id",))

    result = load(db, plan, numbered((1, "one", date(2024, 1, 1)), (2, "two", date(2024, 2, 2)), (3, "3", None)))

    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    assert fetch(db, "SELECT * FROM main.t ORDER BY id") == [
        (1, "one", date(2024, 1, 1)),
        (2, "two", date(2024, 2, 2)),
        (3, "3", None),
    ]
    assert fetch(db, "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'") == [(0,)]


def test_upsert_when_every_column_is_a_key_only_inserts_new_keys(existing):
    plan = LoadPlan("s", "t", [TargetColumn("id", "integer")], "UPSERT", key_columns=("id",))

    result = load(existing, plan, numbered((2,), (3,)))

    assert (result.inserted, result.updated, result.unchanged) == (1, 0, 1)
    assert fetch(existing, "SELECT * FROM s.t ORDER BY id") == [(1, "one"), (2, "two"), (3, None)]


# -- nothing is written when anything fails -----------------------------------------------
@pytest.mark.parametrize("strategy", ["INSERT", "UPSERT", "TRUNCATE_INSERT"])
def test_a_value_the_table_cannot_hold_in_the_last_row_leaves_the_file_as_it_was(existing, strategy):
    execute(existing, "ALTER TABLE s.t ADD COLUMN small SMALLINT")
    before = snapshot(existing)
    columns = [*PEOPLE, TargetColumn("small", "integer")]
    rows = [(line, (line + 10, f"n{line}", 1)) for line in range(2, 60_002)] + [(60_002, (5, "last", 70_000))]
    plan = people(strategy=strategy, keys=("id",), columns=columns, create=False)

    with pytest.raises(ConnectorError) as caught:
        load(existing, plan, rows)

    assert (caught.value.line, caught.value.column, caught.value.value) == (60_002, "small", "70000")
    assert caught.value.message.startswith("DuckDB rejected the load into s.t: line 60002, column small")
    assert caught.value.message.endswith("Nothing was written.")
    assert snapshot(existing) == before


def test_a_failing_commit_gate_rolls_back_schema_table_and_rows(existing):
    before = snapshot(existing)

    class Reaped(Exception):
        pass

    def gate():
        raise Reaped()

    with pytest.raises(Reaped):
        load(existing, people(strategy="TRUNCATE_INSERT"), numbered((9, "nine")), before_commit=gate)
    with pytest.raises(Reaped):
        load(existing, people(schema="fresh", table="new"), numbered((9, "nine")), before_commit=gate)

    assert snapshot(existing) == before


def test_a_key_repeated_in_the_file_is_reported_with_its_lines_before_writing(existing):
    before = snapshot(existing)
    rows = numbered((1, "a"), (5, "b"), (1, "c"), (5, "d"), (1, "e"), (6, "f"))

    with pytest.raises(ConnectorError) as caught:
        load(existing, people(strategy="UPSERT", keys=("id",)), rows)

    assert caught.value.message == (
        "The file has 2 key(s) that appear more than once, so UPSERT into s.t cannot tell which row wins: "
        "id=1 on lines 2, 4, 6; id=5 on lines 3, 5. Nothing was written."
    )
    assert (caught.value.line, caught.value.column, caught.value.value) == (4, "id", "1")
    assert snapshot(existing) == before


def test_an_insert_of_a_key_already_in_the_table_names_the_line(existing):
    before = snapshot(existing)

    with pytest.raises(ConnectorError) as caught:
        load(existing, people(), numbered((3, "three"), (4, "four"), (2, "again")))

    assert caught.value.line == 4
    assert caught.value.column == "id"
    assert "Duplicate key" in caught.value.message
    assert snapshot(existing) == before


def test_an_empty_value_in_a_not_null_column_names_the_line(existing):
    execute(existing, "ALTER TABLE s.t ALTER COLUMN name SET NOT NULL")
    before = snapshot(existing)

    with pytest.raises(ConnectorError) as caught:
        load(existing, people(create=False), numbered((3, "three"), (4, None)))

    assert (caught.value.line, caught.value.column) == (3, "name")
    assert caught.value.message == (
        "Line 3 has no value for column name, but the column is NOT NULL in s.t. Nothing was written."
    )
    assert snapshot(existing) == before


def test_a_failed_load_into_a_new_file_leaves_no_file_behind(db):
    with pytest.raises(ConnectorError) as caught:
        load(db, people(), numbered((1, "one"), (None, "two")))

    assert caught.value.line == 3
    assert list(db.parent.iterdir()) == []


def test_a_cancel_rolls_back_and_says_so(existing):
    before = snapshot(existing)
    cancels = []

    def rows():
        yield 2, (10, "ten")
        cancels[0]()  # the watcher thread would call it; it must be safe at any moment
        yield 3, (11, "eleven")

    with pytest.raises(ConnectorError) as caught:
        connector(existing).load(people(), rows(), no_events, register_cancel=cancels.append)

    assert caught.value.message == "The load into s.t was cancelled; nothing was written."
    assert snapshot(existing) == before


def test_a_cancel_during_the_transaction_rolls_back_the_rows_already_removed(existing):
    before = snapshot(existing)
    cancels = []

    def on_event(phase, message):
        if message.startswith("Inserting"):  # TRUNCATE_INSERT has already deleted every row
            cancels[0]()

    with pytest.raises(ConnectorError, match="cancelled"):
        connector(existing).load(
            people(strategy="TRUNCATE_INSERT"), iter(numbered((5, "five"))), on_event, register_cancel=cancels.append
        )

    assert snapshot(existing) == before


def test_errors_raised_by_the_row_stream_pass_through_unchanged(existing):
    before = snapshot(existing)

    class BudgetExceeded(Exception):
        pass

    def rows():
        yield 2, (10, "ten")
        raise BudgetExceeded("too many rejects")

    with pytest.raises(BudgetExceeded):
        connector(existing).load(people(), rows(), no_events)

    assert snapshot(existing) == before


# -- identifiers ---------------------------------------------------------------------------
def test_names_with_quotes_semicolons_spaces_unicode_and_keywords_are_loaded_exactly(db):
    schema, table = 'sch"ema; DROP SCHEMA main', 'select "from" Ωmega;'
    columns = [
        TargetColumn('i"d', "integer", nullable=False),
        TargetColumn("order", "text"),
        TargetColumn("naïve value; --", "numeric(5,2)"),
    ]
    execute(db, "CREATE TABLE main.decoy (x INTEGER)", "INSERT INTO main.decoy VALUES (42)")
    plan = LoadPlan(schema, table, columns, "UPSERT", create_table=True, key_columns=('i"d',))

    load(db, plan, numbered((1, "a", Decimal("1.10")), (2, "b", None)))
    result = load(db, plan, numbered((2, "B", Decimal("2.20")), (3, "c", None)))

    assert (result.inserted, result.updated) == (1, 1)
    assert fetch(db, f"SELECT * FROM {quote(schema)}.{quote(table)} ORDER BY 1") == [
        (1, "a", Decimal("1.10")),
        (2, "B", Decimal("2.20")),
        (3, "c", None),
    ]
    assert fetch(
        db, "SELECT column_name FROM duckdb_columns() WHERE table_name LIKE 'select%' ORDER BY column_index"
    ) == [
        ('i"d',),
        ("order",),
        ("naïve value; --",),
    ]
    assert fetch(db, "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 1") == [
        ("main", "decoy"),
        (schema, table),
    ]
    assert fetch(db, "SELECT * FROM main.decoy") == [(42,)]


# -- the existing table ------------------------------------------------------------------------
def test_a_missing_table_without_create_table_is_an_error_naming_table_and_file(existing, tmp_path):
    with pytest.raises(ConnectorError) as caught:
        load(existing, people(table="absent", create=False), numbered((1, "one")))
    assert caught.value.message == (
        "Table s.absent does not exist in DuckDB file warehouse.duckdb; "
        "create it, or turn on 'create table' for this job."
    )

    missing_file = tmp_path / "other.duckdb"
    with pytest.raises(ConnectorError) as caught:
        load(missing_file, people(create=False), numbered((1, "one")))
    assert "Table s.t does not exist in DuckDB file other.duckdb" in caught.value.message
    assert not missing_file.exists()


def test_a_missing_column_lists_the_missing_and_the_existing_columns(existing):
    columns = [*PEOPLE, TargetColumn("email", "text"), TargetColumn("age", "integer")]

    with pytest.raises(ConnectorError) as caught:
        load(existing, people(columns=columns), numbered((1, "one", "a@b", 3)))

    assert caught.value.message == (
        "Table s.t in DuckDB file warehouse.duckdb has no column(s) email, age; its columns are id, name."
    )


def test_an_incompatible_type_names_the_column_and_both_types(existing):
    columns = [TargetColumn("id", "text"), TargetColumn("name", "text")]

    with pytest.raises(ConnectorError) as caught:
        load(existing, people(columns=columns), numbered(("1", "one")))

    assert caught.value.message == (
        "Table s.t in DuckDB file warehouse.duckdb cannot take the mapped values: column id is INTEGER but the "
        "mapping gives it text. Change the mapping's type or the column."
    )
    assert caught.value.column == "id"


def test_compatible_types_are_widened_into_the_existing_columns(db):
    execute(
        db,
        "CREATE TABLE main.wide (a BIGINT, b DECIMAL(20,4), c DOUBLE, d VARCHAR, e TIMESTAMP, f TIMESTAMPTZ, g JSON)",
    )
    columns = [
        TargetColumn("a", "integer"),
        TargetColumn("b", "integer"),
        TargetColumn("c", "integer"),
        TargetColumn("d", "integer"),
        TargetColumn("e", "date"),
        TargetColumn("f", "date"),
        TargetColumn("g", "text"),
    ]
    row = (7, 8, 9, 10, date(2024, 5, 6), date(2024, 5, 6), '{"a": [1, 2]}')

    load(db, LoadPlan("main", "wide", columns), numbered(row))

    assert fetch(db, "SELECT * FROM main.wide") == [
        (7, Decimal("8.0000"), 9.0, "10", datetime(2024, 5, 6), datetime(2024, 5, 6, tzinfo=UTC), '{"a": [1, 2]}')
    ]


def test_a_view_or_an_unmapped_required_column_is_refused_before_loading(existing):
    with pytest.raises(ConnectorError) as caught:
        load(existing, people(table="v"), numbered((1, "one")))
    assert caught.value.message == "s.v in DuckDB file warehouse.duckdb is a view, not a table; load into its table."

    with pytest.raises(ConnectorError) as caught:
        load(existing, people(columns=[TargetColumn("name", "text")]), numbered(("x",)))
    assert "NOT NULL column(s) id without a default that the job does not map" in caught.value.message


# -- values -----------------------------------------------------------------------------------
def test_every_value_type_round_trips_exactly(db):
    columns = [
        TargetColumn("t", "text"),
        TargetColumn("v", "varchar(10)"),
        TargetColumn("sm", "smallint"),
        TargetColumn("i", "integer"),
        TargetColumn("bi", "bigint"),
        TargetColumn("n", "numeric(38,9)"),
        TargetColumn("free", "numeric"),
        TargetColumn("dp", "double precision"),
        TargetColumn("r", "real"),
        TargetColumn("b", "boolean"),
        TargetColumn("d", "date"),
        TargetColumn("ts", "timestamp"),
        TargetColumn("tz", "timestamptz"),
        TargetColumn("u", "uuid"),
        TargetColumn("j", "jsonb"),
    ]
    tokyo = timezone(timedelta(hours=9))
    full = (
        "tab\there, newline\n, quote \" and ' ü 😀",
        "",
        -32768,
        2**31 - 1,
        -(2**63),
        Decimal("12345678901234567890123456789.123456789"),
        Decimal("-0.0000000001"),
        1.0000000000000002,
        0.5,
        True,
        date(1, 1, 1),
        datetime(2024, 2, 29, 23, 59, 59, 999999),
        datetime(2024, 1, 1, 9, 30, tzinfo=tokyo),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        {"k": [1, "two", None]},
    )
    others = ("x", "y", 1, 2, 3, Decimal("0E-9"), Decimal("1E+3"), float("inf"), -1.5, False, date(9999, 12, 31))
    others += (datetime(1970, 1, 1), datetime(2024, 6, 1, tzinfo=UTC), uuid.UUID(int=0), '["already", "text"]')

    load(db, LoadPlan("main", "all_types", columns, create_table=True), numbered(full, (None,) * 15, others))

    assert fetch(db, "SELECT data_type FROM duckdb_columns() WHERE table_name = 'all_types' ORDER BY column_index") == [
        (name,)
        for name in (
            "VARCHAR",
            "VARCHAR",
            "SMALLINT",
            "INTEGER",
            "BIGINT",
            "DECIMAL(38,9)",
            "DECIMAL(38,10)",
            "DOUBLE",
            "FLOAT",
            "BOOLEAN",
            "DATE",
            "TIMESTAMP",
            "TIMESTAMP WITH TIME ZONE",
            "UUID",
            "JSON",
        )
    ]
    rows = fetch(db, "SELECT * FROM main.all_types ORDER BY i NULLS FIRST")
    assert rows[0] == (None,) * 15
    stored = rows[2]
    assert stored[:12] == full[:12]
    assert stored[12] == datetime(2024, 1, 1, 0, 30, tzinfo=UTC)  # the same instant
    assert stored[13] == full[13]
    assert stored[14] == '{"k": [1, "two", null]}'
    assert rows[1][:12] == others[:12]
    assert rows[1][12:] == (datetime(2024, 6, 1, tzinfo=UTC), uuid.UUID(int=0), '["already", "text"]')
    assert str(rows[1][6]) == "1000.0000000000"


def test_decimals_that_duckdb_cannot_hold_exactly_are_refused(db):
    wide = [TargetColumn("amount", "numeric(40,2)")]
    with pytest.raises(ConnectorError) as caught:
        load(db, LoadPlan("main", "t", wide, create_table=True), numbered((Decimal("1.00"),)))
    assert caught.value.message == (
        "Column amount is numeric(40,2), but DuckDB decimals hold at most 38 digits; "
        "map it to numeric(38,2) or less, or to double precision."
    )

    free = [TargetColumn("amount", "numeric")]
    rows = numbered((Decimal("1.5"),), (Decimal("1.10000000000000"),), (Decimal("0.12345678901"),))
    with pytest.raises(ConnectorError) as caught:
        load(db, LoadPlan("main", "t", free, create_table=True), rows)
    assert (caught.value.line, caught.value.column, caught.value.value) == (4, "amount", "0.12345678901")
    assert "has more than 10 decimal places" in caught.value.message
    assert not db.exists()


# -- concurrency ---------------------------------------------------------------------------------
def test_a_file_held_by_another_process_fails_after_the_lock_timeout_and_may_be_retried(existing):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); sys.stdin.read()",
            str(existing),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(ConnectorError) as caught:
            load(existing, people(lock_timeout_seconds=1), numbered((3, "three")))
        waited = time.monotonic() - started
        with pytest.raises(ConnectorError) as checked:
            connector(existing).check(people(lock_timeout_seconds=1))
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)

    assert caught.value.retryable is True
    assert caught.value.message.startswith(
        "Another load or process holds the DuckDB file warehouse.duckdb (waited 1 s)"
    )
    assert 1 <= waited < 10
    assert checked.value.retryable is True
    # Once the other process lets go, the same load goes through.
    assert load(existing, people(), numbered((3, "three"))).rows_written == 1


# -- dry runs ----------------------------------------------------------------------------------------
def test_check_on_a_missing_file_or_table_says_what_would_be_created(existing, tmp_path):
    missing_file = tmp_path / "new.duckdb"

    assert connector(missing_file).check(people()).message == (
        "DuckDB file new.duckdb does not exist yet: table s.t would be created (the load would create it with 2 "
        "columns)."
    )
    result = connector(existing).check(people(table="later"))
    assert (result.table_exists, result.message) == (
        False,
        "Table s.later does not exist in DuckDB file warehouse.duckdb; it would be created (the load would "
        "create it with 2 columns).",
    )
    with pytest.raises(ConnectorError, match="Table s.later does not exist in DuckDB file warehouse.duckdb"):
        connector(existing).check(people(table="later", create=False))
    assert not missing_file.exists()


def test_check_on_an_existing_table_verifies_columns_and_writes_nothing(existing):
    before = (existing.read_bytes(), snapshot(existing))

    result = connector(existing).check(people())
    with pytest.raises(ConnectorError, match="cannot take the mapped values: column id is INTEGER"):
        connector(existing).check(people(columns=[TargetColumn("id", "boolean")]))
    with pytest.raises(ConnectorError, match=r"has no column\(s\) age"):
        connector(existing).check(people(columns=[*PEOPLE, TargetColumn("age", "integer")]))

    assert (result.table_exists, result.message) == (
        True,
        "Table s.t exists in DuckDB file warehouse.duckdb with the 2 mapped columns; the load would use INSERT.",
    )
    upsert = connector(existing).check(people(strategy="UPSERT", keys=("id",)))
    assert upsert.message.endswith("the load would use ON CONFLICT on its unique key.")
    assert (existing.read_bytes(), snapshot(existing)) == before
