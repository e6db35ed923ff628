"""The Arrow path's UPSERT on one integer key: rows split by whether the table holds their key.

New keys are COPYed straight into the table, existing ones staged and MERGEd in batches on a
writing thread (PostgresConnector._upsert_split, jobs.keyset). Every test runs on a real
PostgreSQL, with small blocks and batches so that a file of a few thousand rows crosses many.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pytest

from credentials.connectors import LoadPlan, TargetColumn, get_connector
from credentials.connectors.base import ConnectionParams, ConnectorError
from credentials.connectors.postgresql import PushdownRefused, _SplitWriter
from jobs import arrowload
from jobs.arrowload import compile_arrow
from jobs.keyset import ExistingKeys, RepeatedKey
from jobs.transform import ColumnSpec
from tests import services
from tests.conftest import dest_credential_fields

SPLIT = "Copying rows with new keys into"
STAGED = "Copying rows into staging"


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(arrowload, "BLOCK_SIZE", 4096)  # about 200 rows a block


def connector(**attributes):
    made = get_connector(ConnectionParams(**dest_credential_fields()))
    made.split_upsert_batch_bytes = 3000  # a COPY (and a MERGE) every block or so
    for name, value in attributes.items():
        setattr(made, name, value)
    return made


def specs(key_type="bigint"):
    return [
        ColumnSpec("id", key_type, "id", nullable=False),
        ColumnSpec("name", "text", "name", transform="trim"),
        ColumnSpec("qty", "integer", "qty"),
    ]


def plan(dest, table, key_type="bigint", columns=None):
    columns = columns or specs(key_type)
    targets = [TargetColumn(s.destination_column, s.column_type.sql, s.nullable) for s in columns]
    made = LoadPlan(dest.schema, table, targets, "UPSERT", create_table=True, key_columns=("id",))
    return dataclasses.replace(made, row_format="arrow_tables")


def write(path: Path, rows) -> Path:
    path.write_text("id,name,qty\n" + "".join(f"{i},{name},{qty}\n" for i, name, qty in rows), encoding="utf-8")
    return path


def batches(path: Path, columns=None, on_rows=None):
    columns = columns or specs()
    sources = [s.source_column for s in columns if s.source_column]
    return compile_arrow(sources, columns).batches(str(path), ",", on_rows=on_rows)


def load(dest, made, path: Path, table="t", key_type="bigint", columns=None, on_event=None):
    events = []

    def record(phase, message):
        events.append(message)
        if on_event is not None:
            on_event(message)

    columns = columns or specs(key_type)
    result = made.load(plan(dest, table, key_type, columns), batches(path, columns), record)
    return result, events


def table_rows(dest, table="t"):
    return dest.execute(f'SELECT * FROM "{dest.schema}"."{table}" ORDER BY id').fetchall()


def make_table(dest, table="t", key_type="bigint", rows=()):
    dest.execute(f'CREATE TABLE "{dest.schema}"."{table}" (id {key_type} PRIMARY KEY, name text, qty integer)')
    with dest.cursor() as cursor, cursor.copy(f'COPY "{dest.schema}"."{table}" FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


# Keys 2, 4, ... 4000 in the table; the file holds 1 ... 3000: odd keys new, even keys existing,
# every third existing row with another name (one of them to NULL, one to unicode).
TABLE = [(i, f"name {i}", i % 97) for i in range(2, 4001, 2)]


def file_rows():
    yield from ((i, f"new {i}", 1) for i in range(10001, 10601))  # blocks of new keys only
    yield from ((i, f"name {i}", i % 97) for i in range(2, 1201, 2))  # blocks of existing keys only
    for i in range(1201, 3001):
        if i % 2 and i % 500 == 1:
            yield i, "", ""  # a new row of NULLs
        elif i % 2 == 0 and i % 3 == 0:
            yield i, ("Ünïcode ✓" if i == 1206 else "" if i == 1212 else f" changed {i} "), i % 97
        else:
            yield i, f"name {i}", i % 97


def test_the_split_upsert_writes_what_the_staged_upsert_writes(dest, tmp_path):
    path = write(tmp_path / "f.csv", file_rows())
    make_table(dest, "split", rows=TABLE)
    make_table(dest, "staged", rows=TABLE)

    split, split_events = load(dest, connector(), path, "split")
    staged, staged_events = load(dest, connector(split_upsert_max_keys=0), path, "staged")

    assert any(SPLIT in e for e in split_events) and not any(STAGED in e for e in split_events)
    assert any(STAGED in e for e in staged_events) and not any(SPLIT in e for e in staged_events)
    assert table_rows(dest, "split") == table_rows(dest, "staged")
    assert (split.inserted, split.updated, split.unchanged) == (staged.inserted, staged.updated, staged.unchanged)
    changed = sum(1 for i in range(1202, 3001, 2) if i % 3 == 0)
    assert (split.inserted, split.updated, split.unchanged) == (600 + 900, changed, 600 + 900 - changed)
    assert split.rows_written == 1500 + changed
    rows = {i: (name, qty) for i, name, qty in table_rows(dest, "split")}
    assert len(rows) == 2000 + 1500  # the table's, and the new ones
    assert rows[1206] == ("Ünïcode ✓", 1206 % 97)
    assert rows[1212] == (None, 1212 % 97)  # an empty name is NULL, like every other load
    assert rows[1218] == ("changed 1218", 1218 % 97)  # trimmed
    assert rows[1501] == (None, None)
    assert rows[10600] == ("new 10600", 1)
    assert rows[4000] == ("name 4000", 4000 % 97)  # not in the file: untouched


def test_a_file_of_only_its_header_writes_nothing(dest, tmp_path):
    make_table(dest, rows=[(1, "one", 1)])

    result, _ = load(dest, connector(), write(tmp_path / "f.csv", []))

    assert (result.rows_written, result.inserted, result.updated, result.unchanged) == (0, 0, 0, 0)
    assert table_rows(dest) == [(1, "one", 1)]


def test_a_column_without_a_binary_form_is_sent_as_csv(dest, tmp_path, monkeypatch):
    """numeric wider than 18 digits has no binary encoder here (jobs.pgbinary): CSV COPYs, same result."""
    columns = [*specs()[:2], ColumnSpec("qty", "numeric(30,2)", "qty")]
    for table in ("split", "staged"):
        dest.execute(f'CREATE TABLE "{dest.schema}".{table} (id bigint PRIMARY KEY, name text, qty numeric(30,2))')
        dest.execute(f"INSERT INTO \"{dest.schema}\".{table} SELECT i, 'old', i FROM generate_series(2, 400, 2) i")
    path = write(
        tmp_path / "f.csv", [(i, "old", f"{i}.00" if i % 4 else "123456789012345678901234.5") for i in range(1, 501)]
    )
    formats = []
    copy = _SplitWriter._copy
    monkeypatch.setattr(_SplitWriter, "_copy", lambda self, *a: formats.append(self.binary) or copy(self, *a))

    split, events = load(dest, connector(), path, "split", columns=columns)
    staged, _ = load(dest, connector(split_upsert_max_keys=0), path, "staged", columns=columns)

    assert any(SPLIT in e for e in events) and formats and not any(formats)
    assert table_rows(dest, "split") == table_rows(dest, "staged")
    assert (split.inserted, split.updated, split.unchanged) == (staged.inserted, staged.updated, staged.unchanged)
    assert (split.inserted, split.updated, split.unchanged) == (300, 100, 100)


def test_leaving_early_stops_the_writing_thread_and_writes_nothing(dest, tmp_path):
    """A cancel (here any exception from on_rows, on the run's thread) while batches are being written."""
    make_table(dest, rows=[(i, "old", 1) for i in range(1, 1001)])
    path = write(tmp_path / "f.csv", [(i, "new", 2) for i in range(1, 3001)])
    seen = []

    def on_rows(count):
        seen.append(count)
        if len(seen) == 6:
            raise KeyboardInterrupt("stop")

    with pytest.raises(KeyboardInterrupt):
        connector().load(plan(dest, "t"), batches(path, on_rows=on_rows), lambda *e: None)

    assert not [t for t in threading.enumerate() if t.name == "upsert-writer"]
    assert table_rows(dest) == [(i, "old", 1) for i in range(1, 1001)]


def test_a_cancel_while_the_writing_thread_merges_rolls_everything_back(dest, tmp_path):
    """Another session holds key 1, so the first MERGE waits on it; the run's cancel ends that statement."""
    make_table(dest, rows=[(i, "old", 1) for i in range(1, 1001)])
    path = write(tmp_path / "f.csv", [(i, "new", 2) for i in range(1, 3001)])
    cancels = []
    finished = threading.Event()  # the load has ended: stop watching

    def cancel_once_the_merge_waits():
        with psycopg.connect(services.DEST_URL, autocommit=True) as watcher:
            for _ in range(600):
                waiting = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                    [f'%MERGE INTO "{dest.schema}"%'],
                ).fetchone()[0]
                if waiting and cancels:
                    cancels[0]()
                    return
                if finished.wait(0.05):
                    return
        holder.rollback()  # no MERGE waited within 30 s: let the load end, and the test fail

    with psycopg.connect(services.DEST_URL) as holder:
        holder.execute(f'SELECT * FROM "{dest.schema}".t WHERE id = 1 FOR UPDATE')
        thread = threading.Thread(target=cancel_once_the_merge_waits)
        thread.start()
        try:
            with pytest.raises(ConnectorError, match="was cancelled; nothing was written"):
                connector().load(plan(dest, "t"), batches(path), lambda *e: None, register_cancel=cancels.append)
        finally:
            finished.set()
            thread.join()
            holder.rollback()

    assert not [t for t in threading.enumerate() if t.name == "upsert-writer"]
    assert table_rows(dest) == [(i, "old", 1) for i in range(1, 1001)]


