"""compile_transform(output="copy_text") is the values mode, rendered as COPY text.

For every raw value both modes must reject it with the same SourceError, or both accept it;
then the values-mode tuple goes to one table through psycopg's copy.write_row, the COPY text
line to another through copy.write, and the real destination server must have stored the
same row in both (compared as the server's own text of each value: exact for every type,
floats in their shortest exact form, numerics with their scale).
"""

from __future__ import annotations

import itertools
import uuid

import psycopg
import pytest
from psycopg import sql

from jobs.coltypes import copy_escape, copy_text
from jobs.errors import SourceError
from jobs.transform import ColumnSpec, compile_transform

ODD_SPACES = "\u00a0\u2003\u3000\x0b\x1c"
INTEGERS = ["42", " 42 ", "+7", "-0", "-17", "007", "0", "00000000000000000000042", "0000000000000000042",
            "1.5", "1e3", "abc", "0x1F", "1_000", "١٢", "²", "9223372036854775807", "9223372036854775808",
            "-9223372036854775808", "-9223372036854775809", "922337203685477580", "999999999999999999",
            "32767", "32768", "-32768", "-32769", "9999", "99999", "2147483647", "2147483648", "-2147483648",
            "999999999", "9999999999", "1" * 5000, ODD_SPACES + "5", "4 2", "--1", "+", "-", "5\t"]  # fmt: skip
DECIMALS = ["12.345", "12.355", "-12.345", "1e2", "1E-2", ".5", "5.", "999.995", "9999.99", "9999.994", "0",
            "-0", "-0.00", "0.000", "00012.5", "0001234.56", "1234.5", "1234.56", "1234.567", "99999.99",
            "NaN", "Infinity", "-Infinity", "1_0", "1,5", " 3.14 ", "+0.001", "-0.004", "1e100000", "1e-100000",
            "abc", ".", "١.٥", "12.3.4", "1" * 40, "0." + "1" * 40, "0" * 30 + "1.5", "1.2e3", "5\n"]  # fmt: skip
FLOATS = [
    "1.5",
    "1e308",
    "1e309",
    "-1e309",
    "1e-400",
    "5e-324",
    "2.2250738585072014e-308",
    "-0.0",
    "-0",
    "0",
    "0.0",
    "nan",
    "NaN",
    "inf",
    "-Infinity",
    "infinity",
    "0.1",
    "0.30000000000000004",
    " 2.5e3 ",
    "1_0",
    "12345678901234567890",
    "1234567890.123456789",
    "0.000000000000000001",
    "9007199254740993",
    "3.4028235677973366e38",
    "1e39",
    "1e-46",
    "1.",
    ".5",
    "abc",
    "١",
    "1.000000178813934326181875",
    "1.00000017881393",
]  # fmt: skip (the first: text -> double -> real rounds otherwise than text -> real)
BOOLEANS = ["true", "TRUE", "True", " Yes ", "y", "Y", "1", "0", "on", "OFF", "f", "F", "t", "tr", "ye", "yeſ",
            "maybe", "\u00a0t\u00a0", "false", "no", "N"]  # fmt: skip
DATES = ["2026-01-31", "2026-02-29", "2024-02-29", "0000-01-01", "0001-01-01", "0999-12-31", "20260131",
         "2026-W05-6", "2026-W05", " 2026-01-31 ", "2026-01-31 ", "2026-1-31", "31/01/2026", "9999-12-31",
         "2026-01-31T00:00", "2026-13-01", "2026-00-10", "2026-01-00", "2026-01-3١", "١٢٣٤-01-01",
         "+026-01-31", "2026/01/31", "2026-01-32"]  # fmt: skip
TIMESTAMPS = ["2026-01-31 10:11:12", "2026-01-31T10:11:12", "2026-01-31x10:11:12", "2026-01-31T10:11",
              "2026-01-31 24:00:00", "2026-01-31 10:11:60", "2026-01-31 10:11:12.5", "2026-01-31 10:11:12.000",
              "2026-01-31 10:11:12.1234567", "2026-01-31 10:11:12.123456", "2026-01-31", "2026-01-31 10",
              "2026-01-31 10:11:12Z", "2026-01-31 10:11:12+02:00", "2026-01-31 10:11:12+02:75",
              "2026-01-31 10:11:12-15:59", "2026-01-31 10:11:12+16:00", "2026-01-31 10:11:12+02:00:30",
              "20260131T101112", " 2026-01-31 10:11:12 ", "2026-01-31 10:11:1٢", "0001-01-01 00:00:00",
              "9999-12-31 23:59:59", "2026-01-31 10:11:12+0200", "2026-02-30 10:11:12"]  # fmt: skip
