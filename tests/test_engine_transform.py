"""jobs.transform: mapping validation and the compiled per-record function; jobs.errors wording."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from jobs.errors import SourceError
from jobs.reader import open_csv
from jobs.transform import ColumnSpec, compile_transform, transformed, validate_columns

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


def test_expressions_are_not_supported_yet():
    columns = [ColumnSpec("total", "numeric", expression="qty * price")]

    assert validate_columns(columns) == ["column 'total': calculated columns (expressions) are not supported yet"]


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