@pytest.mark.parametrize("key_type", ["smallint", "integer"])
def test_smaller_integer_keys_split_too(dest, tmp_path, key_type):
    make_table(dest, key_type=key_type, rows=[(i, f"name {i}", 1) for i in range(2, 201, 2)])
    path = write(tmp_path / "f.csv", [(i, f"name {i}", 1 if i % 4 else 2) for i in range(1, 301)])

    result, events = load(dest, connector(), path, key_type=key_type)

    assert any(SPLIT in e for e in events)
    assert (result.inserted, result.updated, result.unchanged) == (200, 50, 50)
    assert table_rows(dest) == [(i, f"name {i}", 1 if i % 4 else 2) for i in range(1, 301)]


def test_a_table_of_only_keys_gets_the_missing_ones(dest, tmp_path):
    """Key 60 is deleted by another session during the load: like ON CONFLICT DO NOTHING, it comes back."""
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id bigint PRIMARY KEY)')
    dest.execute(f'INSERT INTO "{dest.schema}".t SELECT generate_series(1, 100)')
    path = tmp_path / "f.csv"
    path.write_text("id\n" + "".join(f"{i}\n" for i in range(51, 251)))
    columns = [ColumnSpec("id", "bigint", "id", nullable=False)]

    def delete_key_60(message):
        if SPLIT in message:
            with psycopg.connect(services.DEST_URL, autocommit=True) as other:
                other.execute(f'DELETE FROM "{dest.schema}".t WHERE id = 60')

    result, events = load(dest, connector(), path, columns=columns, on_event=delete_key_60)

    assert any(SPLIT in e for e in events)
    assert (result.inserted, result.updated, result.unchanged) == (151, 0, 49)
    assert [row[0] for row in table_rows(dest)] == list(range(1, 251))


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        ([(1, "a", 1), (2, "b", 2), *((i, "x", 1) for i in range(10, 400)), (2, "again", 3)], "more than once"),
        ([(5, "a", 1), *((i, "x", 1) for i in range(10, 400)), (5, "again", 3)], "duplicate key"),
        ([(5, "a", 1), *((i, "x", 1) for i in range(10, 400)), ("", "no key", 2)], "empty UPSERT key"),
    ],
    ids=["existing-key-twice", "new-key-twice", "empty-key"],
)
def test_a_repeated_or_empty_key_sends_the_load_to_the_row_path_with_nothing_written(dest, tmp_path, rows, why):
    """The row path names the lines (tests/test_postgres_strategies.py); here nothing may be left behind,
    though earlier batches were already written when the problem came."""
    make_table(dest, rows=[(1, "one", 1), (2, "two", 2), (3, "three", 3)])
    path = write(tmp_path / "f.csv", rows)
    columns = specs()
    columns[0] = ColumnSpec("id", "bigint", "id")  # nullable in the mapping: the key check, not the converter's

    with pytest.raises(PushdownRefused) as caught:
        load(dest, connector(), path, columns=columns)

    assert why in str(caught.value)
    assert table_rows(dest) == [(1, "one", 1), (2, "two", 2), (3, "three", 3)]