TEXTS = ["plain", "  spaced  ", "tab\there", "new\nline", "cr\rlf\r\n", "back\\slash", "\\N", "\\", "\\.",
         "\\t literal", "sep\x1fchar", "bell\x07\x08\x0b\x0c", "ünïcödé", "ß", "Straße", "ıi", "İ", "😀 emoji",
         "\u200b zero width", "nul\x00byte", "x" * 5000, "ends with backslash\\", "a\tb\tc"]  # fmt: skip
NULLS = ["", "NULL"]

CASES = [
    ("smallint", {}, INTEGERS),
    ("integer", {}, INTEGERS),
    ("bigint", {}, INTEGERS),
    ("numeric(6,2)", {}, DECIMALS),
    ("numeric(12,2)", {}, DECIMALS),
    ("numeric(30,10)", {}, DECIMALS),
    ("numeric(4,4)", {}, DECIMALS + ["0.1234", "0.12345", "0.99995"]),
    ("numeric(5)", {}, DECIMALS),
    ("numeric", {}, DECIMALS),
    ("double precision", {}, FLOATS),
    ("real", {}, FLOATS),
    ("boolean", {}, BOOLEANS),
    (
        "boolean",
        {"true_words": ("si", "Ja"), "false_words": ("no", "NEIN")},
        ["si", "SI", "ja", "no", "nein", "NEIN", " Nein ", "yes", "x"],
    ),
    ("boolean", {"true_words": ("straße",)}, ["straße", "STRASSE", "strasse", "f", "0", "true"]),
    ("date", {}, DATES),
    ("date", {"format": "%d/%m/%Y"}, ["31/01/2026", "1/2/2026", "2026-01-31", "29/02/2026", " 31/01/2026 "]),
    ("timestamp", {}, TIMESTAMPS),
    ("timestamptz", {}, TIMESTAMPS),
    ("timestamp", {"format": "%d/%m/%Y %H:%M"}, ["31/01/2026 10:11", "31/01/2026", "31/01/2026 25:00"]),
    (
        "timestamptz",
        {"format": "%d/%m/%Y %H:%M %z"},
        ["31/01/2026 10:11 +0200", "31/01/2026 10:11 -0530", "31/01/2026 10:11"],
    ),
    ("text", {}, TEXTS),
    ("varchar(4)", {}, ["abcd", "abcde", "ßßßß", "ab  ", "a\tb\\", "\\\\\\\\", "\\\\\\\\\\", "a\x00", "😀😀😀😀"]),
    ("varchar(1)", {}, ["x", "\\", "\t", "xy"]),
    (
        "uuid",
        {},
        [
            str(uuid.UUID(int=7)),
            "{" + str(uuid.UUID(int=8)) + "}",
            uuid.UUID(int=9).hex.upper(),
            "nope",
            "urn:uuid:" + str(uuid.UUID(int=10)),
            " " + str(uuid.uuid4()) + " ",
        ],
    ),
    (
        "jsonb",
        {},
        [
            '{"a": 1}',
            "[1, 2.50]",
            "NaN",
            "{'a': 1}",
            '"x"',
            " 1 ",
            '"back\\\\slash\\ttab"',
            '{"k":\t"v"}',
            "[\n1\n]",
            '"\\u00e9"',
            "1" * 5000,
        ],
    ),
    ("json", {}, ['{"b": 2, "a": 1}', " [1,2] ", '"a\\\\b"', '{"x":\r\n1}', "nope"]),
    ("text", {"transform": "upper"}, TEXTS),
    ("text", {"transform": "lower"}, ["ABC", "ÀÉ", "İ", "MiXeD", "\\N"]),
    ("text", {"transform": "title"}, ["hello world", "ß x", "o'neil"]),
    ("text", {"transform": "trim"}, [ODD_SPACES + "x" + ODD_SPACES, "  ", "a b", "\tx\t", "\n", "\\ "]),
    ("text", {"transform": "ltrim"}, [ODD_SPACES + "x  ", "\t\\"]),
    ("text", {"transform": "rtrim"}, ["  x" + ODD_SPACES, "\\\t"]),
    ("text", {"transform": "replace", "transform_args": {"from": "-", "to": "\\"}}, ["a-b-c", "--", "none", "-"]),
    ("text", {"transform": "replace", "transform_args": {"from": ",", "to": "\t"}}, ["a,b", ","]),
    ("text", {"transform": "replace", "transform_args": {"from": "x", "to": ""}}, ["x", "xx", "axb"]),
    (
        "text",
        {"transform": "substring", "transform_args": {"start": 2, "length": 3}},
        ["abcdef", "ab", "a", "ü€ßxy", "\\\\\\\\"],
    ),
    ("text", {"transform": "substring", "transform_args": {"start": 3}}, ["abcdef", "ab"]),
    ("text", {"transform": "regex_extract", "transform_args": {"pattern": r"(\d+)"}}, ["ab12cd", "none", "7"]),
    ("integer", {"transform": "regex_extract", "transform_args": {"pattern": r"#(\S+)"}}, ["#12", "#x", "#", "-"]),
    ("text", {"transform": "nullif_empty"}, ["  ", "x", ODD_SPACES, "\t"]),
    ("text", {"transform": "nullif_empty", "default": "dflt\\\t"}, ["  ", "x"]),
    ("integer", {"transform": "trim", "default": "-1"}, ["5", "  ", " 7 "]),
    ("integer", {"nullable": False}, ["5", " 5"]),
    ("integer", {"nullable": False, "transform": "trim"}, ["5", "  "]),
    ("integer", {"nullable": False, "default": "0042"}, ["5"]),
    ("bigint", {"default": "9223372036854775807"}, ["1"]),
    ("numeric(6,2)", {"default": "1.005"}, ["1.5"]),
    ("numeric", {"default": "1e2"}, ["1.5"]),
    ("double precision", {"default": "-0.0"}, ["1"]),
    ("real", {"default": "0.1"}, ["1"]),
    ("boolean", {"default": "yes", "nullable": False}, ["no"]),
    ("date", {"default": "2026-01-31"}, ["2026-02-01"]),
    ("timestamp", {"default": "2026-01-31 10:11:12.5"}, ["2026-02-01 00:00:00"]),
    ("timestamptz", {"default": "2026-01-31 10:11"}, ["2026-02-01 00:00:00"]),
    ("text", {"default": "a\\b\tc\nd"}, ["x"]),
    ("varchar(3)", {"default": "\\\\\\", "nullable": False}, ["x"]),
    ("uuid", {"default": str(uuid.UUID(int=5))}, [str(uuid.UUID(int=6))]),
    ("jsonb", {"default": '{"d": "\\\\"}'}, ['{"e": 1}']),
]


