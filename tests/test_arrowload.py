"""The Arrow path converts exactly as the Python converters, or refuses (then the row path runs)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from credentials.connectors import LoadPlan, TargetColumn, get_connector
from credentials.connectors.base import ConnectionParams
from credentials.connectors.postgresql import PushdownRefused
from jobs import pgbinary
from jobs.arrowload import Refused, compile_arrow, eligible
from jobs.pushdown import NotPushable
from jobs.transform import ColumnSpec, compile_transform
from tests.conftest import dest_credential_fields
from tests.test_pushdown import CASES, python_value

MARKERS = ("", "NULL")


def arrow_value(plan, raw: str):
    batch = pa.record_batch([pa.array([raw], pa.string())], names=["c0"])
    try:
        return plan.convert(batch).column(0)[0].as_py()
    except Refused as exc:
        return exc


@pytest.mark.parametrize(("type_sql", "options", "values"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_arrow_gives_the_python_value_or_refuses(type_sql, options, values):
    spec = ColumnSpec("v", type_sql, "raw", **options)
    transform = compile_transform(["raw"], [spec], null_markers=MARKERS)
    try:
        plan = compile_arrow(["raw"], [spec], null_markers=MARKERS)
    except NotPushable:
        return  # the row path converts this type
    disagreements, accepted, python_accepted = [], 0, 0
    for raw in values:
        arrow, python = arrow_value(plan, raw), python_value(transform, raw)
        python_accepted += not isinstance(python, Exception)
        if isinstance(arrow, Refused):
            continue
        accepted += 1
        if isinstance(python, Exception) or type(arrow) is not type(python) or arrow != python:
            disagreements.append((raw, python, arrow))
    assert disagreements == []
    assert accepted or not python_accepted  # a path that refused everything would agree vacuously


@pytest.mark.parametrize(("type_sql", "options", "values"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_block_converts_as_its_values_do_one_by_one(type_sql, options, values):
    """Whole blocks, with the default null marker (the empty string, compared rather than looked
    up) and empty values among the others: each value as on its own, an empty one NULL."""
    spec = ColumnSpec("v", type_sql, "raw", **options)
    try:
        plan = compile_arrow(["raw"], [spec])
    except NotPushable:
        return
    alone = {raw: arrow_value(plan, raw) for raw in [*values, ""]}
    accepted = [raw for raw in values if not isinstance(alone[raw], Refused)]
    for block in (accepted, ["", *accepted, ""]):
        if not block:
            continue
        batch = pa.record_batch([pa.array(block, pa.string())], names=["c0"])
        if isinstance(alone[""], Refused) and "" in block:  # an empty value in a NOT NULL column
            with pytest.raises(Refused):
                plan.convert(batch)
            continue
        assert plan.convert(batch).column(0).to_pylist() == [alone[raw] for raw in block]
    if not options.get("default") and options.get("nullable", True):
        assert alone[""] is None  # an empty value is NULL on the fast path too, whatever the type


def test_a_refused_value_refuses_its_whole_block():
    spec = ColumnSpec("v", "double precision", "raw")
    plan = compile_arrow(["raw"], [spec])
    batch = pa.record_batch([pa.array(["0", "1.5", "", "1e-400"], pa.string())], names=["c0"])
    with pytest.raises(Refused):  # 1e-400 is 0.0 to Arrow, an error to Python
        plan.convert(batch)
    batch = pa.record_batch([pa.array(["0", "-0.0", "", "0e5", "2"], pa.string())], names=["c0"])
    assert plan.convert(batch).column(0).to_pylist() == [0.0, -0.0, None, 0.0, 2.0]


def test_most_plain_values_take_the_arrow_path():
    spec = ColumnSpec("v", "numeric(6,2)", "raw")
    plan = compile_arrow(["raw"], [spec])
    assert str(arrow_value(plan, "12.5")) == "12.50"
    assert isinstance(arrow_value(plan, "12.345"), Refused)  # rounding: the row path rounds as Python


def test_only_clean_standard_utf8_files_are_eligible():
    clean = {
        "encoding": {"codec": "utf-8"},
        "confirmed": True,
        "problems": [],
        "header": True,
        "dialect": {"delimiter": ";", "quotechar": '"', "doublequote": True, "escapechar": ""},
    }
    assert eligible(clean) is None
    assert eligible({**clean, "encoding": {"codec": "cp1252"}}) == "the file is not UTF-8"
    assert eligible({**clean, "problems": [{"line": 4}]}) == "the inspection did not read every row cleanly"
    assert eligible({**clean, "dialect": {**clean["dialect"], "escapechar": "\\"}}) is not None


COLUMNS = [
    ColumnSpec("id", "bigint", "id", nullable=False),
    ColumnSpec("name", "text", "name", transform="upper"),
    ColumnSpec("amount", "numeric(10,2)", "amount"),
    ColumnSpec("qty", "integer", "qty", default="1"),
    ColumnSpec("paid", "boolean", "paid"),
    ColumnSpec("day", "date", "day"),
    ColumnSpec("at", "timestamptz", "at"),
    ColumnSpec("note", "text", "note", transform="trim"),
    ColumnSpec("total", "numeric(12,2)", expression="amount * qty - 1"),
]
FILE = (
    "id,name,amount,qty,paid,day,at,note\n"
    '1,ada,1.5,3,yes,2026-01-31,2026-01-31 10:00,"  a, ""quoted"" note "\n'
    '2,"grace\nhopper",2.50,,no,2026-02-01,2026-02-01 10:00:00+02:00,\n'
    "3,tab\there,0,NULL,t,2026-02-02,2026-02-02,back\\slash\n"
)


def plan_for(dest, table, strategy="INSERT", row_format="values"):
    columns = [TargetColumn(s.destination_column, s.column_type.sql, s.nullable) for s in COLUMNS]
    plan = LoadPlan(dest.schema, table, columns, strategy, create_table=True, key_columns=("id",))
    return dataclasses.replace(plan, row_format=row_format)


@pytest.mark.parametrize("strategy", ["INSERT", "UPSERT", "TRUNCATE_INSERT"])
def test_the_arrow_path_and_the_row_path_load_identical_tables(dest, tmp_path: Path, strategy):
    path = tmp_path / "f.csv"
    path.write_text(FILE)
    connector = get_connector(ConnectionParams(**dest_credential_fields()))
    header = FILE.splitlines()[0].split(",")
    transform = compile_transform(header, COLUMNS, null_markers=MARKERS)
    records = [(2, ["1", "ada", "1.5", "3", "yes", "2026-01-31", "2026-01-31 10:00", '  a, "quoted" note ']),
               (3, ["2", "grace\nhopper", "2.50", "", "no", "2026-02-01", "2026-02-01 10:00:00+02:00", ""]),
               (5, ["3", "tab\there", "0", "NULL", "t", "2026-02-02", "2026-02-02", "back\\slash"])]  # fmt: skip
    arrow = compile_arrow(header, COLUMNS, null_markers=MARKERS)

    connector.load(
        plan_for(dest, "slow", strategy), [(line, transform(line, f)) for line, f in records], lambda *e: None
    )
    result = connector.load(
        plan_for(dest, "fast", strategy, "arrow_tables"), arrow.batches(str(path), ","), lambda *e: None
    )

    assert result.rows_written == 3
    slow, fast = (dest.execute(f'SELECT * FROM "{dest.schema}".{t} ORDER BY id').fetchall() for t in ("slow", "fast"))
    assert fast == slow
    assert fast[1][1] == "GRACE\nHOPPER" and fast[0][-1] == 3.5  # 1.5 * 3 - 1


def test_a_value_arrow_refuses_stops_the_attempt(tmp_path: Path):
    path = tmp_path / "f.csv"
    path.write_text("id,name,amount,qty,paid,day,at,note\n1,a,12.5x,1,yes,2026-01-01,2026-01-01,x\n")
    arrow = compile_arrow(FILE.splitlines()[0].split(","), COLUMNS, null_markers=MARKERS)

    with pytest.raises(Refused):
        list(arrow.batches(str(path), ","))


def test_a_duplicate_upsert_key_sends_the_arrow_path_back(dest, tmp_path: Path):
    path = tmp_path / "f.csv"
    path.write_text(
        "id,name,amount,qty,paid,day,at,note\n1,a,1,1,yes,2026-01-01,2026-01-01,x\n1,b,1,1,no,2026-01-01,2026-01-01,y\n"
    )
    connector = get_connector(ConnectionParams(**dest_credential_fields()))
    arrow = compile_arrow(FILE.splitlines()[0].split(","), COLUMNS, null_markers=MARKERS)

    with pytest.raises(PushdownRefused):
        connector.load(plan_for(dest, "t", "UPSERT", "arrow_tables"), arrow.batches(str(path), ","), lambda *e: None)

    assert dest.execute("SELECT to_regclass(%s)", (f'"{dest.schema}".t',)).fetchone()[0] is None


def test_a_table_of_other_column_types_is_left_to_the_row_path(dest, tmp_path: Path):
    """Arrow writes "true" for a boolean; into a text column the row path stores "t"."""
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id bigint, paid text)')
    path = tmp_path / "f.csv"
    path.write_text("id,paid\n1,yes\n")
    specs = [ColumnSpec("id", "bigint", "id"), ColumnSpec("paid", "boolean", "paid")]
    plan = LoadPlan(dest.schema, "t", [TargetColumn("id", "bigint"), TargetColumn("paid", "boolean")])
    connector = get_connector(ConnectionParams(**dest_credential_fields()))

    with pytest.raises(PushdownRefused) as caught:
        connector.load(
            dataclasses.replace(plan, row_format="arrow_tables"),
            compile_arrow(["id", "paid"], specs).batches(str(path), ","),
            lambda *e: None,
        )

    assert str(caught.value) == "column 'paid' of the table is not of the mapping's type"
    assert dest.execute(f'SELECT count(*) FROM "{dest.schema}".t').fetchone()[0] == 0


def test_closing_the_batches_stops_the_converting_thread(tmp_path: Path):
    """The worker closes the batches when a COPY fails (contextlib.closing in runs.executor):
    the thread converting the next blocks stops then, before the file is closed under it."""
    path = tmp_path / "f.csv"
    path.write_text("id,name\n" + "".join(f"{n},name {n}\n" for n in range(300_000)))  # several blocks
    specs = [ColumnSpec("id", "bigint", "id"), ColumnSpec("name", "text", "name")]
    chunks = compile_arrow(["id", "name"], specs).batches(str(path), ",")
    next(chunks)
    assert [t for t in threading.enumerate() if t.name == "prefetch"]
    chunks.close()
    assert not [t for t in threading.enumerate() if t.name == "prefetch"]


def test_the_arrow_path_writes_binary_copy_data_where_every_column_has_its_exact_form(dest, tmp_path, monkeypatch):
    path = tmp_path / "f.csv"
    path.write_text(FILE)
    header = FILE.splitlines()[0].split(",")
    chosen = []
    real = pgbinary.encoder
    monkeypatch.setattr(pgbinary, "encoder", lambda *a: chosen.append(real(*a)) or chosen[-1])
    connector = get_connector(ConnectionParams(**dest_credential_fields()))

    connector.load(
        plan_for(dest, "fast", "INSERT", "arrow_tables"),
        compile_arrow(header, COLUMNS, null_markers=MARKERS).batches(str(path), ","),
        lambda *e: None,
    )

    assert len(chosen) == 1 and chosen[0] is not None


def test_a_column_without_an_exact_binary_form_sends_the_blocks_as_csv(dest, tmp_path):
    """numeric(30,10) has no binary form here (wider than an int64): the same table, through CSV."""
    path = tmp_path / "f.csv"
    path.write_text("id,big\n1,12345678901234567890.0123456789\n2,\n3,-0.5\n")
    specs = [ColumnSpec("id", "bigint", "id"), ColumnSpec("big", "numeric(30,10)", "big")]
    columns = [TargetColumn(s.destination_column, s.column_type.sql, s.nullable) for s in specs]
    transform = compile_transform(["id", "big"], specs)
    connector = get_connector(ConnectionParams(**dest_credential_fields()))
    records = [(2, ["1", "12345678901234567890.0123456789"]), (3, ["2", ""]), (4, ["3", "-0.5"])]

    connector.load(
        LoadPlan(dest.schema, "slow", columns, create_table=True),
        [(n, transform(n, f)) for n, f in records],
        lambda *e: None,
    )
    connector.load(
        LoadPlan(dest.schema, "fast", columns, create_table=True, row_format="arrow_tables"),
        compile_arrow(["id", "big"], specs).batches(str(path), ","),
        lambda *e: None,
    )

    slow, fast = (dest.execute(f'SELECT * FROM "{dest.schema}".{t} ORDER BY id').fetchall() for t in ("slow", "fast"))
    assert fast == slow
    assert str(fast[0][1]) == "12345678901234567890.0123456789"


@pytest.mark.parametrize(
    ("definition", "why"),
    [
        ("id bigint PRIMARY KEY, qty integer", "duplicate key value violates unique constraint"),
        ("id bigint, qty integer NOT NULL", 'null value in column "qty"'),
    ],
)
def test_a_row_the_table_refuses_in_binary_sends_the_arrow_path_back(dest, tmp_path, definition, why):
    """The server's refusal of binary COPY data is a PushdownRefused too: the row path then names the line."""
    dest.execute(f'CREATE TABLE "{dest.schema}".t ({definition})')
    dest.execute(f'INSERT INTO "{dest.schema}".t VALUES (1, 5)')
    path = tmp_path / "f.csv"
    path.write_text("id,qty\n2,7\n1,\n")
    specs = [ColumnSpec("id", "bigint", "id"), ColumnSpec("qty", "integer", "qty")]
    plan = LoadPlan(
        dest.schema, "t", [TargetColumn(s.destination_column, s.column_type.sql, s.nullable) for s in specs]
    )
    connector = get_connector(ConnectionParams(**dest_credential_fields()))

    with pytest.raises(PushdownRefused, match=why):
        connector.load(
            dataclasses.replace(plan, row_format="arrow_tables"),
            compile_arrow(["id", "qty"], specs).batches(str(path), ","),
            lambda *e: None,
        )

    assert dest.execute(f'SELECT * FROM "{dest.schema}".t').fetchall() == [(1, 5)]


def test_a_block_of_other_column_types_than_the_first_sends_the_arrow_path_back(dest):
    """Binary COPY is chosen from the first block's types; a later block of other types cannot
    follow it (no conversion does that today): refused, nothing written, the row path runs."""
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id bigint)')
    blocks = [(1, pa.table({"id": pa.array([1], pa.int64())})), (1, pa.table({"id": pa.array([2], pa.int32())}))]
    plan = LoadPlan(dest.schema, "t", [TargetColumn("id", "bigint")], row_format="arrow_tables")
    connector = get_connector(ConnectionParams(**dest_credential_fields()))

    with pytest.raises(PushdownRefused, match="column types"):
        connector.load(plan, iter(blocks), lambda *e: None)

    assert dest.execute(f'SELECT count(*) FROM "{dest.schema}".t').fetchone()[0] == 0