def test_a_row_the_merge_refuses_rolls_everything_back(dest, tmp_path):
    """An error on the writing thread (here a CHECK constraint on an updated row) reaches the load."""
    make_table(dest, rows=[(i, "old", 1) for i in range(1, 401)])
    dest.execute(f'ALTER TABLE "{dest.schema}".t ADD CHECK (qty < 100)')
    path = write(tmp_path / "f.csv", [(i, "new", 500 if i == 390 else 2) for i in range(1, 801)])

    with pytest.raises(PushdownRefused) as caught:
        load(dest, connector(), path)

    assert "check constraint" in str(caught.value)
    assert table_rows(dest) == [(i, "old", 1) for i in range(1, 401)]


def test_a_row_deleted_meanwhile_by_another_session_is_inserted_again(dest, tmp_path):
    make_table(dest, rows=[(i, "old", 1) for i in range(1, 101)])
    path = write(tmp_path / "f.csv", [(i, "new" if i == 50 else "old", 1) for i in range(1, 201)])

    def delete_key_50(message):
        if SPLIT in message:  # the table's keys were read: 50 is an existing key
            with psycopg.connect(services.DEST_URL, autocommit=True) as other:
                other.execute(f'DELETE FROM "{dest.schema}".t WHERE id = 50')

    result, _ = load(dest, connector(), path, on_event=delete_key_50)

    assert (result.inserted, result.updated, result.unchanged) == (101, 0, 99)
    assert table_rows(dest) == [(i, "new" if i == 50 else "old", 1) for i in range(1, 201)]


