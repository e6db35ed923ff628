"""jobs.transform: mapping validation and the compiled per-record function; jobs.errors wording."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from jobs.errors import SourceError
from jobs.reader import open_csv
from jobs.transform import (
    ColumnSpec,
    MappingError,
    compile_transform,
    preview_transform,
    safe_regex,
    transformed,
    validate_columns,
)

HEADER = ["id", "name", "qty", "price", "born"]


def spec(destination: str, type_name: str = "text", source: str | None = None, **options) -> ColumnSpec:
    """A mapping from the source column of the same name unless told otherwise."""
    return ColumnSpec(destination, type_name, destination if source is None else source, **options)


def source_error(function, line: int, fields: list[str]) -> SourceError:
    with pytest.raises(SourceError) as caught:
        function(line, fields)
    return caught.value


# -- validate_columns ----------------------------------------------------------------------
def test_valid_mappings_have_no_problems():
    columns = [
        spec("id", "bigint"),
        spec("name", "varchar(40)", transform="trim"),
        spec("qty", "int", default="0", nullable=False),
        spec("price", "numeric(8,2)"),
    ]

    assert validate_columns(columns) == []


def test_no_mappings_is_a_problem():
    assert validate_columns([]) == ["there are no column mappings"]


def test_destination_mapped_twice():
    columns = [spec("id", source="id"), spec("id", source="name")]

    assert validate_columns(columns) == ["destination column 'id' is mapped twice"]


def test_missing_source_column():
    assert validate_columns([ColumnSpec("id", "integer")]) == ["column 'id' needs a source column"]


def test_a_calculated_column_needs_no_source_column():
    columns = [spec("qty", "integer"), ColumnSpec("total", "numeric", expression="qty * price")]

    assert validate_columns(columns) == []
    assert validate_columns(columns, source_names=["qty", "price"]) == []


@pytest.mark.parametrize(
    ("column", "problem"),
    [
        (spec("qty", "integer", default="none"), "column 'qty': default 'none' is not a whole number (integer)"),
        (
            spec("code", "varchar(2)", default="abc"),
            "column 'code': default 'abc' is 3 characters long, more than varchar(2) allows",
        ),
        (spec("price", "numeric(3,2)", default="10"), "column 'price': default '10' does not fit numeric(3,2)"),
        (spec("born", "date", default="today"), "column 'born': default 'today' is not a date (YYYY-MM-DD)"),
    ],
)
def test_default_that_does_not_convert(column, problem):
    assert validate_columns([column]) == [problem]


def test_empty_default_means_no_default():
    assert validate_columns([spec("qty", "integer", default="")]) == []


def test_unknown_type_and_transform():
    columns = [spec("id", "blob"), spec("name", transform="reverse")]

    assert validate_columns(columns) == [
        "column 'id': unknown column type 'blob'; use one of: bigint, boolean, date, double precision, integer, json, "
        "jsonb, numeric, real, smallint, text, timestamp, timestamptz, uuid, varchar",
        "column 'name': unknown transform 'reverse'",
    ]


def test_destination_names_are_limited_to_63_bytes():
    assert validate_columns([spec("x" * 63, source="id")]) == []
    assert validate_columns([spec("x" * 64, source="id")]) == [
        f"destination column {'x' * 64!r} is longer than PostgreSQL's 63-byte limit"
    ]
    # 32 characters, 64 bytes in UTF-8.
    assert validate_columns([spec("é" * 32, source="id")]) == [
        f"destination column {'é' * 32!r} is longer than PostgreSQL's 63-byte limit"
    ]


def test_every_problem_is_reported_in_mapping_order():
    columns = [
        spec("id", "integer", default="x"),
        ColumnSpec("name"),
        spec("id", source="name"),
    ]

    assert validate_columns(columns) == [
        "column 'id': default 'x' is not a whole number (integer)",
        "column 'name' needs a source column",
        "destination column 'id' is mapped twice",
    ]


# -- compile_transform: setting up --------------------------------------------------------
def test_invalid_mappings_raise_value_error_with_every_problem():
    with pytest.raises(ValueError) as caught:
        compile_transform(HEADER, [ColumnSpec("id"), spec("qty", "integer", default="many")])

    assert str(caught.value) == (
        "column 'id' needs a source column; column 'qty': default 'many' is not a whole number (integer)"
    )


def test_source_column_missing_from_the_header_is_an_error_on_line_1():
    with pytest.raises(SourceError) as caught:
        compile_transform(["id", "email"], [spec("id"), spec("mail", source="emial")])

    error = caught.value
    assert error.line == 1
    assert error.reason == "mapped source column(s) 'emial' not found in the header (id, email)"
    assert str(error) == "line 1: mapped source column(s) 'emial' not found in the header (id, email)"


def test_every_missing_source_column_is_named():
    with pytest.raises(SourceError) as caught:
        compile_transform(["id"], [spec("a", source="Id"), spec("b", source="name ")])

    assert caught.value.reason == "mapped source column(s) 'Id', 'name ' not found in the header (id)"


# -- compile_transform: values -------------------------------------------------------------
def test_columns_are_picked_by_header_name_in_mapping_order():
    row = compile_transform(
        HEADER, [spec("price", "numeric(8,2)"), spec("id", "integer"), spec("label", source="name")]
    )

    assert row(2, ["7", "ann", "3", "9.5", "2000-01-31"]) == (Decimal("9.50"), 7, "ann")


def test_a_repeated_header_name_maps_to_its_first_column():
    row = compile_transform(["id", "id"], [spec("id")])

    assert row(2, ["first", "second"]) == ("first",)


def test_a_source_column_can_feed_several_destinations():
    row = compile_transform(HEADER, [spec("raw", source="name"), spec("shout", source="name", transform="upper")])

    assert row(2, ["1", "Ann", "", "", ""]) == ("Ann", "ANN")


@pytest.mark.parametrize(
    ("transform", "expected"),
    [
        ("", "  mIxed caSe value  "),
        ("upper", "  MIXED CASE VALUE  "),
        ("lower", "  mixed case value  "),
        ("trim", "mIxed caSe value"),
        ("ltrim", "mIxed caSe value  "),
        ("rtrim", "  mIxed caSe value"),
        ("title", "  Mixed Case Value  "),
    ],
)
def test_string_transforms(transform, expected):
    row = compile_transform(["name"], [spec("name", transform=transform)])

    assert row(2, ["  mIxed caSe value  "]) == (expected,)


def test_transform_runs_before_conversion():
    row = compile_transform(["code"], [spec("code", "varchar(3)", transform="trim")])

    assert row(2, ["  abc  "]) == ("abc",)


def test_typed_values_are_converted():
    row = compile_transform(
        HEADER,
        [spec("id", "bigint"), spec("qty", "smallint"), spec("price", "numeric(8,2)"), spec("born", "date")],
    )

    assert row(2, ["12", "ann", " 3 ", "1.005", "1990-05-17"]) == (12, 3, Decimal("1.01"), date(1990, 5, 17))


def test_empty_value_without_default_becomes_none():
    row = compile_transform(HEADER, [spec("qty", "integer"), spec("name", default="")])

    assert row(2, ["1", "", "", "", ""]) == (None, None)


def test_empty_value_takes_the_converted_default():
    row = compile_transform(
        HEADER,
        [
            spec("qty", "integer", default="0", nullable=False),
            spec("price", "numeric(8,2)", default="1.5"),
            spec("name", transform="upper", default="unknown"),
        ],
    )

    # The default is stored converted and is not passed through the string transform.
    assert row(2, ["1", "", "", "", ""]) == (0, Decimal("1.50"), "unknown")
    assert row(3, ["1", "bob", "4", "2", ""]) == (4, Decimal("2.00"), "BOB")


def test_whitespace_is_not_empty():
    row = compile_transform(["name"], [spec("name", default="unknown")])

    assert row(2, [" "]) == (" ",)


def test_empty_value_in_not_null_column_without_default_names_line_and_column():
    row = compile_transform(HEADER, [spec("id", "integer"), spec("quantity", "integer", source="qty", nullable=False)])

    error = source_error(row, 7, ["1", "ann", "", "2", ""])

    assert error.line == 7
    assert error.column == "qty"
    assert error.value == ""
    assert error.reason == "is empty but 'quantity' is NOT NULL and has no default"
    assert str(error) == "line 7, column 'qty': is empty but 'quantity' is NOT NULL and has no default"


def test_conversion_error_carries_line_column_and_raw_value():
    row = compile_transform(
        HEADER, [spec("id", "integer"), spec("amount", "numeric(5,2)", source="price", transform="trim")]
    )

    error = source_error(row, 12, ["1", "ann", "", " 12,50 ", ""])

    assert error.line == 12
    assert error.column == "price"
    assert error.value == " 12,50 "  # what the file holds, before the transform
    assert error.reason == "is not a number"
    assert str(error) == "line 12, column 'price': is not a number (value ' 12,50 ')"


def test_overflow_error_names_the_type():
    row = compile_transform(["qty"], [spec("qty", "smallint")])

    error = source_error(row, 3, ["40000"])

    assert (error.line, error.column, error.value) == (3, "qty", "40000")
    assert error.reason == "is out of range for smallint (-32768 to 32767)"


def test_transformed_pairs_each_record_with_its_line():
    source = open_csv(io.BytesIO(b'id,name\n1," ann "\n\n2,"bob\nsmith"\n3,cy\n'))
    row = compile_transform(source.header, [spec("id", "integer"), spec("name", transform="trim")])

    assert list(transformed(source.records, row)) == [(2, (1, "ann")), (4, (2, "bob\nsmith")), (6, (3, "cy"))]


def test_transformed_stops_at_the_first_bad_record():
    source = open_csv(io.BytesIO(b"id\n1\nx\n3\n"))
    rows = transformed(source.records, compile_transform(source.header, [spec("id", "integer")]))

    assert next(rows) == (2, (1,))
    with pytest.raises(SourceError) as caught:
        next(rows)
    assert str(caught.value) == "line 3, column 'id': is not a whole number (integer) (value 'x')"


# -- SourceError wording ---------------------------------------------------------------------
def test_source_error_without_a_place_is_just_the_reason():
    assert str(SourceError("the job has no source file")) == "the job has no source file"


def test_source_error_clips_long_values():
    error = SourceError("is not a number", line=4, column="note", value="x" * 500)

    assert error.value == "x" * 500
    assert str(error) == f"line 4, column 'note': is not a number (value {'x' * 120 + '…'!r})"


def test_a_value_of_only_blanks_that_trim_empties_takes_the_default_or_null():
    row = compile_transform(
        ["qty", "name"], [spec("qty", "integer", transform="trim", default="0"), spec("name", transform="trim")]
    )

    assert row(2, ["   ", "  "]) == (0, None)


def test_a_missing_source_column_used_twice_is_named_once():
    with pytest.raises(SourceError) as caught:
        compile_transform(["id"], [spec("a", source="gone"), spec("b", source="gone")])

    assert caught.value.reason.count("'gone'") == 1


# -- transforms with arguments ---------------------------------------------------------------
def transform_row(transform: str, args: dict, value: str, **options):
    row = compile_transform(["v"], [spec("v", transform=transform, transform_args=args, **options)])
    return row(2, [value])[0]


@pytest.mark.parametrize(
    ("transform", "args", "value", "expected"),
    [
        ("replace", {"from": ",", "to": "."}, "12,50", "12.50"),
        ("replace", {"from": "-", "to": ""}, "a-b-c", "abc"),
        ("replace", {"from": "é", "to": "e"}, "été", "ete"),
        ("substring", {"start": 1, "length": 3}, "abcdef", "abc"),
        ("substring", {"start": 2, "length": 3}, "héllo wörld", "éll"),
        ("substring", {"start": 3}, "abcdef", "cdef"),
        ("substring", {"start": 3, "length": None}, "abcdef", "cdef"),
        ("substring", {"start": 5, "length": 10}, "abcdef", "ef"),
        ("regex_extract", {"pattern": r"#(\d+)"}, "order #123 x", "123"),
        ("regex_extract", {"pattern": r"(\w+)@(\w+)", "group": 2}, "ann@example", "example"),
        ("regex_extract", {"pattern": r"(\w+)@(\w+)", "group": 0}, "mail ann@example now", "ann@example"),
        ("regex_extract", {"pattern": r"\d{4}"}, "in 2024, not 1999", "2024"),
        ("regex_extract", {"pattern": r"(?i)CODE-(\w+)"}, "code-AB1", "AB1"),
        ("nullif_empty", {}, " x ", " x "),
    ],
)
def test_transforms_with_arguments(transform, args, value, expected):
    assert transform_row(transform, args, value) == expected


@pytest.mark.parametrize(
    ("transform", "args", "value"),
    [
        ("substring", {"start": 10}, "abc"),
        ("substring", {"start": 1, "length": 0}, "abc"),
        ("regex_extract", {"pattern": r"#(\d+)"}, "no number"),
        ("regex_extract", {"pattern": r"a(x)?"}, "abc"),  # the group took no part
        ("replace", {"from": "abc", "to": ""}, "abc"),
        ("nullif_empty", {}, " \t "),
    ],
)
def test_a_transform_that_leaves_nothing_gives_the_default_else_null(transform, args, value):
    assert transform_row(transform, args, value) is None
    assert transform_row(transform, args, value, default="n/a") == "n/a"


def test_a_transform_that_leaves_nothing_in_a_not_null_column_is_an_error():
    row = compile_transform(["v"], [spec("v", transform="nullif_empty", nullable=False)])

    error = source_error(row, 4, ["   "])

    assert (error.line, error.column, error.reason) == (4, "v", "is empty but 'v' is NOT NULL and has no default")


def test_a_transform_runs_before_the_conversion():
    row = compile_transform(
        ["price", "ref"],
        [
            spec("price", "numeric(6,2)", transform="replace", transform_args={"from": ",", "to": "."}),
            spec("ref", "integer", transform="regex_extract", transform_args={"pattern": r"(\d+)"}),
        ],
    )

    assert row(2, ["12,5", "INV-0042"]) == (Decimal("12.50"), 42)
    error = source_error(row, 3, ["1,2,3", "INV-1"])
    assert (error.line, error.column, error.value, error.reason) == (3, "price", "1,2,3", "is not a number")


@pytest.mark.parametrize(
    ("transform", "args", "problem"),
    [
        ("replace", {"from": ","}, "replace needs the argument(s) 'to'"),
        ("replace", {}, "replace needs the argument(s) 'from', 'to'"),
        ("replace", {"from": "", "to": "x"}, "replace's 'from' must be non-empty text, not ''"),
        ("replace", {"from": 1, "to": "x"}, "replace's 'from' must be non-empty text, not 1"),
        ("replace", {"from": "a", "to": None}, "replace's 'to' must be text (possibly empty), not None"),
        ("replace", {"from": "a", "to": "b", "all": True}, "replace does not take 'all' (its arguments: 'from', 'to')"),
        ("substring", {"start": 0}, "substring's 'start' must be a whole number of at least 1, not 0"),
        ("substring", {"start": "1"}, "substring's 'start' must be a whole number of at least 1, not '1'"),
        ("substring", {"start": True}, "substring's 'start' must be a whole number of at least 1, not True"),
        ("substring", {"start": 1.0}, "substring's 'start' must be a whole number of at least 1, not 1.0"),
        ("substring", {"start": 1, "length": -1}, "substring's 'length' must be a whole number of at least 0, not -1"),
        ("substring", {"length": 2}, "substring needs the argument(s) 'start'"),
        ("regex_extract", {"pattern": ""}, "regex_extract's 'pattern' must be a non-empty regular expression, not ''"),
        (
            "regex_extract",
            {"pattern": "(ab"},
            "regex_extract's pattern '(ab' is not a valid regular expression: "
            "missing ), unterminated subpattern at position 0",
        ),
        (
            "regex_extract",
            {"pattern": r"(\d+)", "group": 2},
            "regex_extract's 'group' must be a whole number from 0 to 1 (the pattern has 1 group(s)), not 2",
        ),
        (
            "regex_extract",
            {"pattern": r"\d+", "group": "1"},
            "regex_extract's 'group' must be a whole number from 0 to 0 (the pattern has 0 group(s)), not '1'",
        ),
        (
            "regex_extract",
            {"pattern": r"(a+)+$"},
            "regex_extract's pattern '(a+)+$' repeats a repeat (like (a+)+), which can make matching take forever; "
            "use a single repeat",
        ),
        ("trim", {"chars": "x"}, "trim takes no arguments, not 'chars'"),
        ("nullif_empty", {"x": 1}, "nullif_empty does not take 'x' (its arguments: none)"),
        ("", {"from": "a"}, "a mapping without transform takes no arguments, not 'from'"),
        ("replace", ["a", "b"], "the arguments of replace must be an object, not ['a', 'b']"),
    ],
)
def test_transform_arguments_are_validated_naming_the_column(transform, args, problem):
    assert validate_columns([spec("name", transform=transform, transform_args=args)]) == [f"column 'name': {problem}"]


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"(a*)*", "repeats a repeat (like (a+)+)"),
        (r"(\w+\s?)*$", "repeats a repeat (like (a+)+)"),
        (r"(?:x[a-z]{1,5})+", "repeats a repeat (like (a+)+)"),
        (r"(a|aa)+", "repeats alternatives that can match the same text (like (a|aa)+)"),
        (r"(ab|a)*", "repeats alternatives that can match the same text (like (a|aa)+)"),
        (r"(a)\1", "uses a backreference"),
    ],
)
def test_patterns_that_can_backtrack_forever_are_refused(pattern, problem):
    with pytest.raises(ValueError) as caught:
        safe_regex(pattern)

    assert problem in str(caught.value)


@pytest.mark.parametrize(
    "pattern", [r"(\d{3}-)+", r"(foo|bar)+", r"(\d|x)+", r"(\d+)-(\d+)", r"^\s*(.*?)\s*$", r"[\w.]+@[\w.]+"]
)
def test_usual_patterns_are_accepted(pattern):
    assert safe_regex(pattern).pattern == pattern


def test_patterns_are_limited_in_length():
    assert safe_regex("a" * 200)
    with pytest.raises(ValueError) as caught:
        safe_regex("a" * 201)

    assert str(caught.value) == "regex_extract's pattern is 201 characters long, more than the 200 allowed"


# -- conversion options --------------------------------------------------------------------------
def test_a_date_format_and_boolean_words_apply_to_the_column():
    row = compile_transform(
        ["born", "member"],
        [
            spec("born", "date", format="%d/%m/%Y"),
            spec("member", "boolean", true_words=("ja",), false_words=("nein",), default="nein"),
        ],
    )

    assert row(2, ["31/01/1990", "JA"]) == (date(1990, 1, 31), True)
    assert row(3, ["01/02/1990", ""]) == (date(1990, 2, 1), False)
    error = source_error(row, 4, ["1990-01-31", "ja"])
    assert (error.line, error.column, error.value) == (4, "born", "1990-01-31")
    assert error.reason == "is not a date in the format '%d/%m/%Y' (e.g. 31/01/2024)"
    error = source_error(row, 5, ["31/01/1990", "yes"])
    assert error.reason == "is not one of the accepted words (true: ja; false: nein)"


@pytest.mark.parametrize(
    ("column", "problem"),
    [
        (
            spec("born", "date", format="%d/%m"),
            "column 'born': format '%d/%m' does not give a whole date; it needs a year, a month and a day",
        ),
        (
            spec("qty", "integer", format="%Y"),
            "column 'qty': a format only applies to date and timestamp columns, not integer",
        ),
        (spec("ok", "boolean", true_words=("n",)), "column 'ok': 'n' cannot be both a true and a false word"),
        (
            spec("ok", "boolean", true_words=("y",), false_words=("n",), default="yes"),
            "column 'ok': default 'yes' is not one of the accepted words (true: y; false: n)",
        ),
        (
            spec("born", "date", format="%d/%m/%Y", default="2024-01-31"),
            "column 'born': default '2024-01-31' is not a date in the format '%d/%m/%Y' (e.g. 31/01/2024)",
        ),
    ],
)
def test_conversion_options_are_validated(column, problem):
    assert validate_columns([column]) == [problem]


def test_a_default_is_read_with_the_format():
    row = compile_transform(["born"], [spec("born", "date", format="%d/%m/%Y", default="01/01/1900")])

    assert row(2, [""]) == (date(1900, 1, 1),)


# -- calculated columns: validation --------------------------------------------------------------
def calculated(destination: str, expression: str, type_name: str = "text", **options) -> ColumnSpec:
    return ColumnSpec(destination, type_name, expression=expression, **options)


@pytest.mark.parametrize(
    ("columns", "problems"),
    [
        (
            [calculated("total", "qty *")],
            ["column 'total': syntax error at character 1 of the expression (invalid syntax)"],
        ),
        (
            [calculated("total", "open('/etc/passwd')")],
            [
                "column 'total': function 'open' is not available at character 1 of the expression (functions: abs, "
                "ceil, coalesce, concat, decimal, float, floor, int, left, length, lower, ltrim, max, min, nullif, "
                "replace, right, round, rtrim, str, substring, title, trim, upper)"
            ],
        ),
        (
            [ColumnSpec("total", "numeric", "qty", expression="qty * 2")],
            ["column 'total' has both a source column and an expression; keep one"],
        ),
        (
            [ColumnSpec("total", "text", transform="upper", expression="'a'")],
            [
                "column 'total': a transform applies to a source column; use the functions in the expression "
                "instead (upper(), trim(), replace(), ...)"
            ],
        ),
        (
            [calculated("total", "qty * 2", "integer", default="x")],
            ["column 'total': default 'x' is not a whole number (integer)"],
        ),
    ],
)
def test_calculated_columns_are_validated(columns, problems):
    assert validate_columns(columns) == problems


def test_with_the_source_names_unknown_names_are_reported():
    columns = [spec("qty", "integer"), calculated("total", "qty * prise", "numeric")]

    assert validate_columns(columns) == []
    assert validate_columns(columns, source_names=["qty", "price", "Unit Price"]) == [
        "column 'total': unknown name 'prise' at character 7 of the expression (available names: qty, price)"
    ]


def test_a_calculated_column_may_use_earlier_calculated_columns_only():
    columns = [
        spec("qty", "integer"),
        calculated("double", "qty * 2", "integer"),
        calculated("quadruple", "double * 2", "integer"),
        calculated("early", "late + 1", "integer"),
        calculated("late", "qty + 1", "integer"),
    ]

    assert validate_columns(columns, source_names=["qty"]) == [
        "column 'early': unknown name 'late' at character 1 of the expression (available names: qty, double, quadruple)"
    ]


def test_unknown_names_stop_compile_transform_as_a_mapping_error():
    with pytest.raises(MappingError) as caught:
        compile_transform(["qty"], [spec("qty", "integer"), calculated("total", "qtty * 2", "integer")])

    assert str(caught.value) == (
        "column 'total': unknown name 'qtty' at character 1 of the expression (available names: qty)"
    )


# -- calculated columns: values ------------------------------------------------------------------
ORDERS = ["Order ID", "qty", "price", "note"]
ORDER_ALIASES = ["order_id", "qty", "price", "note"]


def orders(columns: list[ColumnSpec], **options):
    return compile_transform(ORDERS, columns, aliases=ORDER_ALIASES, null_markers=("", "NULL"), **options)


def test_expressions_read_typed_destination_values():
    row = orders(
        [
            spec("qty", "integer"),
            spec("price", "numeric(8,2)"),
            calculated("total", "qty * price", "numeric(10,2)"),
        ]
    )

    assert row(2, ["A1", "3", "2.5", ""]) == (3, Decimal("2.50"), Decimal("7.50"))


def test_expressions_read_raw_source_fields_by_header_name_or_alias():
    row = orders(
        [
            calculated("ref", "concat('#', order_id, '/', upper(note))"),
            calculated("qty_text", "qty + 'x'"),  # qty is not mapped: its raw text
        ]
    )

    assert row(2, ["A1", "3", "2.5", "rush"]) == ("#A1/RUSH", "3x")


def test_a_null_marker_field_is_none_in_an_expression():
    row = orders([calculated("has_note", "note is not None", "boolean")])

    assert row(2, ["A1", "3", "2.5", "NULL"]) == (False,)
    assert row(3, ["A1", "3", "2.5", "x"]) == (True,)


def test_a_destination_value_wins_over_a_raw_field_of_the_same_name():
    row = orders([spec("qty", "integer", transform="trim"), calculated("next", "qty + 1", "integer")])

    assert row(2, ["A1", " 3 ", "", ""]) == (3, 4)


def test_calculated_columns_computed_after_the_others_in_mapping_order():
    row = orders(
        [
            spec("qty", "integer"),
            calculated("net", "qty * price", "numeric(10,2)"),
            spec("price", "numeric(8,2)"),
            calculated("gross", "net * 1.2", "numeric(10,2)"),
            calculated("label", "concat(qty, ' x ', price, ' = ', gross)"),
        ]
    )

    assert row(2, ["A1", "3", "2.5", ""]) == (
        3,
        Decimal("7.50"),
        Decimal("2.50"),
        Decimal("9.00"),
        "3 x 2.50 = 9.00",
    )


@pytest.mark.parametrize(
    ("type_name", "expression", "expected"),
    [
        ("integer", "qty * 2", 6),
        ("integer", "price * 2", 5),
        ("integer", "'42'", 42),
        ("smallint", "qty - 3", 0),
        ("numeric(6,1)", "price / 3", Decimal("0.8")),
        ("double precision", "price", 2.5),
        ("boolean", "qty > 2", True),
        ("boolean", "'yes'", True),
        ("date", "'2024-01-31'", date(2024, 1, 31)),
        ("text", "price", "2.50"),
        ("varchar(3)", "str(qty)", "3"),
    ],
)
def test_the_result_is_converted_to_the_destination_type(type_name, expression, expected):
    row = orders([spec("qty", "integer"), spec("price", "numeric(8,2)"), calculated("out", expression, type_name)])

    result = row(2, ["A1", "3", "2.5", ""])[2]

    assert result == expected
    assert type(result) is type(expected)


def test_a_text_result_uses_the_format_of_the_column():
    row = orders([calculated("day", "concat(note, '/2024')", "date", format="%d/%m/%Y")])

    assert row(2, ["A1", "3", "2.5", "31/01"]) == (date(2024, 1, 31),)


@pytest.mark.parametrize("expression", ["None", "''", "nullif(note, '')", "coalesce(note)"])
def test_a_null_or_empty_result_takes_the_default_else_null(expression):
    with_default = orders([calculated("out", expression, "integer", default="0")])
    without = orders([calculated("out", expression, "integer")])

    assert with_default(2, ["A1", "3", "2.5", ""]) == (0,)
    assert without(2, ["A1", "3", "2.5", ""]) == (None,)


def test_a_null_result_in_a_not_null_column_names_the_inputs():
    row = orders([spec("qty", "integer"), calculated("total", "qty * decimal(price)", "numeric", nullable=False)])

    error = source_error(row, 9, ["A1", "", "2.5", ""])

    assert (error.line, error.column, error.value) == (9, "total", "qty=NULL, price='2.5'")
    assert error.reason == "the expression gave NULL but 'total' is NOT NULL and has no default"


def test_a_failing_expression_rejects_the_row_with_line_column_and_inputs():
    row = orders(
        [spec("qty", "integer"), spec("price", "numeric(8,2)"), calculated("unit", "price / qty", "numeric(8,2)")]
    )

    error = source_error(row, 7, ["A1", "0", "2.5", ""])

    assert error.line == 7
    assert error.column == "unit"
    assert error.value == "price=2.50, qty=0"
    assert error.reason == "cannot calculate: division by zero at character 1 of the expression"
    assert str(error) == (
        "line 7, column 'unit': cannot calculate: division by zero at character 1 of the expression "
        "(value 'price=2.50, qty=0')"
    )


@pytest.mark.parametrize(
    ("type_name", "expression", "value", "reason"),
    [
        ("integer", "price / 2", "1.25", "the result is not a whole number (integer)"),
        ("smallint", "qty * 100000", "300000", "the result is out of range for smallint (-32768 to 32767)"),
        ("integer", "qty > 1", "true", "the result is a boolean, not a whole number (integer)"),
        ("numeric(3,2)", "price * 10", "25.00", "the result does not fit numeric(3,2)"),
        ("varchar(2)", "concat(qty, 'abc')", "3abc", "the result is 4 characters long, more than varchar(2) allows"),
        ("date", "'tomorrow'", "tomorrow", "the result is not a date (YYYY-MM-DD)"),
    ],
)
def test_a_result_the_column_cannot_take_rejects_the_row(type_name, expression, value, reason):
    row = orders([spec("qty", "integer"), spec("price", "numeric(8,2)"), calculated("out", expression, type_name)])

    error = source_error(row, 5, ["A1", "3", "2.5", ""])

    assert (error.line, error.column, error.value, error.reason) == (5, "out", value, reason)


def test_a_bad_source_value_is_reported_before_any_expression_runs():
    row = orders([spec("qty", "integer"), calculated("double", "qty * 2", "integer")])

    error = source_error(row, 3, ["A1", "three", "", ""])

    assert (error.column, error.value, error.reason) == ("qty", "three", "is not a whole number (integer)")


def test_a_constant_expression():
    row = orders([spec("qty", "integer"), calculated("source", "'file upload'")])

    assert row(2, ["A1", "1", "", ""]) == (1, "file upload")


# -- preview_transform ---------------------------------------------------------------------------
def test_preview_shows_values_as_text_and_keeps_going_after_a_bad_row():
    columns = [
        spec("qty", "integer"),
        spec("price", "numeric(8,2)"),
        calculated("total", "qty * price", "numeric(10,2)"),
        calculated("flag", "qty > 1", "boolean"),
        spec("note", transform="nullif_empty"),
    ]
    rows = [
        (2, ["A1", "3", "2.5", "rush"]),
        (3, ["A2", "x", "2.5", ""]),
        (4, ["A3", "1", "", "  "]),
        (5, ["A4", "1"]),
        (6, ["A5", "1", "2.5", "x", "extra"]),
    ]

    assert preview_transform(ORDERS, columns, aliases=ORDER_ALIASES, rows=rows) == [
        {"line": 2, "values": {"qty": "3", "price": "2.50", "total": "7.50", "flag": "true", "note": "rush"}},
        {
            "line": 3,
            "error": "line 3, column 'qty': is not a whole number (integer) (value 'x')",
            "column": "qty",
            "value": "x",
        },
        {"line": 4, "values": {"qty": "1", "price": None, "total": None, "flag": "false", "note": None}},
        {"line": 5, "error": "line 5: expected 4 fields as in the header, found 2", "column": "", "value": ""},
        {"line": 6, "error": "line 6: expected 4 fields as in the header, found 5", "column": "", "value": ""},
    ]


def test_preview_shows_dates_in_iso_form():
    columns = [spec("born", "date", format="%d/%m/%Y"), spec("seen", "timestamptz")]

    assert preview_transform(["born", "seen"], columns, rows=[(2, ["31/01/1990", "2024-01-31 13:45"])]) == [
        {"line": 2, "values": {"born": "1990-01-31", "seen": "2024-01-31 13:45:00+00:00"}}
    ]


def test_preview_raises_for_mappings_that_cannot_run():
    with pytest.raises(MappingError):
        preview_transform(["a"], [ColumnSpec("a")], rows=[])
