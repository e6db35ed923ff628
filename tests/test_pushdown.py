"""The fast path's SQL gives exactly what the Python converters give, or refuses (then the row path runs).

Each raw value goes through both: the mapping's SQL on the real destination server, and the
row path's compiled transform. Where the SQL produces a value it must equal the Python value;
where Python rejects a value the SQL must raise. (The SQL may also raise where Python accepts:
that only costs a fall back to the row path.)
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from credentials.connectors import LoadPlan, TargetColumn, get_connector
from credentials.connectors.base import ConnectionParams
from credentials.connectors.postgresql import PushdownRefused
from jobs.errors import SourceError
from jobs.pushdown import WHITESPACE, NotPushable, RawRowRefused, compile_pushdown
from jobs.transform import ColumnSpec, compile_transform
from tests.conftest import dest_credential_fields

ODD_SPACES = "\u00a0\u2003\u3000\x0b\x1c"
INTEGERS = ["42", " 42 ", "+7", "-0", "007", "00000000000000000000042", "1.5", "1e3", "", "abc", "0x1F", "1_000",
            "١٢", "9223372036854775807", "9223372036854775808", "32767", "32768", "-2147483648", ODD_SPACES + "5",
            "4 2", "--1", "+"]  # fmt: skip
DECIMALS = ["12.345", "12.355", "-12.345", "1e2", "1E-2", ".5", "5.", "999.995", "NaN", "Infinity", "1_0", "1,5",
            " 3.14 ", "+0.001", "-0.004", "1e100000", "abc", "."]  # fmt: skip
FLOATS = ["1.5", "1e308", "1e309", "1e-400", "5e-324", "-0.0", "nan", "inf", "0.1", " 2.5e3 ", "1_0"]
BOOLEANS = ["true", "TRUE", " Yes ", "y", "1", "0", "on", "OFF", "f", "tr", "ye", "yeſ", "maybe", "\u00a0t\u00a0"]
DATES = ["2026-01-31", "2026-02-29", "2024-02-29", "0000-01-01", "20260131", "2026-W05-6", " 2026-01-31 ",
         "2026-1-31", "31/01/2026", "9999-12-31", "2026-01-31T00:00"]  # fmt: skip
TIMESTAMPS = ["2026-01-31 10:11:12", "2026-01-31T10:11", "2026-01-31 24:00:00", "2026-01-31 10:11:60",
              "2026-01-31 10:11:12.5", "2026-01-31 10:11:12.1234567", "2026-01-31", "2026-01-31 10:11:12Z",
              "2026-01-31 10:11:12+02:00", "2026-01-31 10:11:12+02:75", "2026-01-31 10:11:12-15:59",
              "2026-01-31 10:11:12+16:00", "20260131T101112"]  # fmt: skip
TEXTS = ["plain", "  spaced  ", "tab\there", "new\nline", "back\\slash", "sep\x1fchar", "ünïcödé", "ß", "Straße",
         "ıi", "\\N", "x" * 5000]  # fmt: skip

CASES = [
    ("smallint", {}, INTEGERS),
    ("integer", {}, INTEGERS),
    ("bigint", {}, INTEGERS),
    ("numeric(6,2)", {}, DECIMALS),
    ("numeric(30,10)", {}, DECIMALS),
    ("double precision", {}, FLOATS),
    ("boolean", {}, BOOLEANS),
    ("boolean", {"true_words": ("si",), "false_words": ("no",)}, ["si", "SI", "no", "yes", "x"]),
    ("date", {}, DATES),
    ("timestamp", {}, TIMESTAMPS),
    ("timestamptz", {}, TIMESTAMPS),
    ("text", {}, TEXTS),
    ("varchar(4)", {}, ["abcd", "abcde", "ßßßß", "ab  "]),
    (
        "uuid",
        {},
        [
            str(uuid.UUID(int=7)),
            "{" + str(uuid.UUID(int=8)) + "}",
            uuid.UUID(int=9).hex.upper(),
            "nope",
            "urn:uuid:" + str(uuid.UUID(int=10)),
        ],
    ),  # fmt: skip
    ("jsonb", {}, ['{"a": 1}', "[1, 2.50]", "NaN", "{'a': 1}", '"x"', " 1 "]),
    ("text", {"transform": "upper"}, TEXTS),
    ("text", {"transform": "lower"}, ["ABC", "ÀÉ", "İ", "MiXeD"]),
    ("text", {"transform": "trim"}, [ODD_SPACES + "x" + ODD_SPACES, "  ", "a b"]),
    ("text", {"transform": "ltrim"}, [ODD_SPACES + "x  "]),
    ("text", {"transform": "rtrim"}, ["  x" + ODD_SPACES]),
    ("text", {"transform": "replace", "transform_args": {"from": "-", "to": ""}}, ["a-b-c", "--", "none"]),
    ("text", {"transform": "substring", "transform_args": {"start": 2, "length": 3}}, ["abcdef", "ab", "", "ü€ßxy"]),
    ("text", {"transform": "substring", "transform_args": {"start": 3}}, ["abcdef", "ab"]),
    ("text", {"transform": "nullif_empty"}, ["  ", "x", ODD_SPACES]),
    ("integer", {"transform": "trim", "default": "-1"}, ["5", "  ", "NULL", ""]),
    ("integer", {"nullable": False}, ["5", "", "NULL"]),
]


def server_value(conn, expression: sql.Composable, raw: str):
    """The SQL's value for one raw field, or the exception it raised."""
    try:
        with conn.transaction():
            return conn.execute(
                sql.SQL("SELECT {} FROM (VALUES (%s)) AS r (raw_0)").format(expression), (raw,)
            ).fetchone()[0]
    except psycopg.Error as exc:
        return exc