def test_a_key_written_meanwhile_by_another_session_sends_the_load_to_the_row_path(dest, tmp_path):
    make_table(dest, rows=[(i, "old", 1) for i in range(1, 101)])
    path = write(tmp_path / "f.csv", [(i, "new", 2) for i in range(1, 201)])

    def insert_key_150(message):
        if SPLIT in message:  # the table's keys were read: 150 is a new key
            with psycopg.connect(services.DEST_URL, autocommit=True) as other:
                other.execute(f"INSERT INTO \"{dest.schema}\".t VALUES (150, 'theirs', 9)")

    with pytest.raises(PushdownRefused) as caught:
        load(dest, connector(), path, on_event=insert_key_150)

    assert "duplicate key" in str(caught.value) and "Key (id)=(150) already exists." in str(caught.value)
    assert table_rows(dest) == [*((i, "old", 1) for i in range(1, 101)), (150, "theirs", 9)]


@pytest.mark.parametrize(
    ("definition", "key_type", "tweak"),
    [
        ("id text PRIMARY KEY, name text, qty integer", "text", {}),
        ("id bigint PRIMARY KEY, name text, qty integer", "bigint", {"split_upsert_max_keys": 2}),
        ("id bigint PRIMARY KEY, name text, qty integer", "bigint", {"split_upsert_max_keys": 2, "analyze": True}),
        ("id bigint, name text, qty integer", "bigint", {}),  # no unique key: UPDATE then INSERT
        ("id bigint, name text, qty integer, UNIQUE (id) DEFERRABLE INITIALLY DEFERRED", "bigint", {}),
        ("id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text, qty integer", "bigint", {"trigger": True}),
    ],
    ids=[
        "text-key",
        "more-keys-than-the-limit",
        "estimated-above-the-limit",
        "no-unique-key",
        "deferrable-key",
        "a-trigger",
    ],  # fmt: skip
)
def test_other_upserts_keep_the_staged_path(dest, tmp_path, definition, key_type, tweak):
    """A deferrable key cannot be ON CONFLICT's arbiter: it is loaded as a table without one.
    A table with a trigger of its own keeps ON CONFLICT, which runs BEFORE triggers on the incoming row."""
    dest.execute(f'CREATE TABLE "{dest.schema}".t ({definition})')
    dest.execute(f"INSERT INTO \"{dest.schema}\".t VALUES ('1', 'one', 1), ('2', 'two', 2), ('3', 'three', 3)")
    if tweak.pop("analyze", False):
        dest.execute(f'ANALYZE "{dest.schema}".t')
    if tweak.pop("trigger", False):
        dest.execute(
            f'CREATE FUNCTION "{dest.schema}".keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$'
        )
        dest.execute(
            f'CREATE TRIGGER keep BEFORE INSERT ON "{dest.schema}".t '
            f'FOR EACH ROW EXECUTE FUNCTION "{dest.schema}".keep()'
        )
    path = write(tmp_path / "f.csv", [(2, "TWO", 2), (3, "three", 3), (4, "four", 4)])

    result, events = load(dest, connector(**tweak), path, key_type=key_type)

    assert any(STAGED in e for e in events) and not any(SPLIT in e for e in events)
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    assert [(str(i), n, q) for i, n, q in table_rows(dest)] == [
        ("1", "one", 1), ("2", "TWO", 2), ("3", "three", 3), ("4", "four", 4)
    ]  # fmt: skip


# -- jobs.keyset -------------------------------------------------------------------------------
def fetched(dest, values_sql: str) -> bytes:
    return dest.execute(f"SELECT array_send(ARRAY({values_sql}))", binary=True).fetchone()[0]