def outcome(transform, line: int, fields: list[str]):
    try:
        return transform(line, fields)
    except SourceError as exc:
        return exc


def error_key(error: SourceError) -> tuple:
    return (error.reason, error.line, error.column, error.value, str(error))


def stored_rows(dest, specs: list[ColumnSpec], tuples: list[tuple], lines: list[str]) -> tuple[list, list]:
    """Load the values through write_row and the lines through write; read back both tables.

    A row the server refuses (a time zone offset out of its range, ...) is, in each table's
    list, the name of the error instead: the two must agree on that too.
    """
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(spec.destination_column), sql.SQL(spec.column_type.sql))
        for spec in specs
    )
    names = sql.SQL(", ").join(sql.Identifier(spec.destination_column) for spec in specs)
    texts = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(spec.destination_column)) for spec in specs)
    result = []
    for table, rows, by_text in (("by_values", tuples, False), ("by_text", lines, True)):
        target = sql.Identifier(dest.schema, table)
        dest.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
        dest.execute(sql.SQL("CREATE TABLE {} (row_ integer, {})").format(target, columns))
        statement = sql.SQL("COPY {} (row_, {}) FROM STDIN").format(target, names)

        def copy_rows(numbered, statement=statement, by_text=by_text):
            with dest.cursor() as cursor, cursor.copy(statement) as copy:
                for number, row in numbered:
                    if by_text:
                        copy.write(f"{number}\t{row}\n")
                    else:
                        copy.write_row((number, *row))

        refused = {}
        dest.execute("SET DateStyle = 'SQL, DMY'")  # the input must not depend on it
        try:
            copy_rows(enumerate(rows))
        except psycopg.Error:  # one row at a time, to see which
            for number, row in enumerate(rows):
                try:
                    copy_rows([(number, row)])
                except psycopg.Error as exc:
                    refused[number] = type(exc).__name__
        fetched = dest.execute(sql.SQL("SELECT row_, {} FROM {} ORDER BY row_").format(texts, target)).fetchall()
        stored = {row[0]: row[1:] for row in fetched}
        result.append([refused.get(number) or stored[number] for number in range(len(rows))])
    return result[0], result[1]


