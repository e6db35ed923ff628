"""INSERT, UPSERT and TRUNCATE_INSERT on a real PostgreSQL, with exact table contents and counts."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from credentials.connectors import ConnectorError, LoadPlan, TargetColumn, get_connector
from credentials.connectors.base import ConnectionParams
from tests import services
from tests.conftest import dest_credential_fields

COLUMNS = [TargetColumn("id", "integer", nullable=False), TargetColumn("name", "text"), TargetColumn("qty", "integer")]


def connector():
    return get_connector(ConnectionParams(**dest_credential_fields()))


def no_events(phase, message):
    pass


def plan(dest, strategy="INSERT", **extra):
    return LoadPlan(dest.schema, extra.pop("table", "t"), extra.pop("columns", COLUMNS), strategy, **extra)


def contents(dest, table="t"):
    return dest.execute(f'SELECT * FROM "{dest.schema}"."{table}" ORDER BY 1').fetchall()


def rows(*values, first_line=2):
    return [(first_line + index, value) for index, value in enumerate(values)]


def test_insert_appends(existing):
    result = connector().load(plan(existing), rows((4, "four", 40)), no_events)

    assert (result.rows_written, result.inserted, result.table_created) == (1, 1, False)
    assert contents(existing)[-1] == (4, "four", 40)
    assert len(contents(existing)) == 4


@pytest.mark.parametrize("primary_key", [True, False], ids=["on-conflict", "update-then-insert"])
def test_upsert_counts_inserted_updated_and_unchanged_rows(dest, primary_key):
    key = "PRIMARY KEY" if primary_key else ""
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id integer {key}, name text, qty integer)')
    dest.execute(f"INSERT INTO \"{dest.schema}\".t VALUES (1, 'one', 10), (2, 'two', 20), (3, 'three', 30)")
    incoming = rows((2, "two", 20), (3, "THREE", 33), (4, "four", None), (1, "one", None))

    result = connector().load(plan(dest, "UPSERT", key_columns=("id",)), incoming, no_events)

    assert (result.inserted, result.updated, result.unchanged, result.rows_written) == (1, 2, 1, 3)
    assert contents(dest) == [(1, "one", None), (2, "two", 20), (3, "THREE", 33), (4, "four", None)]


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

    assert first.table_created and (first.inserted, first.updated) == (2, 0)
    assert (second.inserted, second.updated, second.unchanged) == (1, 1, 1)
    got = dest.execute(f'SELECT region, day::text, n FROM "{dest.schema}".t ORDER BY 1, 2').fetchall()
    assert got == [("eu", "2026-01-01", 5), ("eu", "2026-01-02", 3), ("us", "2026-01-01", 2)]
    primary_key = dest.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
        (f'"{dest.schema}".t',),
    ).fetchone()[0]
    assert primary_key == "PRIMARY KEY (region, day)"


def test_upsert_refuses_a_key_twice_in_the_file_naming_both_lines(existing):
    before = contents(existing)
    incoming = rows((5, "a", 1), (6, "b", 2), (5, "c", 3))

    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(existing, "UPSERT", key_columns=("id",)), incoming, no_events)

    assert caught.value.message == (
        "The key (id=5) appears 2 times in the file (lines 2, 4); an UPSERT needs each key once. Nothing was written."
    )
    assert (caught.value.line, caught.value.column, caught.value.value) == (4, "id", "5")
    assert contents(existing) == before


@pytest.mark.parametrize("primary_key", [True, False], ids=["on-conflict", "update-then-insert"])
@pytest.mark.parametrize("key_only", [False, True], ids=["with-values", "key-only"])
def test_upsert_refuses_a_repeated_key_already_in_the_table(dest, primary_key, key_only):
    """A key the table holds, twice in the file: refused with its lines, however the upsert is done
    (ON CONFLICT DO UPDATE refuses it itself; DO NOTHING and UPDATE-then-INSERT would not)."""
    key = "PRIMARY KEY" if primary_key else ""
    extra = "" if key_only else ", name text"
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id integer {key}{extra})')
    dest.execute(f'INSERT INTO "{dest.schema}".t (id) VALUES (1), (2)')
    columns = [TargetColumn("id", "integer", nullable=False)] + ([] if key_only else [TargetColumn("name", "text")])
    values = [(3,), (2,), (2,)] if key_only else [(3, "c"), (2, "b"), (2, "B")]

    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(dest, "UPSERT", columns=columns, key_columns=("id",)), rows(*values), no_events)

    assert caught.value.message.startswith("The key (id=2) appears 2 times in the file (lines 3, 4)")
    assert contents(dest) == ([(1,), (2,)] if key_only else [(1, None), (2, None)])


def test_upsert_refuses_an_empty_key(dest):
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id integer, name text, qty integer)')
    columns = [TargetColumn("id", "integer"), TargetColumn("name", "text"), TargetColumn("qty", "integer")]
    with pytest.raises(ConnectorError) as caught:
        connector().load(
            plan(dest, "UPSERT", columns=columns, key_columns=("id",)),
            rows((5, "a", 1), (None, "b", 2)),
            no_events,
        )

    assert caught.value.line == 3
    assert caught.value.message == ("An UPSERT key column (id) is empty; every row needs its key. Nothing was written.")
    assert contents(dest) == []


@pytest.mark.parametrize("strategy", ["INSERT", "TRUNCATE_INSERT"])
def test_a_null_into_a_not_null_column_names_the_line_and_never_the_staging_table(existing, strategy):
    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(existing, strategy), rows((5, "a", 1), (None, "b", 2)), no_events)

    assert caught.value.line == 3
    assert 'null value in column "id" of ' in caught.value.message
    assert "etlportal_stage" not in caught.value.message


def test_truncate_insert_replaces_the_rows_and_keeps_views_grants_and_indexes(existing):
    schema = existing.schema
    existing.execute(f'CREATE VIEW "{schema}".big AS SELECT id, name FROM "{schema}".t WHERE qty > 15')
    existing.execute(f"DROP ROLE IF EXISTS reader_{schema}")
    existing.execute(f"CREATE ROLE reader_{schema}")
    try:
        existing.execute(f'GRANT SELECT ON "{schema}".t TO reader_{schema}')
        result = connector().load(plan(existing, "TRUNCATE_INSERT"), rows((7, "seven", 70), (8, "eight", 5)), no_events)

        assert (result.rows_written, result.inserted) == (2, 2)
        assert contents(existing) == [(7, "seven", 70), (8, "eight", 5)]
        assert existing.execute(f'SELECT * FROM "{schema}".big').fetchall() == [(7, "seven")]
        granted = existing.execute(
            "SELECT has_table_privilege(%s, %s, 'SELECT')", (f"reader_{schema}", f'"{schema}".t')
        ).fetchone()[0]
        assert granted is True
    finally:
        existing.execute(f'REVOKE ALL ON "{schema}".t FROM reader_{schema}')
        existing.execute(f"DROP ROLE reader_{schema}")


@pytest.mark.parametrize("strategy", ["INSERT", "UPSERT", "TRUNCATE_INSERT"])
def test_a_failure_at_the_last_row_leaves_the_table_as_it_was(existing, strategy):
    before = contents(existing)
    # The last row breaks NOT NULL: found by COPY after every other row was staged.
    incoming = rows(*[(100 + i, f"n{i}", i) for i in range(2000)], (None, "bad", 1))

    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(existing, strategy, key_columns=("id",)), incoming, no_events)

    assert caught.value.line == 2002
    assert contents(existing) == before


@pytest.mark.parametrize("kind", ["postgresql", "redshift"])
@pytest.mark.parametrize("strategy", ["INSERT", "UPSERT", "TRUNCATE_INSERT"])
def test_a_commit_gate_that_refuses_rolls_every_strategy_back(existing, strategy, kind):
    before = contents(existing)

    def refuse():
        raise RuntimeError("over budget")

    incoming = rows((8, "new", 8), (9, "new", 9)) if strategy == "INSERT" else rows((1, "changed", 1), (9, "new", 9))
    loader = get_connector(ConnectionParams(**{**dest_credential_fields(), "kind": kind}))
    with pytest.raises(RuntimeError):
        loader.load(plan(existing, strategy, key_columns=("id",)), incoming, no_events, refuse)

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
        time.sleep(0.2)
        for index in range(20000):
            yield 3 + index, (51 + index, "y", 1)

    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(existing), incoming(), no_events)

    assert caught.value.message.startswith("Lost the connection to PostgreSQL at ")
    assert "Nothing was written" in caught.value.message
    assert caught.value.retryable is True
    assert contents(existing) == before


def test_a_missing_table_without_create_table_is_named(dest):
    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(dest, table="nope"), rows((1, "a", 1)), no_events)

    assert caught.value.message.startswith(f"Table {dest.schema}.nope does not exist in database")
    assert "turn on 'create table'" in caught.value.message


def test_an_incompatible_column_type_is_refused_before_any_write(existing):
    columns = [TargetColumn("id", "integer"), TargetColumn("name", "text"), TargetColumn("qty", "text")]
    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(existing, columns=columns), rows((9, "a", "many")), no_events)

    assert caught.value.message == (
        f"Table {existing.schema}.t: column 'qty' is integer in the table but the mapping produces text; "
        "change the mapping's type to integer. Nothing was written."
    )


def test_check_reports_without_writing(existing):
    found = connector().check(plan(existing, "UPSERT", key_columns=("id",)))
    missing = connector().check(plan(existing, table="new_table", create_table=True))

    assert found.table_exists and found.message.endswith(
        "the load would use ON CONFLICT on its unique key, or for a clean UTF-8 file a COPY of the rows with new "
        "keys and a MERGE of the others."
    )
    assert not missing.table_exists and "would create it with 3 columns" in missing.message
    assert existing.execute("SELECT to_regclass(%s)", (f'"{existing.schema}".new_table',)).fetchone()[0] is None


def test_a_second_load_into_the_same_table_waits_then_is_refused(existing):
    """One load at a time per table: the advisory lock held by the first load refuses the second."""
    started, release = threading.Event(), threading.Event()

    def slow_rows():
        yield 2, (10, "first", 1)
        started.set()
        release.wait(10)

    first_error = []

    def first_load():
        try:
            connector().load(plan(existing), slow_rows(), no_events)
        except Exception as exc:  # pragma: no cover - reported below
            first_error.append(exc)

    thread = threading.Thread(target=first_load)
    thread.start()
    try:
        assert started.wait(10)
        with pytest.raises(ConnectorError) as caught:
            connector().load(plan(existing, lock_timeout_seconds=1), rows((11, "second", 1)), no_events)
    finally:
        release.set()
        thread.join(10)

    assert caught.value.message.startswith(f"Another load into {existing.schema}.t is in progress (waited 1 s")
    assert caught.value.retryable is True
    assert first_error == []
    assert [row[0] for row in contents(existing)] == [1, 2, 3, 10]


QUIRKY = ['we"ird', "semi;colon", "with space", "ünïcödé", "select"]


def test_quirky_identifiers_load_into_exactly_the_named_table(dest):
    schema = dest.schema
    dest.execute(f'CREATE TABLE "{schema}".decoy (x int)')
    columns = [TargetColumn(name, "text") for name in QUIRKY]
    table = 'Tab"le; DROP TABLE decoy; --'

    result = connector().load(
        LoadPlan(schema, table, columns, "INSERT", create_table=True), rows(tuple(QUIRKY)), no_events
    )

    assert result.table_created
    quoted = table.replace('"', '""')
    assert dest.execute(f'SELECT * FROM "{schema}"."{quoted}"').fetchall() == [tuple(QUIRKY)]
    names = dest.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    assert [name for (name,) in names] == QUIRKY
    tables = dest.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
    assert sorted(name for (name,) in tables.fetchall()) == sorted(["decoy", table])


@pytest.mark.parametrize("primary_key", [True, False], ids=["on-conflict", "update-then-insert"])
def test_upsert_compares_json_columns_as_text(dest, primary_key):
    key = "PRIMARY KEY" if primary_key else ""
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id integer {key}, doc json)')
    dest.execute(f"""INSERT INTO "{dest.schema}".t VALUES (1, '{{"a": 1}}'), (2, '[1]')""")
    columns = [TargetColumn("id", "integer", False), TargetColumn("doc", "json")]

    result = connector().load(
        plan(dest, "UPSERT", columns=columns, key_columns=("id",)),
        rows((1, '{"a": 1}'), (2, "[2]"), (3, "{}")),
        no_events,
    )

    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)


def test_timestamps_into_timestamptz_are_utc_whatever_the_server_zone(dest):
    from datetime import UTC, date, datetime

    dest.execute(f'CREATE TABLE "{dest.schema}".t (at timestamptz, day timestamptz)')
    zoned = get_connector(
        ConnectionParams(**dest_credential_fields(), options={"options": "-c TimeZone=America/New_York"})
    )
    columns = [TargetColumn("at", "timestamp"), TargetColumn("day", "date")]

    zoned.load(plan(dest, columns=columns), rows((datetime(2024, 1, 2, 10, 0), date(2024, 1, 2))), no_events)

    dest.execute("SET TIME ZONE 'UTC'")
    assert contents(dest) == [(datetime(2024, 1, 2, 10, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))]


def test_a_constraint_checked_at_commit_fails_the_load_with_a_message(dest):
    schema = dest.schema
    dest.execute(f'CREATE TABLE "{schema}".parent (id integer PRIMARY KEY)')
    dest.execute(
        f'CREATE TABLE "{schema}".t (id integer, parent integer REFERENCES "{schema}".parent '
        "DEFERRABLE INITIALLY DEFERRED)"
    )
    columns = [TargetColumn("id", "integer"), TargetColumn("parent", "integer")]

    with pytest.raises(ConnectorError) as caught:
        connector().load(plan(dest, columns=columns), rows((1, 99)), no_events)

    assert caught.value.message.startswith(f"PostgreSQL rejected the load into {schema}.t: insert or update on table")
    assert caught.value.message.endswith("Nothing was written.")
    assert contents(dest) == []


def test_a_cancel_interrupts_the_wait_for_another_load(existing):
    """The wait for the per-table lock happens in the server, where a cancel request reaches it."""
    started, release = threading.Event(), threading.Event()

    def slow_rows():
        yield 2, (10, "first", 1)
        started.set()
        release.wait(20)

    thread = threading.Thread(target=lambda: connector().load(plan(existing), slow_rows(), no_events))
    thread.start()
    try:
        assert started.wait(10)
        aborts = []
        timer = threading.Timer(1.0, lambda: aborts[0]())
        timer.start()
        began = time.monotonic()
        with pytest.raises(ConnectorError) as caught:
            connector().load(
                plan(existing, lock_timeout_seconds=30), rows((11, "x", 1)), no_events, register_cancel=aborts.append
            )
        waited = time.monotonic() - began
    finally:
        release.set()
        thread.join(20)

    assert "was cancelled; nothing was written" in caught.value.message
    assert waited < 30  # stopped by the cancel, not by the 30 s lock timeout