def python_value(transform, raw: str):
    try:
        return transform(2, [raw])[0]
    except SourceError as exc:
        return exc


def same(python, server, type_sql: str) -> bool:
    if type_sql in ("json", "jsonb"):  # the row path sends the text; the server gives it parsed
        import json

        return json.loads(python) == server
    return type(python) is type(server) and python == server


@pytest.mark.parametrize("version", ["newest", "this server"])
@pytest.mark.parametrize(("type_sql", "options", "values"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_sql_gives_the_python_value_or_refuses(dest, type_sql, options, values, version):
    spec = ColumnSpec("v", type_sql, "raw", **options)
    transform = compile_transform(["raw"], [spec], null_markers=("", "NULL"))
    pushdown = compile_pushdown(["raw"], [spec], null_markers=("", "NULL"))
    if version == "this server":  # the SQL chosen for this server's version (cheaper before 16)
        pushdown = pushdown.for_server(dest.info.server_version)
    expression = pushdown.select[0]
    dest.execute("SET TimeZone = 'UTC'")
    disagreements, accepted, python_accepted = [], 0, 0
    for raw in values:
        python, server = python_value(transform, raw), server_value(dest, expression, raw)
        python_accepted += not isinstance(python, Exception)
        if isinstance(server, Exception):
            continue  # refused: the row path will decide (and agrees with itself)
        accepted += 1
        if isinstance(python, Exception) or not same(python, server, type_sql):
            disagreements.append((raw, python, server))
    assert disagreements == []
    assert accepted or not python_accepted  # SQL that refused everything would agree vacuously


def test_values_both_accept_are_most_of_them(dest):
    """The fast path is not refusing everything: plain values convert on the server."""
    spec = ColumnSpec("v", "numeric(6,2)", "raw")
    expression = compile_pushdown(["raw"], [spec]).select[0]
    assert server_value(dest, expression, " 12.345 ") == Decimal("12.35")
    assert server_value(dest, compile_pushdown(["raw"], [ColumnSpec("v", "date", "raw")]).select[0], "2026-01-31") == (
        date(2026, 1, 31)
    )
    dest.execute("SET TimeZone = 'UTC'")
    stamp = compile_pushdown(["raw"], [ColumnSpec("v", "timestamptz", "raw")]).select[0]
    assert server_value(dest, stamp, "2026-01-31 10:00") == datetime(2026, 1, 31, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (ColumnSpec("v", "date", "raw", format="%d/%m/%Y"), "a date format is read in Python"),
        (ColumnSpec("v", "text", "raw", transform="title"), "the title transform runs in Python"),
        (ColumnSpec("v", "numeric", "raw"), "numeric without a precision is read in Python"),
        (ColumnSpec("v", "real", "raw"), "real is converted in Python"),
        (ColumnSpec("v", "text", expression="upper(raw)"), "its expression is evaluated in Python"),
        (ColumnSpec("v", "boolean", "raw", true_words=("sí",)), "non-ASCII boolean words are read in Python"),
    ],
)
def test_what_the_server_cannot_do_exactly_stays_in_python(spec, reason):
    with pytest.raises(NotPushable) as caught:
        compile_pushdown(["raw"], [spec])

    assert str(caught.value) == f"column 'v': {reason}"


def test_a_nul_byte_cannot_be_sent_raw():
    pushdown = compile_pushdown(["a", "b"], [ColumnSpec("a", "text", "a"), ColumnSpec("b", "text", "b")])

    assert pushdown.render(["x\ty", "back\\slash\n"]) == "x\ty\x1fback\\\\slash\\n"
    with pytest.raises(RawRowRefused):
        pushdown.render(["a\x00b", "c"])


def test_whitespace_is_what_python_strips():
    assert all(c.isspace() for c in WHITESPACE) and len(WHITESPACE) == sum(chr(i).isspace() for i in range(0x110000))


# -- the connector: both paths give the same table -------------------------------------------------
COLUMNS = [
    ColumnSpec("id", "bigint", "id", nullable=False),
    ColumnSpec("name", "text", "name", transform="upper"),
    ColumnSpec("amount", "numeric(10,2)", "amount"),
    ColumnSpec("qty", "integer", "qty", default="1"),
    ColumnSpec("paid", "boolean", "paid"),
    ColumnSpec("day", "date", "day"),
    ColumnSpec("at", "timestamptz", "at"),
    ColumnSpec("total", "numeric(12,2)", expression="amount * qty - 1"),
]
HEADER = ["id", "name", "amount", "qty", "paid", "day", "at"]
RECORDS = [
    (2, ["1", "ada", "1.005", "3", "yes", "2026-01-31", "2026-01-31 10:00"]),
    (3, ["2", "grace\\", "2.50", "", "no", "2026-02-01", "2026-02-01 10:00:00+02:00"]),
    (5, ["3", "tab\there", "0", "NULL", "t", "2026-02-02", "2026-02-02"]),
]


def plan_for(dest, table, strategy="INSERT"):
    columns = [TargetColumn(s.destination_column, s.column_type.sql, s.nullable) for s in COLUMNS]
    return LoadPlan(dest.schema, table, columns, strategy, create_table=True, key_columns=("id",))


def test_the_fast_path_and_the_row_path_load_identical_tables(dest):
    connector = get_connector(ConnectionParams(**dest_credential_fields()))
    markers = ("", "NULL")
    transform = compile_transform(HEADER, COLUMNS, null_markers=markers)
    pushdown = compile_pushdown(HEADER, COLUMNS, null_markers=markers)

    events = []
    slow = connector.load(plan_for(dest, "slow"), [(line, transform(line, f)) for line, f in RECORDS], lambda *e: None)
    fast = connector.load_pushdown(
        plan_for(dest, "fast"), pushdown, (pushdown.render(f) for _, f in RECORDS), lambda *e: events.append(e)
    )

    assert (slow.rows_written, fast.rows_written) == (3, 3)
    rows = [dest.execute(f'SELECT * FROM "{dest.schema}".{t} ORDER BY id').fetchall() for t in ("slow", "fast")]
    assert rows[0] == rows[1]
    assert rows[1][0][:4] == (1, "ADA", Decimal("1.01"), 3)
    assert rows[1][0][-1] == Decimal("2.03")
    assert any("converted by the server" in message for _, message in events)


@pytest.mark.parametrize("strategy", ["UPSERT", "TRUNCATE_INSERT"])
def test_the_fast_path_strategies(dest, strategy):
    connector = get_connector(ConnectionParams(**dest_credential_fields()))
    pushdown = compile_pushdown(HEADER, COLUMNS, null_markers=("", "NULL"))
    plan = plan_for(dest, "t", strategy)
    connector.load_pushdown(plan, pushdown, (pushdown.render(f) for _, f in RECORDS[:2]), lambda *e: None)
    changed = [(2, ["2", "grace", "9.99", "2", "no", "2026-02-01", "2026-02-01 10:00"]), RECORDS[2]]

    result = connector.load_pushdown(plan, pushdown, (pushdown.render(f) for _, f in changed), lambda *e: None)

    ids = [row[0] for row in dest.execute(f'SELECT id FROM "{dest.schema}".t ORDER BY id').fetchall()]
    if strategy == "UPSERT":
        assert (result.inserted, result.updated, result.unchanged) == (1, 1, 0)
        assert ids == [1, 2, 3]
    else:
        assert ids == [2, 3]


def test_a_value_the_server_refuses_rolls_everything_back(dest):
    connector = get_connector(ConnectionParams(**dest_credential_fields()))
    pushdown = compile_pushdown(HEADER, COLUMNS, null_markers=("", "NULL"))
    bad = [*RECORDS, (6, ["4", "x", "12.5x", "1", "yes", "2026-01-01", "2026-01-01"])]

    with pytest.raises(PushdownRefused):
        connector.load_pushdown(plan_for(dest, "t"), pushdown, (pushdown.render(f) for _, f in bad), lambda *e: None)

    assert dest.execute("SELECT to_regclass(%s)", (f'"{dest.schema}".t',)).fetchone()[0] is None


def test_the_fast_path_leaves_a_table_of_other_column_types_to_the_row_path(dest):
    """The server's casts (boolean into text, double into numeric) are not the row path's."""
    connector = get_connector(ConnectionParams(**dest_credential_fields()))
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id bigint, paid text)')
    specs = [ColumnSpec("id", "bigint", "id"), ColumnSpec("paid", "boolean", "paid")]
    pushdown = compile_pushdown(["id", "paid"], specs)
    plan = LoadPlan(dest.schema, "t", [TargetColumn("id", "bigint"), TargetColumn("paid", "boolean")])

    with pytest.raises(PushdownRefused) as caught:
        connector.load_pushdown(plan, pushdown, iter([pushdown.render(["1", "yes"])]), lambda *e: None)

    assert str(caught.value) == "column 'paid' of the table is not of the mapping's type"
    assert dest.execute(f'SELECT count(*) FROM "{dest.schema}".t').fetchone()[0] == 0