@pytest.fixture
def server(dest):
    # Not UTC and not the ISO date order: a naive timestamp sent to a timestamptz column, or a
    # date in a DateStyle-dependent form, would store something else.
    dest.execute("SET TimeZone = 'America/St_Johns'")
    return dest


def check_same(server, header: list[str], specs: list[ColumnSpec], records: list[list[str]], **options) -> int:
    """Both modes on every record: the same errors, and the same stored rows. Returns how many loaded."""
    values_mode = compile_transform(header, specs, **options)
    text_mode = compile_transform(header, specs, output="copy_text", **options)
    tuples, lines, mismatched = [], [], []
    for line, fields in enumerate(records, start=2):
        expected, got = outcome(values_mode, line, fields), outcome(text_mode, line, fields)
        if isinstance(expected, SourceError) or isinstance(got, SourceError):
            same = (
                isinstance(expected, SourceError)
                and isinstance(got, SourceError)
                and error_key(expected) == error_key(got)
            )
            if not same:
                mismatched.append((fields, expected, got))
            continue
        assert type(got) is str and "\n" not in got and "\r" not in got
        assert got.count("\t") == len(specs) - 1
        tuples.append(expected)
        lines.append(got)
    assert mismatched == []
    by_values, by_text = stored_rows(server, specs, tuples, lines)
    assert len(by_values) == len(tuples)
    differences = [(line, a, b) for line, a, b in zip(lines, by_values, by_text, strict=True) if a != b]
    assert differences == []
    return len(tuples)


