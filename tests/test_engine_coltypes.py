"""jobs.coltypes: destination type names and the converters that turn CSV text into values."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from jobs.coltypes import ColumnType, ConversionError, display_text, kind_of, parse_type

KNOWN = (
    "bigint, boolean, date, double precision, integer, json, jsonb, numeric, real, smallint, "
    "text, timestamp, timestamptz, uuid, varchar"
)


def convert(type_name: str, value: str):
    return parse_type(type_name).converter()(value)


def conversion_error(type_name: str, value: str) -> str:
    with pytest.raises(ConversionError) as caught:
        convert(type_name, value)
    return str(caught.value)


# -- parse_type --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("text", ColumnType("text")),
        ("string", ColumnType("text")),
        ("int", ColumnType("integer")),
        ("int4", ColumnType("integer")),
        ("int2", ColumnType("smallint")),
        ("int8", ColumnType("bigint")),
        ("decimal", ColumnType("numeric")),
        ("float", ColumnType("double precision")),
        ("float8", ColumnType("double precision")),
        ("double", ColumnType("double precision")),
        ("float4", ColumnType("real")),
        ("bool", ColumnType("boolean")),
        ("datetime", ColumnType("timestamp")),
        ("timestamp without time zone", ColumnType("timestamp")),
        ("timestamp with time zone", ColumnType("timestamptz")),
        ("character varying(10)", ColumnType("varchar", (10,))),
        ("jsonb", ColumnType("jsonb")),
        ("uuid", ColumnType("uuid")),
    ],
)
def test_parse_type_resolves_aliases(text, expected):
    assert parse_type(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("INT", ColumnType("integer")),
        ("  BigInt  ", ColumnType("bigint")),
        ("Double Precision", ColumnType("double precision")),
        ("double  precision", ColumnType("double precision")),
        ("VARCHAR (40)", ColumnType("varchar", (40,))),
        ("Numeric( 12 , 2 )", ColumnType("numeric", (12, 2))),
        ("numeric(12)", ColumnType("numeric", (12,))),
        ("DECIMAL(5,0)", ColumnType("numeric", (5, 0))),
    ],
)
def test_parse_type_ignores_case_and_spaces_around_sizes(text, expected):
    assert parse_type(text) == expected


def test_column_type_sql_is_canonical():
    assert parse_type("Numeric( 12 , 2 )").sql == "numeric(12,2)"
    assert parse_type("character varying(40)").sql == "varchar(40)"
    assert parse_type("float").sql == "double precision"
    assert parse_type("int").sql == "integer"


def test_only_text_and_varchar_are_text():
    assert [t for t in ("text", "varchar(5)", "integer", "json", "uuid") if parse_type(t).is_text] == [
        "text",
        "varchar(5)",
    ]


@pytest.mark.parametrize("text", ["blob", "nvarchar(10)", "serial"])
def test_unknown_type_lists_the_allowed_ones(text):
    with pytest.raises(ValueError) as caught:
        parse_type(text)

    assert str(caught.value) == f"unknown column type {text!r}; use one of: {KNOWN}"


@pytest.mark.parametrize("text", ["", "int(", "numeric(5,2,1)", "varchar(-1)", "9int", "int; drop table x"])
def test_unparseable_type_is_unknown(text):
    with pytest.raises(ValueError) as caught:
        parse_type(text)

    assert str(caught.value) == f"unknown column type {text!r}"


@pytest.mark.parametrize("text", ["varchar", "character varying", "varchar(10,2)"])
def test_varchar_needs_exactly_one_length(text):
    with pytest.raises(ValueError) as caught:
        parse_type(text)

    assert str(caught.value) == "varchar needs a length, e.g. varchar(100)"


def test_varchar_length_zero_is_rejected():
    with pytest.raises(ValueError) as caught:
        parse_type("varchar(0)")

    assert str(caught.value) == "varchar length must be between 1 and 10485760 (PostgreSQL's limit)"


@pytest.mark.parametrize(
    ("text", "shown"),
    [("numeric(0)", "numeric(0,0)"), ("numeric(1001)", "numeric(1001,0)"), ("numeric(5,6)", "numeric(5,6)")],
)
def test_numeric_precision_and_scale_out_of_range(text, shown):
    with pytest.raises(ValueError) as caught:
        parse_type(text)

    assert str(caught.value) == f"{shown} needs 1 <= precision <= 1000 and scale <= precision"


@pytest.mark.parametrize("text", ["numeric(1)", "numeric(1000)", "numeric(1000,1000)", "numeric(5,5)"])
def test_numeric_precision_and_scale_at_the_limits(text):
    assert parse_type(text).name == "numeric"


@pytest.mark.parametrize(("text", "name"), [("integer(4)", "integer"), ("text(10)", "text"), ("uuid(1)", "uuid")])
def test_other_types_take_no_size(text, name):
    with pytest.raises(ValueError) as caught:
        parse_type(text)

    assert str(caught.value) == f"{name} takes no size"


# -- text and varchar ----------------------------------------------------------------
def test_text_is_kept_exactly():
    assert convert("text", "  Mixed Case, spaces  ") == "  Mixed Case, spaces  "


def test_varchar_counts_characters_not_bytes():
    assert convert("varchar(3)", "abc") == "abc"
    assert convert("varchar(3)", "héé") == "héé"


def test_varchar_rejects_one_character_too_many():
    assert conversion_error("varchar(3)", "abcd") == "is 4 characters long, more than varchar(3) allows"


# -- integers ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("type_name", "low", "high"),
    [
        ("smallint", -32768, 32767),
        ("integer", -2147483648, 2147483647),
        ("bigint", -9223372036854775808, 9223372036854775807),
    ],
)
def test_integer_types_accept_their_exact_range_and_not_one_more(type_name, low, high):
    assert convert(type_name, str(low)) == low
    assert convert(type_name, str(high)) == high
    expected = f"is out of range for {type_name} ({low} to {high})"
    assert conversion_error(type_name, str(low - 1)) == expected
    assert conversion_error(type_name, str(high + 1)) == expected


@pytest.mark.parametrize(("text", "number"), [(" 42 ", 42), ("\t-7\n", -7), ("+7", 7), ("007", 7), ("-0", 0)])
def test_integers_allow_surrounding_spaces_and_a_sign(text, number):
    assert convert("integer", text) == number


@pytest.mark.parametrize("text", ["1_000", "4 2", "1.0", "1e3", "0x10", "", "  ", "one", "1,000"])
def test_integers_reject_anything_but_digits(text):
    assert conversion_error("integer", text) == "is not a whole number (integer)"


# -- numeric -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("type_name", "text", "expected"),
    [
        ("numeric(5,2)", "123.456", "123.46"),
        ("numeric(5,2)", "12.5", "12.50"),
        ("numeric(5,2)", " 12.5 ", "12.50"),
        ("numeric(5,2)", ".5", "0.50"),
        ("numeric(5,2)", "5.", "5.00"),
        ("numeric(5,2)", "1e2", "100.00"),
        ("numeric(5,2)", "-999.994", "-999.99"),
        ("numeric(5,2)", "0.001", "0.00"),
        ("numeric(3,3)", "0.5", "0.500"),
        ("numeric(10)", "12.4", "12"),
        ("numeric", "123.456789", "123.456789"),
        ("numeric", "-1e3", "-1E+3"),
    ],
)
def test_numeric_is_quantised_to_the_column_scale(type_name, text, expected):
    value = convert(type_name, text)

    assert isinstance(value, Decimal)
    assert str(value) == expected


@pytest.mark.parametrize(
    ("type_name", "text", "expected"),
    [
        ("numeric(5,2)", "0.125", "0.13"),
        ("numeric(5,2)", "-0.125", "-0.13"),
        ("numeric(5,2)", "0.135", "0.14"),
        ("numeric(10)", "12.5", "13"),
        ("numeric(10)", "-12.5", "-13"),
    ],
)
def test_numeric_rounds_half_away_from_zero_like_postgresql(type_name, text, expected):
    assert str(convert(type_name, text)) == expected


@pytest.mark.parametrize(
    ("type_name", "text"),
    [
        ("numeric(5,2)", "1000"),
        ("numeric(5,2)", "999.995"),
        ("numeric(5,2)", "-1000"),
        ("numeric(5,2)", "1e400"),
        ("numeric(2,2)", "0.999"),
        ("numeric(38,0)", "9" * 39),
    ],
)
def test_numeric_overflow_does_not_fit(type_name, text):
    precision, scale = parse_type(type_name).params
    assert conversion_error(type_name, text) == f"does not fit numeric({precision},{scale})"


def test_numeric_wider_than_28_digits_keeps_every_digit():
    # 28 digits is the default decimal context; numeric(38,x) is common in warehouses.
    assert str(convert("numeric(38,0)", "9" * 38)) == "9" * 38
    assert str(convert("numeric(40,2)", "1" * 35)) == "1" * 35 + ".00"


@pytest.mark.parametrize("text", ["", "abc", "1,5", "1_000", "NaN", "Infinity", "1.2.3", "--1", "1 000"])
def test_numeric_rejects_what_is_not_a_number(text):
    assert conversion_error("numeric(10,2)", text) == "is not a number"


# -- floating point ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "number"),
    [("1.5", 1.5), (" -2e3 ", -2000.0), (".25", 0.25), ("inf", math.inf), ("-Infinity", -math.inf)],
)
def test_double_precision_accepts_numbers_and_infinity_words(text, number):
    assert convert("double precision", text) == number


def test_double_precision_accepts_nan():
    assert math.isnan(convert("float8", "NaN"))


@pytest.mark.parametrize(("type_name", "text"), [("double precision", "1e400"), ("real", "-1e400")])
def test_float_overflow_is_out_of_range_not_infinity(type_name, text):
    assert conversion_error(type_name, text) == f"is out of range for {type_name}"


@pytest.mark.parametrize("text", ["", "abc", "1,5", "1_0", "0x1p3"])
def test_float_rejects_what_is_not_a_number(text):
    assert conversion_error("real", text) == "is not a number"


# -- boolean ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["true", "t", "yes", "y", "1", "on", "TRUE", " Yes ", "On"])
def test_boolean_true_words(text):
    assert convert("boolean", text) is True


@pytest.mark.parametrize("text", ["false", "f", "no", "n", "0", "off", "FALSE", " No ", "OFF"])
def test_boolean_false_words(text):
    assert convert("boolean", text) is False


@pytest.mark.parametrize("text", ["2", "", "truthy", "nope", "-1"])
def test_boolean_rejects_other_words(text):
    assert conversion_error("bool", text) == "is not a boolean (true/false, yes/no, 1/0, t/f)"


# -- dates and timestamps --------------------------------------------------------------
@pytest.mark.parametrize(("text", "day"), [("2024-02-29", date(2024, 2, 29)), (" 2024-01-31 ", date(2024, 1, 31))])
def test_date_accepts_iso_dates(text, day):
    assert convert("date", text) == day


@pytest.mark.parametrize("text", ["2023-02-29", "2024-13-01", "31/01/2024", "", "yesterday"])
def test_date_rejects_impossible_or_foreign_dates(text):
    assert conversion_error("date", text) == "is not a date (YYYY-MM-DD)"


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2024-01-02 03:04:05", datetime(2024, 1, 2, 3, 4, 5)),
        ("2024-01-02T03:04:05.123456", datetime(2024, 1, 2, 3, 4, 5, 123456)),
        (" 2024-01-02 03:04 ", datetime(2024, 1, 2, 3, 4)),
        ("2024-01-02", datetime(2024, 1, 2)),
    ],
)
def test_timestamp_accepts_naive_values(text, moment):
    value = convert("timestamp", text)

    assert value == moment
    assert value.tzinfo is None


@pytest.mark.parametrize("text", ["2024-01-02 03:04:05+02:00", "2024-01-02T03:04:05Z", "2024-01-02 03:04:05-0500"])
def test_timestamp_rejects_values_with_an_offset(text):
    assert conversion_error("timestamp", text) == "has a time zone offset; use timestamptz for this column"


def test_timestamptz_treats_naive_values_as_utc():
    value = convert("timestamptz", "2024-01-02 03:04:05")

    assert value == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert value.utcoffset() == timedelta(0)


def test_timestamptz_keeps_a_given_offset():
    value = convert("timestamp with time zone", "2024-01-02 03:04:05+02:00")

    assert value.utcoffset() == timedelta(hours=2)
    assert value == datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert value.tzinfo == timezone(timedelta(hours=2))


@pytest.mark.parametrize("type_name", ["timestamp", "timestamptz"])
@pytest.mark.parametrize("text", ["", "2024-01-02 25:00:00", "02/01/2024 10:00", "now"])
def test_timestamps_reject_what_is_not_a_timestamp(type_name, text):
    assert conversion_error(type_name, text) == "is not a timestamp (YYYY-MM-DD HH:MM:SS)"


# -- uuid and json -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "12345678-1234-5678-1234-567812345678",
        " 12345678-1234-5678-1234-567812345678 ",
        "12345678-1234-5678-1234-567812345678".upper(),
        "{12345678-1234-5678-1234-567812345678}",
        "12345678123456781234567812345678",
    ],
)
def test_uuid_accepts_the_usual_spellings(text):
    assert convert("uuid", text) == uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    "text", ["", "xyz", "12345678-1234-5678-1234-56781234567", "12345678-1234-5678-1234-56781234567g"]
)
def test_uuid_rejects_malformed_values(text):
    assert conversion_error("uuid", text) == "is not a UUID"


@pytest.mark.parametrize("type_name", ["json", "jsonb"])
@pytest.mark.parametrize("text", ['{"a": [1, 2.5, null, true]}', "[]", '"text"', "3", " null ", "1" * 5000])
def test_json_is_validated_and_kept_as_the_original_text(type_name, text):
    assert convert(type_name, text) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "Expecting value"),
        ("{bad", "Expecting property name enclosed in double quotes"),
        ("{'a': 1}", "Expecting property name enclosed in double quotes"),
        ("[1, 2", "Expecting ',' delimiter"),
        ("{} {}", "Extra data"),
    ],
)
def test_json_rejects_invalid_text_with_the_parser_reason(text, reason):
    assert conversion_error("json", text) == f"is not valid JSON ({reason})"


@pytest.mark.parametrize(
    ("text", "word"), [("NaN", "NaN"), ('{"a": Infinity}', "Infinity"), ("[-Infinity]", "-Infinity")]
)
def test_json_rejects_nan_and_infinity_which_postgresql_refuses(text, word):
    assert conversion_error("jsonb", text) == f"is not valid JSON ({word} is not allowed)"


@pytest.mark.parametrize("type_name", ["integer", "numeric(6,2)", "double precision"])
def test_only_ascii_digits_are_numbers(type_name):
    with pytest.raises(ConversionError):
        parse_type(type_name).converter()("\u0661\u0662\u0663")  # Arabic-Indic 123


# -- overflow and range edges ---------------------------------------------------------------
@pytest.mark.parametrize("type_name", ["smallint", "integer", "bigint"])
def test_thousands_of_digits_are_out_of_range_not_a_crash(type_name):
    low, high = {"smallint": (-32768, 32767), "integer": (-2147483648, 2147483647)}.get(
        type_name, (-9223372036854775808, 9223372036854775807)
    )

    assert conversion_error(type_name, "9" * 5000) == f"is out of range for {type_name} ({low} to {high})"
    assert conversion_error(type_name, "-" + "9" * 20) == f"is out of range for {type_name} ({low} to {high})"


def test_leading_zeros_do_not_count_as_digits():
    assert convert("smallint", "-" + "0" * 5000 + "1") == -1
    assert convert("bigint", "0" * 30 + "9223372036854775807") == 9223372036854775807


@pytest.mark.parametrize("type_name", ["numeric", "numeric(10,2)"])
def test_an_exponent_beyond_any_decimal_is_out_of_range(type_name):
    assert conversion_error(type_name, "1e9999999999999999999") == "is out of range for numeric"


def test_unconstrained_numeric_has_postgresqls_limits():
    assert convert("numeric", "1e131071") == Decimal("1e131071")
    assert conversion_error("numeric", "1e131072") == "is out of range for numeric"
    assert convert("numeric", "1e-16383") == Decimal("1e-16383")
    assert conversion_error("numeric", "1e-16384") == "is out of range for numeric"
    assert convert("numeric", "0e-20000") == 0


@pytest.mark.parametrize(
    ("text", "number"),
    [("3.4e38", 3.4e38), ("-3.4028235e38", -3.4028235e38), ("1e-45", 1e-45), ("0", 0.0), ("inf", math.inf)],
)
def test_real_accepts_what_fits_four_bytes(text, number):
    assert convert("real", text) == number


@pytest.mark.parametrize("text", ["3.5e38", "-1e39", "1e-46", "-7e-46"])
def test_real_rejects_what_does_not_fit_four_bytes(text):
    assert conversion_error("real", text) == "is out of range for real"


@pytest.mark.parametrize("text", ["1e-400", "-2.5e-400"])
def test_double_precision_rejects_underflow_to_zero(text):
    assert conversion_error("double precision", text) == "is out of range for double precision"


@pytest.mark.parametrize("text", ["0", "-0", "0.000", "0e10", ".0"])
def test_zero_is_not_underflow(text):
    assert convert("double precision", text) == 0.0


# -- boolean words ------------------------------------------------------------------------------
def words(type_name: str = "boolean", **options):
    return parse_type(type_name).converter(**options)


def test_boolean_words_replace_the_defaults_case_insensitively():
    to_bool = words(true_words=["Ja", "J"], false_words=["Nein", "N"])

    assert [to_bool(v) for v in ["ja", " JA ", "j", "nein", "N"]] == [True, True, True, False, False]
    with pytest.raises(ConversionError) as caught:
        to_bool("yes")
    assert str(caught.value) == "is not one of the accepted words (true: Ja, J; false: Nein, N)"


def test_one_list_of_words_keeps_the_default_words_for_the_other():
    to_bool = words(true_words=["X"])

    assert [to_bool(v) for v in ["x", "no", "0", "False"]] == [True, False, False, False]
    with pytest.raises(ConversionError) as caught:
        to_bool("yes")
    assert str(caught.value) == "is not one of the accepted words (true: X; false: false, f, no, n, 0, off)"
    assert words(false_words=["nein"])("1") is True


def test_boolean_words_compare_unicode_case_folded():
    to_bool = words(true_words=["Straße"], false_words=["Öff"])

    assert to_bool("STRASSE") is True
    assert to_bool("öff") is False


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"true_words": ["0"]}, "'0' cannot be both a true and a false word"),
        ({"true_words": ["ja", "X"], "false_words": ["x"]}, "'x' cannot be both a true and a false word"),
        ({"true_words": ["  "], "false_words": ["n"]}, "the true words must be non-empty text, not '  '"),
        ({"true_words": ["y"], "false_words": [0]}, "the false words must be non-empty text, not 0"),
    ],
)
def test_boolean_words_that_cannot_work(options, problem):
    with pytest.raises(ValueError) as caught:
        words(**options)

    assert str(caught.value) == problem


def test_boolean_words_only_apply_to_booleans():
    with pytest.raises(ValueError) as caught:
        words("integer", true_words=["y"], false_words=["n"])

    assert str(caught.value) == "true and false words only apply to boolean columns, not integer"


# -- date and timestamp formats --------------------------------------------------------------
@pytest.mark.parametrize(
    ("type_name", "format", "text", "expected"),
    [
        ("date", "%d/%m/%Y", "31/01/2024", date(2024, 1, 31)),
        ("date", "%d/%m/%Y", " 1/2/2024 ", date(2024, 2, 1)),
        ("date", "%d.%m.%y", "31.01.24", date(2024, 1, 31)),
        ("date", "%Y%m%d", "20240131", date(2024, 1, 31)),
        ("date", "%d %B %Y", "31 January 2024", date(2024, 1, 31)),
        ("date", "%j/%Y", "031/2024", date(2024, 1, 31)),
        ("date", "%G-W%V-%u", "2024-W05-3", date(2024, 1, 31)),
        ("date", "%Y %W %a", "2024 05 Wed", date(2024, 1, 31)),
        ("date", "%a, %d %b %Y", "Wed, 31 Jan 2024", date(2024, 1, 31)),
        ("timestamp", "%d/%m/%Y %H:%M", "31/01/2024 13:45", datetime(2024, 1, 31, 13, 45)),
        ("timestamp", "%b %d %Y %I:%M %p", "Jan 31 2024 01:45 PM", datetime(2024, 1, 31, 13, 45)),
        ("timestamp", "%d/%m/%Y", "31/01/2024", datetime(2024, 1, 31)),
        ("timestamp", "%Y-%m-%d %H:%M:%S.%f", "2024-01-31 13:45:30.5", datetime(2024, 1, 31, 13, 45, 30, 500000)),
        ("timestamptz", "%d/%m/%Y %H:%M", "31/01/2024 13:45", datetime(2024, 1, 31, 13, 45, tzinfo=UTC)),
    ],
)
def test_dates_and_timestamps_with_a_format(type_name, format, text, expected):
    value = parse_type(type_name).converter(format=format)(text)

    assert value == expected
    assert type(value) is type(expected)


def test_timestamptz_format_with_an_offset_keeps_it():
    value = parse_type("timestamptz").converter(format="%d/%m/%Y %H:%M %z")("31/01/2024 13:45 +0200")

    assert value.utcoffset() == timedelta(hours=2)
    assert value == datetime(2024, 1, 31, 11, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("type_name", "format", "text", "problem"),
    [
        ("date", "%d/%m/%Y", "2024-01-31", "is not a date in the format '%d/%m/%Y' (e.g. 31/01/2024)"),
        ("date", "%d/%m/%Y", "31/02/2024", "is not a date in the format '%d/%m/%Y' (e.g. 31/01/2024)"),
        ("date", "%d/%m/%Y", "31/01/2024 extra", "is not a date in the format '%d/%m/%Y' (e.g. 31/01/2024)"),
        (
            "timestamp",
            "%d/%m/%Y %H:%M",
            "31/01/2024 25:00",
            "is not a timestamp in the format '%d/%m/%Y %H:%M' (e.g. 31/01/2024 13:45)",
        ),
    ],
)
def test_a_value_that_does_not_match_the_format(type_name, format, text, problem):
    with pytest.raises(ConversionError) as caught:
        parse_type(type_name).converter(format=format)(text)

    assert str(caught.value) == problem


@pytest.mark.parametrize(
    ("type_name", "format", "problem"),
    [
        ("date", "dd/mm/yyyy", "format 'dd/mm/yyyy' has no directive such as %Y, %m or %d"),
        ("date", "%%", "format '%%' has no directive such as %Y, %m or %d"),
        ("date", "%d/%m/%Y %", "format '%d/%m/%Y %' ends with a lone %; write %% for a percent sign"),
        ("date", "%d/%m/%Q", "format '%d/%m/%Q': %Q is not a strptime directive"),
        ("date", "%D", "format '%D': %D is not a strptime directive"),
        ("date", "%c", "format '%c': %c depends on the locale; spell the parts out, e.g. %d/%m/%Y"),
        (
            "timestamptz",
            "%Y-%m-%d %H:%M %Z",
            "format '%Y-%m-%d %H:%M %Z': %Z (time zone names) is not supported; use %z for offsets like +0200",
        ),
        (
            "date",
            "%d/%m/%Y %H:%M",
            "format '%d/%m/%Y %H:%M' reads a time (%H), which a date column would drop; "
            "use a timestamp column or leave the time out of the format",
        ),
        (
            "timestamp",
            "%Y-%m-%dT%H:%M%z",
            "format '%Y-%m-%dT%H:%M%z' reads a UTC offset (%z); use a timestamptz column for it",
        ),
        ("timestamp", "%d/%m/%Y %I:%M", "format '%d/%m/%Y %I:%M' has %I (12-hour clock) without %p (AM/PM)"),
        (
            "timestamp",
            "%d/%m/%Y %H %p",
            "format '%d/%m/%Y %H %p' has %p (AM/PM), which only works with %I (12-hour clock)",
        ),
        ("date", "%m/%Y", "format '%m/%Y' does not give a whole date; it needs a year, a month and a day"),
        ("date", "%d/%m", "format '%d/%m' does not give a whole date; it needs a year, a month and a day"),
        ("date", "%Y-%V-%u", "format '%Y-%V-%u' does not give a whole date; it needs a year, a month and a day"),
        ("date", "%Y %Y-%m-%d", "format '%Y %Y-%m-%d' has %Y twice"),
        (
            "date",
            "%Y-%m-%d %G",
            "format '%Y-%m-%d %G' gives the day in two ways (month and day and ISO week); keep one",
        ),
        (
            "date",
            "%j %d/%m/%Y",
            "format '%j %d/%m/%Y' gives the day in two ways (month and day and day of the year); keep one",
        ),
        ("date", "%d/%m/%Y %y", "format '%d/%m/%Y %y' reads the same field twice (%Y and %y)"),
        ("date", "%G-W%V", "format '%G-W%V' does not give a whole date; it needs a year, a month and a day"),
        ("date", "%Y %W", "format '%Y %W' does not give a whole date; it needs a year, a month and a day"),
        ("integer", "%Y", "a format only applies to date and timestamp columns, not integer"),
    ],
)
def test_formats_that_cannot_work_are_refused(type_name, format, problem):
    with pytest.raises(ValueError) as caught:
        parse_type(type_name).converter(format=format)

    assert str(caught.value) == problem


# -- converting calculated values ------------------------------------------------------------
def value(type_name: str, item, **options):
    return parse_type(type_name).value_converter(**options)(item)


def value_error(type_name: str, item, **options) -> str:
    with pytest.raises(ConversionError) as caught:
        value(type_name, item, **options)
    return str(caught.value)


@pytest.mark.parametrize(
    ("type_name", "item", "expected"),
    [
        ("integer", 7, 7),
        ("integer", Decimal("7.000"), 7),
        ("integer", 7.0, 7),
        ("integer", " 7 ", 7),
        ("bigint", -(2**63), -(2**63)),
        ("numeric(6,2)", 7, Decimal("7.00")),
        ("numeric(6,2)", Decimal("1.005"), Decimal("1.01")),
        ("numeric(6,2)", 0.1, Decimal("0.10")),
        ("numeric", Decimal("1E+3"), Decimal("1E+3")),
        ("double precision", Decimal("0.5"), 0.5),
        ("real", 2, 2.0),
        ("boolean", True, True),
        ("boolean", "yes", True),
        ("date", date(2024, 1, 31), date(2024, 1, 31)),
        ("date", "2024-01-31", date(2024, 1, 31)),
        ("timestamp", date(2024, 1, 31), datetime(2024, 1, 31)),
        ("timestamp", datetime(2024, 1, 31, 13, 45), datetime(2024, 1, 31, 13, 45)),
        ("timestamptz", datetime(2024, 1, 31, 13, 45), datetime(2024, 1, 31, 13, 45, tzinfo=UTC)),
        ("uuid", uuid.UUID(int=1), uuid.UUID(int=1)),
        ("text", Decimal("7.50"), "7.50"),
        ("text", True, "true"),
        ("text", date(2024, 1, 31), "2024-01-31"),
        ("varchar(3)", 123, "123"),
        ("jsonb", Decimal("1.5"), "1.5"),
        ("json", False, "false"),
    ],
)
def test_calculated_values_are_converted_to_the_column_type(type_name, item, expected):
    result = value(type_name, item)

    assert result == expected
    assert type(result) is type(expected)
    if isinstance(expected, Decimal):
        assert str(result) == str(expected)


@pytest.mark.parametrize(
    ("type_name", "item", "problem"),
    [
        ("integer", Decimal("3.5"), "is not a whole number (integer)"),
        ("integer", 3.5, "is not a whole number (integer)"),
        ("integer", math.nan, "is not a whole number (integer)"),
        ("integer", math.inf, "is not a whole number (integer)"),
        ("integer", 2**31, "is out of range for integer (-2147483648 to 2147483647)"),
        ("smallint", Decimal("1E+5"), "is out of range for smallint (-32768 to 32767)"),
        ("bigint", Decimal("1E+999"), "is out of range for bigint (-9223372036854775808 to 9223372036854775807)"),
        ("integer", True, "is a boolean, not a whole number (integer)"),
        ("integer", date(2024, 1, 1), "is a date, not a whole number (integer)"),
        ("numeric(3,2)", Decimal("10"), "does not fit numeric(3,2)"),
        ("numeric", math.inf, "is not a number"),
        ("numeric", True, "is a boolean, not a number"),
        ("double precision", Decimal("1E+400"), "is out of range for double precision"),
        ("real", 1e39, "is out of range for real"),
        ("boolean", 1, "is a number, not a boolean"),
        ("date", datetime(2024, 1, 31, 13, 45), "is a timestamp, not a date"),
        ("date", 20240131, "is a number, not a date"),
        ("timestamp", datetime(2024, 1, 31, tzinfo=UTC), "has a time zone offset; use timestamptz for this column"),
        ("timestamptz", "yesterday", "is not a timestamp (YYYY-MM-DD HH:MM:SS)"),
        ("uuid", 1, "is a number, not a uuid"),
        ("varchar(2)", 123, "is 3 characters long, more than varchar(2) allows"),
        ("json", date(2024, 1, 1), "is not valid JSON (Extra data)"),
    ],
)
def test_calculated_values_that_do_not_fit(type_name, item, problem):
    assert value_error(type_name, item) == problem


def test_calculated_text_uses_the_format_and_words():
    assert value("date", "31/01/2024", format="%d/%m/%Y") == date(2024, 1, 31)
    assert value("boolean", "JA", true_words=["ja"], false_words=["nein"]) is True


# -- display_text and kind_of --------------------------------------------------------------
@pytest.mark.parametrize(
    ("item", "text", "kind"),
    [
        (None, None, "NULL"),
        ("a", "a", "text"),
        (True, "true", "boolean"),
        (False, "false", "boolean"),
        (7, "7", "number"),
        (Decimal("7.50"), "7.50", "number"),
        (0.5, "0.5", "number"),
        (date(2024, 1, 31), "2024-01-31", "date"),
        (datetime(2024, 1, 31, 13, 45), "2024-01-31 13:45:00", "timestamp"),
        (datetime(2024, 1, 31, 13, 45, tzinfo=UTC), "2024-01-31 13:45:00+00:00", "timestamp"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001", "uuid"),
    ],
)
def test_display_text_and_kind(item, text, kind):
    assert display_text(item) == text
    assert kind_of(item) == kind


def test_whitespace_is_exactly_what_str_strip_removes():
    import sys

    from jobs.coltypes import WHITESPACE

    stripped = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    assert stripped == WHITESPACE
