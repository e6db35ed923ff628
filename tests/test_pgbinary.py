"""Binary COPY from Arrow tables (jobs.pgbinary): what the server reads back is exactly what the
CSV of the same table gives, on a real PostgreSQL, for every type and edge value."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from jobs import pgbinary
from jobs.arrowload import Refused, as_csv, compile_arrow
from jobs.coltypes import parse_type
from jobs.pushdown import NotPushable
from jobs.transform import ColumnSpec
from tests.test_pushdown import CASES

# (column type, Arrow type, values): the edges of each range, zero, signs, NULLs.
EDGES = [
    ("smallint", pa.int16(), [-32768, 32767, 0, None, -1, 1]),
    ("integer", pa.int32(), [-(2**31), 2**31 - 1, 0, None, -7, 7]),
    ("bigint", pa.int64(), [-(2**63), 2**63 - 1, 0, None, -1, 10**15]),
    ("double precision", pa.float64(), [0.1, -0.0, 1.7976931348623157e308, 5e-324, None, -2.5]),
    ("boolean", pa.bool_(), [True, False, None, True, False, True]),
    (
        "date",
        pa.date32(),
        [date(1970, 1, 1), date(1999, 12, 31), date(2000, 1, 1), date(1, 1, 1), None, date(9999, 12, 31)],
    ),
    (
        "timestamp",
        pa.timestamp("us"),
        [
            datetime(1969, 12, 31, 23, 59, 59, 999999),
            datetime(2000, 1, 1),
            datetime(1, 1, 1),
            None,
            datetime(9999, 12, 31, 23, 59, 59, 999999),
            datetime(2026, 12, 6, 3, 4, 5, 6),
        ],
    ),
    (
        "timestamptz",
        pa.timestamp("us", tz="UTC"),
        [
            datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(2000, 1, 1, tzinfo=UTC),
            None,
            datetime(1600, 2, 29, 12, tzinfo=UTC),
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        ],
    ),
    (
        "numeric(18,0)",
        pa.decimal128(18, 0),
        [Decimal("999999999999999999"), Decimal("-999999999999999999"), Decimal(0), None, Decimal(10000), Decimal(-1)],
    ),
    (
        "numeric(12,2)",
        pa.decimal128(12, 2),
        [Decimal("-0.01"), Decimal("0.01"), Decimal("-1234567890.12"), None, Decimal("0.00"), Decimal("9999999999.99")],
    ),
    (
        "numeric(5,5)",
        pa.decimal128(5, 5),
        [Decimal("0.00001"), Decimal("-0.99999"), Decimal("0.00000"), None, Decimal("0.10000"), Decimal("0.5")],
    ),
    (
        "numeric(9,4)",
        pa.decimal128(9, 4),
        [Decimal("12345.6789"), Decimal("-0.0001"), Decimal("10000.0000"), None, Decimal("1"), Decimal("-99999.9999")],
    ),
    (
        "numeric(7,3)",
        pa.decimal128(7, 3),
        [Decimal("1234.567"), Decimal("-0.001"), Decimal("1000"), None, Decimal("0.5"), Decimal("-9999.999")],
    ),
    (
        "numeric(18,18)",
        pa.decimal128(18, 18),
        [
            Decimal("0.123456789012345678"),
            Decimal("-0.999999999999999999"),
            Decimal("0.000000000000000001"),
            None,
            Decimal(0),
            Decimal("0.5"),
        ],
    ),
    (
        "numeric(18,17)",
        pa.decimal128(18, 17),
        [
            Decimal("9.99999999999999999"),
            Decimal("-1.23456789012345678"),
            Decimal("0.00000000000000001"),
            None,
            Decimal("-9"),
            Decimal("0.1"),
        ],
    ),
    (
        "numeric(17,17)",
        pa.decimal128(17, 17),
        [
            Decimal("0.12345678901234567"),
            Decimal("-0.00000000000000001"),
            Decimal("0.99999999999999999"),
            None,
            Decimal(0),
            Decimal("-0.5"),
        ],
    ),
    (
        "numeric(18,16)",
        pa.decimal128(18, 16),
        [
            Decimal("99.9999999999999999"),
            Decimal("-0.0000000000000001"),
            Decimal("12.3456789012345678"),
            None,
            Decimal(1),
            Decimal("-99"),
        ],
    ),
    (
        "text",
        pa.string(),
        ["", "ünïcødé 😀", 'a "quote", a comma', "new\nline\r\n", None, "back\\slash \\."],
    ),
    ("varchar(5)", pa.string(), ["abcde", "", None, "ü😀", "x", "  "]),
]


def load_both(dest, columns: list[tuple[str, pa.DataType]], tables: list[pa.Table]) -> tuple[list, list]:
    """COPY the tables into two tables of these column types, in binary and as CSV; both read back."""
    definitions = ", ".join(f"c{i} {type_sql}" for i, (type_sql, _) in enumerate(columns))
    for name in ("b", "c"):
        dest.execute(f'CREATE TABLE "{dest.schema}".{name} (n serial, {definitions})')
    names = ", ".join(f"c{i}" for i in range(len(columns)))
    encode = pgbinary.encoder([t for _, t in columns], [parse_type(s).name for s, _ in columns])
    assert encode is not None
    with dest.cursor() as cursor:
        with cursor.copy(f'COPY "{dest.schema}".b ({names}) FROM STDIN (FORMAT binary)') as copy:
            copy.write(pgbinary.HEADER)
            for table in tables:
                copy.write(encode(table))
            copy.write(pgbinary.TRAILER)
        with cursor.copy(f'COPY "{dest.schema}".c ({names}) FROM STDIN (FORMAT csv)') as copy:
            for table in tables:
                copy.write(as_csv(table))
    return tuple(dest.execute(f'SELECT {names} FROM "{dest.schema}".{t} ORDER BY n').fetchall() for t in "bc")


def edge_table() -> pa.Table:
    return pa.table({f"c{i}": pa.array(values, arrow_type) for i, (_, arrow_type, values) in enumerate(EDGES)})


def test_every_type_reads_back_exactly_and_as_its_csv_does(dest):
    binary, csv = load_both(dest, [(s, t) for s, t, _ in EDGES], [edge_table()])

    assert binary == csv
    expected = list(zip(*[values for _, _, values in EDGES], strict=True))
    assert binary == expected
    assert str(binary[1][3]) == "-0.0"  # the sign of a negative zero survives
    assert [str(row[9]) for row in binary if row[9] is not None] == [
        "-0.01",
        "0.01",
        "-1234567890.12",
        "0.00",
        "9999999999.99",
    ]


def test_sliced_and_chunked_columns_are_written_from_their_own_rows(dest):
    """Arrow hands out slices (an offset into shared buffers) and chunked columns: each row is its own."""
    whole = edge_table()
    parts = [whole.slice(0, 2), whole.slice(2, 3), whole.slice(5)]
    chunked = pa.concat_tables([whole.slice(3), whole.slice(0, 3)])  # columns of two chunks each

    binary, csv = load_both(dest, [(s, t) for s, t, _ in EDGES], [*parts, chunked, whole.slice(6)])

    assert binary == csv
    assert len(binary) == 2 * whole.num_rows


def test_columns_of_nulls_only_and_of_no_nulls_mix_in_a_row(dest):
    columns = [
        ("integer", pa.int32()),
        ("text", pa.string()),
        ("numeric(4,1)", pa.decimal128(4, 1)),
        ("date", pa.date32()),
    ]
    table = pa.table(
        {
            "a": pa.array([None, None, None], pa.int32()),
            "b": pa.array(["x", "", "z"]),
            "c": pa.array([None, None, None], pa.decimal128(4, 1)),
            "d": pa.array([date(2026, 1, 1), None, date(2026, 1, 3)]),
        }
    )

    binary, csv = load_both(dest, columns, [table])

    assert (
        binary
        == csv
        == [(None, "x", None, date(2026, 1, 1)), (None, "", None, None), (None, "z", None, date(2026, 1, 3))]
    )


@pytest.mark.parametrize(("type_sql", "options", "values"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_conversion_corpus_loads_the_same_in_binary_and_as_csv(dest, type_sql, options, values):
    """Every value of tests.test_pushdown's corpus the Arrow path accepts, converted as a block."""
    spec = ColumnSpec("v", type_sql, "raw", **options)
    try:
        plan = compile_arrow(["raw"], [spec])
    except NotPushable:
        return  # the row path converts this type
    accepted = []
    for raw in [*values, ""]:
        try:
            plan.convert(pa.record_batch([pa.array([raw])], names=["c0"]))
        except Refused:
            continue
        accepted.append(raw)
    if not accepted:
        return
    table = plan.convert(pa.record_batch([pa.array(accepted)], names=["c0"]))
    arrow_type = table.schema.types[0]
    if pgbinary.encoder([arrow_type], [spec.column_type.name]) is None:
        assert spec.column_type.name == "numeric" and arrow_type.precision > 18  # wider numerics go as CSV
        return

    binary, csv = load_both(dest, [(type_sql, arrow_type)], [table])

    assert binary == csv
    assert [row[0] for row in binary] == table.column(0).to_pylist()