@pytest.mark.parametrize(("type_sql", "options", "values"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_one_column_stores_the_same_or_fails_the_same(server, type_sql, options, values):
    spec = ColumnSpec("v", type_sql, "raw", **options)
    loaded = check_same(server, ["raw"], [spec], [[raw] for raw in [*values, *NULLS]], null_markers=NULLS)
    assert loaded > 0


def test_every_type_side_by_side_with_nulls_and_not_null(server):
    """Several columns in a row: the first bad field is the one both modes report."""
    types = [("i", "integer", INTEGERS[:12]), ("n", "numeric(8,3)", DECIMALS[:14]), ("d", "date", DATES[:8]),
             ("b", "boolean", BOOLEANS[:8]), ("t", "text", TEXTS[:10]),
             ("f", "double precision", FLOATS[:10])]  # fmt: skip
    specs = [ColumnSpec(name, type_sql, name, nullable=name != "d") for name, type_sql, _ in types]
    header = [name for name, _, _ in types]
    columns = [[*values, "", "NULL"] for _, _, values in types]
    records = [[column[(row * (k + 3)) % len(column)] for k, column in enumerate(columns)] for row in range(400)]
    assert check_same(server, header, specs, records, null_markers=NULLS) > 50


# -- calculated columns ---------------------------------------------------------------------
HEADER = ["id", "customer", "email", "amount", "qty", "paid", "day", "at", "note", "code"]
SPECS = [
    ColumnSpec("id", "bigint", "id", nullable=False),
    ColumnSpec("customer", "text", "customer", transform="upper"),
    ColumnSpec("total", "numeric(14,2)", expression="amount * qty"),  # before the columns it reads
    ColumnSpec("email", "varchar(20)", "email", transform="trim"),
    ColumnSpec("amount", "numeric(12,2)", "amount"),
    ColumnSpec("qty", "integer", "qty", default="1"),
    ColumnSpec("paid", "boolean", "paid", nullable=False, default="no"),
    ColumnSpec("day", "date", "day"),
    ColumnSpec("at", "timestamptz", "at"),
    ColumnSpec("note", "text", "note", transform="replace", transform_args={"from": "|", "to": "\\"}),
    ColumnSpec("label", "text", expression="concat(upper(code), ' ', customer, '\\\t')"),  # a raw field and a column
    ColumnSpec("ratio", "double precision", expression="amount / qty"),
    ColumnSpec("twice", "numeric", expression="total * 2"),  # an earlier calculated column
    ColumnSpec("flag", "boolean", expression="paid"),
    ColumnSpec("when", "timestamptz", expression="at", nullable=False),
    ColumnSpec("small", "smallint", expression="qty * 1000"),
]
FIELDS = {
    "id": ["1", "2", "x", "", "9223372036854775807"],
    "customer": ["ada", "grace\\hopper", "tab\tbed", "", "NULL", "ß"],
    "email": [" a@b.c ", "   ", "x" * 21, "\\@\t"],
    "amount": ["1.005", "2.50", "0", "", "-3.333", "abc", "99999999999.99"],
    "qty": ["3", "", "NULL", "0", "40", "x", "-2"],
    "paid": ["yes", "no", "", "maybe", "T"],
    "day": ["2026-01-31", "2026-02-30", "", "2024-02-29"],
    "at": ["2026-01-31 10:00:00", "2026-01-31 10:00:00+02:00", "", "2026-01-31 10:00:00.25", "bad"],
    "note": ["a|b", "plain", "", "new\nline|"],
    "code": ["ab", "", "NULL", "\\n"],
}


def test_calculated_columns_defaults_and_transforms(server):
    records = []
    for number, choice in enumerate(itertools.product(*(range(len(FIELDS[name])) for name in HEADER))):
        if number % 97:  # a spread of the combinations, not all of them
            continue
        records.append([FIELDS[name][index] for name, index in zip(HEADER, choice, strict=True)])
    assert len(records) > 300
    assert check_same(server, HEADER, SPECS, records, null_markers=NULLS) > 20


def test_expression_reading_only_raw_fields_and_aliases(server):
    specs = [
        ColumnSpec("a", "text", "A Col"),
        ColumnSpec("sum", "integer", expression="int(a_col) + int(b_col)"),
        ColumnSpec("b", "integer", "b_col"),
        ColumnSpec("joined", "text", expression="concat(b_col, '\\n', a)", default="none\\"),
    ]
    records = [["1", "2"], ["x", "2"], ["", "3"], ["4", ""], ["9", "99999999999"], ["1", "2147483647"]]
    check_same(server, ["A Col", "B Col"], specs, records, aliases=["a_col", "b_col"], null_markers=NULLS)


def test_the_bench_mapping(server):
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(root), str(root / "bench")]
    try:
        import load  # bench/load.py
    finally:
        del sys.path[:2]
    specs = [
        ColumnSpec(dest, type_name, source, transform=transform, expression=expression, nullable=dest != "id")
        for source, dest, type_name, transform, expression in load.MAPPING
    ]
    import csv
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        load.make_file(path, 2000)
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
    assert check_same(server, rows[0], specs, rows[1:]) == 2000


# -- without the server ---------------------------------------------------------------------
def test_the_line_itself():
    specs = [
        ColumnSpec("a", "bigint", "a"),
        ColumnSpec("b", "text", "b"),
        ColumnSpec("c", "boolean", "c"),
        ColumnSpec("d", "timestamptz", "d"),
        ColumnSpec("e", "numeric(5,2)", "e", default="1"),
    ]
    transform = compile_transform(["a", "b", "c", "d", "e"], specs, output="copy_text")

    line = transform(2, ["0042", "a\\b\tc\nd\re", "Yes", "2026-01-31 10:11:12", ""])

    assert line == "0042\ta\\\\b\\tc\\nd\\re\tt\t2026-01-31 10:11:12+00\t1.00"
    assert transform(3, ["", "", "", "", "2.5"]) == "\\N\t\\N\t\\N\t\\N\t2.5"


def test_errors_are_the_values_modes():
    specs = [ColumnSpec("a", "integer", "a", nullable=False), ColumnSpec("b", "date", "b")]
    values_mode = compile_transform(["a", "b"], specs)
    text_mode = compile_transform(["a", "b"], specs, output="copy_text")
    for fields in (["", "x"], ["1", "x"], ["9999999999", "2026-01-01"]):
        with pytest.raises(SourceError) as expected:
            values_mode(7, fields)
        with pytest.raises(SourceError) as got:
            text_mode(7, fields)
        assert error_key(got.value) == error_key(expected.value)


def test_unknown_output():
    with pytest.raises(ValueError, match="output"):
        compile_transform(["a"], [ColumnSpec("a", "text", "a")], output="csv")


def test_copy_text_of_values():
    assert copy_text(None) == "\\N"
    assert copy_text(True) == "t" and copy_text(False) == "f"
    assert copy_text(float("inf")) == "Infinity" and copy_text(float("-inf")) == "-Infinity"
    assert copy_text(float("nan")) == "NaN"
    assert copy_escape("plain") == "plain" and copy_escape("\\\t\n\r") == "\\\\\\t\\n\\r"