def test_keys_come_from_array_send_exactly(dest):
    extremes = [-(2**63), -1, 0, 1, 2**31, 2**63 - 1]
    keys = ExistingKeys.from_array_send(
        fetched(dest, f"SELECT unnest(ARRAY{extremes}::bigint[]) UNION ALL SELECT generate_series(100, 200)::bigint")
    )
    assert len(keys) == 6 + 101
    found = keys.existing(pa.array([2**63 - 1, 5, 150, -(2**63), 201], pa.int64()))
    assert found.tolist() == [True, False, True, True, False]
    assert len(ExistingKeys.from_array_send(fetched(dest, "SELECT 1::bigint WHERE false"))) == 0


def test_keys_of_another_type_or_with_nulls_are_refused(dest):
    with pytest.raises(ValueError):
        ExistingKeys.from_array_send(fetched(dest, "SELECT generate_series(1, 3)"))  # integer, not bigint
    with pytest.raises(ValueError):
        ExistingKeys.from_array_send(fetched(dest, "SELECT unnest(ARRAY[1, NULL]::bigint[])"))


def test_a_key_of_the_table_found_twice_is_refused():
    keys = ExistingKeys(np.array([30, 10, 20], np.int64))
    assert keys.existing(pa.chunked_array([pa.array([10, 11], pa.int32())])).tolist() == [True, False]
    with pytest.raises(RepeatedKey):
        keys.existing(pa.array([20, 20], pa.int64()))  # twice in one block
    keys = ExistingKeys(np.array([30, 10, 20], np.int64))
    keys.existing(pa.array([20], pa.int64()))
    with pytest.raises(RepeatedKey):
        keys.existing(pa.array([5, 20], pa.int64()))  # in a later block
    assert ExistingKeys(np.empty(0, np.int64)).existing(pa.array([1, 2], pa.int64())).tolist() == [False, False]


def test_a_trigger_that_rewrites_the_incoming_row_counts_as_on_conflict_does(dest, tmp_path):
    """The trigger lowercases names: a file row equal to the stored one once lowercased is unchanged."""
    make_table(dest, rows=[(1, "one", 1), (2, "two", 2)])
    dest.execute(
        f'CREATE FUNCTION "{dest.schema}".lower_name() RETURNS trigger LANGUAGE plpgsql AS '
        "$$ BEGIN NEW.name := lower(NEW.name); RETURN NEW; END $$"
    )
    dest.execute(
        f'CREATE TRIGGER lower_name BEFORE INSERT OR UPDATE ON "{dest.schema}".t '
        f'FOR EACH ROW EXECUTE FUNCTION "{dest.schema}".lower_name()'
    )
    path = write(tmp_path / "f.csv", [(1, "ONE", 1), (2, "Deux", 2), (3, "THREE", 3)])

    result, events = load(dest, connector(), path)

    assert not any(SPLIT in e for e in events)
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    assert table_rows(dest) == [(1, "one", 1), (2, "deux", 2), (3, "three", 3)]


def test_a_table_under_row_level_security_keeps_the_staged_path(dest, tmp_path):
    """COPY into a table whose rows a policy filters is refused by PostgreSQL; INSERT ... ON CONFLICT is not."""
    role = f"etl_rls_{uuid.uuid4().hex[:8]}"
    make_table(dest, rows=[(1, "one", 1), (2, "two", 2)])
    dest.execute(f"CREATE ROLE {role} LOGIN")
    try:
        dest.execute(f'GRANT USAGE ON SCHEMA "{dest.schema}" TO {role}')
        dest.execute(f'GRANT SELECT, INSERT, UPDATE ON "{dest.schema}".t TO {role}')
        dest.execute(f'ALTER TABLE "{dest.schema}".t ENABLE ROW LEVEL SECURITY')
        dest.execute(f'CREATE POLICY everything ON "{dest.schema}".t TO {role} USING (true) WITH CHECK (qty < 100)')
        made = get_connector(ConnectionParams(**{**dest_credential_fields(), "username": role}))
        path = write(tmp_path / "f.csv", [(1, "one", 1), (2, "TWO", 2), (3, "three", 3)])

        result, events = load(dest, made, path)

        assert not any(SPLIT in e for e in events) and any(STAGED in e for e in events)
        assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
        assert table_rows(dest) == [(1, "one", 1), (2, "TWO", 2), (3, "three", 3)]
    finally:
        dest.execute(f"DROP OWNED BY {role}")
        dest.execute(f"DROP ROLE {role}")


def test_an_identity_key_always_generated_keeps_the_staged_path(dest):
    """COPY would write the file's keys into it; the staged load refuses them, as INSERT does."""
    dest.execute(
        f'CREATE TABLE "{dest.schema}".t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text, qty integer)'
    )

    found = connector().check(dataclasses.replace(plan(dest, "t"), create_table=False))

    assert found.message.endswith("the load would use ON CONFLICT on its unique key.")