def test_only_exact_pairs_have_a_binary_form():
    assert pgbinary.encoder([pa.int64(), pa.string()], ["bigint", "varchar"]) is not None
    assert pgbinary.encoder([pa.decimal128(18, 2)], ["numeric"]) is not None
    refused = [
        ([pa.decimal128(19, 2)], ["numeric"]),  # wider than an int64 holds
        ([pa.int32()], ["bigint"]),  # 4 bytes where the server reads 8
        ([pa.int64()], ["integer"]),
        ([pa.timestamp("us")], ["timestamptz"]),  # naive into aware: the session's zone decides in CSV
        ([pa.timestamp("us", tz="UTC")], ["timestamp"]),
        ([pa.timestamp("ms")], ["timestamp"]),
        ([pa.string()], ["json"]),
        ([pa.string()], ["uuid"]),
        ([pa.string()], [""]),  # a type the portal does not know (an enum, a domain)
        ([pa.int64(), pa.string()], ["bigint"]),  # a column missing
        ([], []),
    ]
    for arrow_types, column_types in refused:
        assert pgbinary.encoder(arrow_types, column_types) is None, (arrow_types, column_types)


def test_a_block_of_other_types_than_the_first_is_refused():
    encode = pgbinary.encoder([pa.int64()], ["bigint"])
    with pytest.raises(pgbinary.BlockTypesChanged, match="column types"):
        encode(pa.table({"a": pa.array([1], pa.int32())}))


def test_an_empty_block_writes_nothing():
    encode = pgbinary.encoder([pa.int64()], ["bigint"])
    assert bytes(encode(pa.table({"a": pa.array([], pa.int64())}))) == b""


def test_every_numeric_precision_and_scale_with_a_binary_form_reads_back_exactly(dest):
    """All 171 numeric(p,s) with p <= 18: the extremes, one unit of the last digit, and random values."""
    rng = random.Random(5)
    shapes = [(p, s) for p in range(1, 19) for s in range(p + 1)]
    columns, arrays = [], []
    for precision, scale in shapes:
        largest = 10**precision - 1
        unscaled = [largest, -largest, 1, -1, 0] + [rng.randint(-largest, largest) for _ in range(15)]
        values = [Decimal(u).scaleb(-scale) for u in unscaled]
        columns.append((f"numeric({precision},{scale})", pa.decimal128(precision, scale)))
        arrays.append(pa.array(values, pa.decimal128(precision, scale)))
    table = pa.table({f"c{i}": array for i, array in enumerate(arrays)})

    binary, csv = load_both(dest, columns, [table])

    assert binary == csv
    assert binary == list(zip(*(array.to_pylist() for array in arrays), strict=True))
