"""jobs.inspection.profile: column types with their conflicts, and column statistics (issue #3, items 5 and 7).

No database: the profiler is plain Python.
"""

from __future__ import annotations

import random
import time
from datetime import datetime
from decimal import Decimal

import pytest

from jobs.coltypes import ConversionError, parse_type
from jobs.inspection.profile import DEFAULT_NULL_MARKERS, EXACT_DISTINCT_CAP, SUMMARY_SIZE, ColumnProfiler
from jobs.inspection.results import ColumnProfile, Conflict

FIRST_LINE = 2  # line 1 is the header


def profile(values, **options) -> ColumnProfile:
    profiler = ColumnProfiler(**options)
    for line, value in enumerate(values, start=FIRST_LINE):
        profiler.add(value, line)
    return profiler.result()


def type_of(values, **options) -> str:
    return profile(values, **options).type_sql


# -- null markers ------------------------------------------------------------------------
def test_default_null_markers_are_explicit_and_leave_na_and_dash_out():
    assert DEFAULT_NULL_MARKERS == ("", "NULL", "null", "N/A", "n/a", "#N/A")
    assert "NA" not in DEFAULT_NULL_MARKERS
    assert "-" not in DEFAULT_NULL_MARKERS


def test_every_default_marker_counts_as_null_and_never_as_a_conflict():
    result = profile(["1", "", "NULL", "null", "N/A", "n/a", "#N/A", "2"])
    assert (result.type_sql, result.rows, result.null_count, result.nullable) == ("smallint", 8, 6, True)
    assert result.null_percent == 75.0
    assert (result.conflicts, result.conflict_count) == ([], 0)
    assert result.distinct_estimate == 2
    assert result.top_values == [("1", 1), ("2", 1)]


def test_na_country_code_stays_a_value():
    result = profile(["NA", "US", "NA", "FR"])
    assert (result.type_sql, result.null_count, result.nullable) == ("text", 0, False)
    assert result.top_values == [("NA", 2), ("FR", 1), ("US", 1)]


def test_markers_match_exactly_and_case_sensitively():
    result = profile(["Null", " ", "NULL "])
    assert (result.type_sql, result.null_count, result.distinct_estimate) == ("text", 0, 3)


def test_custom_markers_replace_the_defaults():
    result = profile(["NA", "-", "", "4"], null_markers=("NA", "-"))
    assert (result.null_count, result.nullable) == (2, True)
    assert result.type_sql == "text"  # "" is a value now, and not a number
    assert profile(["NA", "-", "4"], null_markers=("NA", "-")).type_sql == "smallint"


def test_markers_of_every_length_are_found_among_longer_and_shorter_values():
    markers = ("-", "não informado", "#N/A")  # 1, 14 (in UTF-8) and 4 bytes
    values = ["não informado", "não informado!", "não", "-", "--", "#N/A", "#N/AB", "x" * 40, "-"] * 3
    result = profile(values, null_markers=markers)
    assert result.null_count == 12
    assert result.top_values == [("#N/AB", 3), ("--", 3), ("não", 3), ("não informado!", 3), ("x" * 40, 3)]


def test_nullable_only_when_a_null_was_seen():
    assert profile(["1", "2"]).nullable is False
    assert profile(["1", ""]).nullable is True


def test_a_column_of_nulls_only_is_text():
    result = profile(["", "NULL", ""])
    assert (result.type_sql, result.rows, result.null_count, result.distinct_estimate) == ("text", 3, 3, 0)
    assert (result.min, result.max, result.max_length, result.top_values) == (None, None, 0, [])


def test_no_values_at_all():
    result = profile([])
    assert (result.type_sql, result.rows, result.nullable, result.null_percent) == ("text", 0, False, 0.0)


# -- integers ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("32767", "smallint"),
        ("32768", "integer"),
        ("-32768", "smallint"),
        ("-32769", "integer"),
        ("2147483647", "integer"),
        ("2147483648", "bigint"),
        ("-2147483648", "integer"),
        ("-2147483649", "bigint"),
        (str(2**63 - 1), "bigint"),
        (str(2**63), "numeric(19,0)"),
        (str(-(2**63)), "bigint"),
        (str(-(2**63) - 1), "numeric(19,0)"),
        ("1" + "0" * 30, "numeric(31,0)"),
        ("9" * 1000, "numeric(1000,0)"),
        ("9" * 1001, "text"),  # beyond numeric's 1000 digits
    ],
)
def test_integer_width_follows_the_range(value, expected):
    assert type_of(["5", value]) == expected


def test_values_beyond_64_bits_are_never_wrapped():
    big = str(2**64 + 5)
    result = profile(["1", big])
    assert result.type_sql == "numeric(20,0)"
    assert parse_type(result.type_sql).converter()(big) == Decimal(big)


@pytest.mark.parametrize(
    "values",
    [
        ["00123", "45"],
        ["007"],
        ["02134", "10001", "94105"],  # ZIP codes
        ["-01", "5"],
        ["00", "1"],
        ["00.5", "1.5"],
    ],
)
def test_leading_zeros_keep_the_column_text(values):
    result = profile(values)
    assert result.type_sql == "text"
    assert (result.conflicts, result.conflict_count) == ([], 0)


def test_a_single_zero_is_a_number():
    assert type_of(["0", "10", "-0"]) == "smallint"
    assert type_of(["0.5", "0"]) == "numeric(2,1)"


@pytest.mark.parametrize(
    "values",
    [
        ["+44 20 7946 0958", "+1 415 555 0100"],
        ["+442079460958", "+14155550100"],
        ["+5", "6"],  # a plus sign is how phone numbers start; numbers are not written so
        ["555 0100", "555 0199"],
        ["(415) 555-0100"],
    ],
)
def test_phone_numbers_stay_text(values):
    assert type_of(values) == "text"


@pytest.mark.parametrize(
    "values",
    [
        ["1,234", "5"],  # thousands separator (or a decimal comma): ambiguous, so text
        ["1 234"],
        ["1e5", "2"],  # exponent: text, not numeric (codes like 12E3)
        ["2.5E-3"],
        ["1_000"],
        ["0x1F"],
        ["NaN"],
        ["inf"],
        ["١٢٣"],  # Arabic-Indic digits: int() reads them, the load does not
        ["²"],
        ["−5"],  # U+2212 MINUS SIGN
        ["-"],
        ["."],
        ["1.2.3"],
    ],
)
def test_things_that_look_numeric_but_are_text(values):
    assert type_of(values) == "text"


def test_surrounding_whitespace_is_ignored_when_typing_numbers():
    result = profile([" 42", "7 ", "\t-3\t"])
    assert (result.type_sql, result.min, result.max) == ("smallint", "-3", "42")
    assert result.top_values == [("\t-3\t", 1), (" 42", 1), ("7 ", 1)]  # statistics see the field as it is
    assert result.max_length == 4


def test_a_blank_field_is_not_null_unless_it_is_a_marker():
    values = [str(n) for n in range(30)]
    values[9] = "   "
    result = profile(values)
    assert result.type_sql == "smallint"
    assert result.conflicts == [Conflict(line=11, value="   ")]


# -- numeric -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1.50", "-12.345", ".5", "5."], "numeric(5,3)"),
        (["0.001"], "numeric(3,3)"),
        (["123", "4.5"], "numeric(4,1)"),
        (["-0.5"], "numeric(1,1)"),
        (["12345678901234567890.12"], "numeric(22,2)"),
        (["1." + "0" * 999], "numeric(1000,999)"),
    ],
)
def test_numeric_precision_and_scale_come_from_the_values(values, expected):
    assert type_of(values) == expected


def test_numeric_precision_over_1000_is_text():
    assert type_of(["1." + "0" * 1000]) == "text"
    assert type_of(["9" * 600, "0." + "1" * 500]) == "text"  # 600 + 500 digits together


def test_decimals_keep_every_digit_when_loaded():
    values = ["1.50", "-12.345", ".5", "5.", "99999.999"]
    result = profile(values)
    convert = parse_type(result.type_sql).converter()
    for value in values:
        assert convert(value) == Decimal(value)


# -- booleans ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "true_words", "false_words"),
    [
        (["true", "false", "true"], ("true",), ("false",)),
        (["yes", "no"], ("yes",), ("no",)),
        (["t", "f"], ("t",), ("f",)),
        (["Y", "N", "y"], ("Y", "y"), ("N",)),
        (["TRUE", "False", "Yes", "no"], ("TRUE", "Yes"), ("False", "no")),
        ([" yes", "no "], ("yes",), ("no",)),
        (["0", "1", "1"], ("1",), ("0",)),  # both 0 and 1, nothing else
        (["yes", "no", "1", "0"], ("1", "yes"), ("0", "no")),
        (["true", "1"], ("1", "true"), ()),
    ],
)
def test_booleans_and_the_spellings_found(values, true_words, false_words):
    result = profile(values)
    assert (result.type_sql, result.true_words, result.false_words) == ("boolean", true_words, false_words)
    assert (result.min, result.max) == (None, None)
    convert = parse_type("boolean").converter()
    assert [convert(value) for value in values] == [
        value.strip().lower() in {"true", "yes", "t", "y", "1"} for value in values
    ]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "1", "1"], "smallint"),  # only ones: a count, not a flag
        (["0", "0"], "smallint"),
        (["0", "1", "2"], "smallint"),
        (["on", "off"], "text"),
        (["yes", "no", "2"], "text"),
        (["y", "n", "maybe"], "text"),
    ],
)
def test_what_is_not_boolean(values, expected):
    result = profile(values)
    assert (result.type_sql, result.true_words, result.false_words) == (expected, (), ())


# -- dates and times ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "type_sql", "fmt"),
    [
        (["2023-01-02", "2024-02-29"], "date", "%Y-%m-%d"),
        (["2023-01-02 10:00", "2023-01-03 11:30"], "timestamp", "%Y-%m-%d %H:%M"),
        (["2023-01-02 10:00:05"], "timestamp", "%Y-%m-%d %H:%M:%S"),
        (["2023-01-02T10:00:05"], "timestamp", "%Y-%m-%dT%H:%M:%S"),
        (["2023-01-02 10:00:05.123456", "2023-01-02 10:00:05.5"], "timestamp", "%Y-%m-%d %H:%M:%S.%f"),
        (["2023-01-02T10:00:00Z"], "timestamptz", "%Y-%m-%dT%H:%M:%S%z"),
        (["2023-01-02T10:00:00+05:30", "2023-01-02T10:00:00-08:00"], "timestamptz", "%Y-%m-%dT%H:%M:%S%z"),
        (["2023-01-02 10:00+01:00"], "timestamptz", "%Y-%m-%d %H:%M%z"),
        # ISO variants mix: the load's ISO parser reads them all; `format` is the most common.
        (
            ["2023-01-02", "2023-01-02 10:00:00", "2023-01-03 10:00:00", "2023-01-02T10:00"],
            "timestamp",
            "%Y-%m-%d %H:%M:%S",
        ),
        (["2023-01-02 10:00:00", "2023-01-02T10:00:00Z"], "timestamptz", "%Y-%m-%dT%H:%M:%S%z"),
        (["2023-01-02", "2023-01-02T10:00:00+02:00"], "timestamptz", "%Y-%m-%dT%H:%M:%S%z"),
    ],
)
def test_iso_dates_and_times(values, type_sql, fmt):
    result = profile(values)
    assert (result.type_sql, result.format, result.conflict_count) == (type_sql, fmt, 0)
    convert = parse_type(result.type_sql).converter()
    for value in values:
        convert(value)  # ISO values load through the ISO parser: no ConversionError


@pytest.mark.parametrize(
    "values",
    [
        ["2023-02-30"],  # no such day
        ["2023-13-01"],
        ["2023-01-02 24:00"],
        ["2023-01-02T10:00:00+25:00"],
        ["2023-01-02T10:00:00.1234567"],  # 7 fraction digits would be truncated
        ["2023-01-02T10:00:00+0100"],  # offsets are ±HH:MM
        ["20230102T1000"],
        ["2023-1-2"],
        ["2023-01-02Z"],
        ["2023-01-02t10:00"],
    ],
)
def test_not_quite_iso_is_text(values):
    assert type_of(values) == "text"


def test_an_8_digit_date_without_separators_is_an_integer():
    assert type_of(["20230102"]) == "integer"


@pytest.mark.parametrize(
    ("values", "type_sql", "fmt"),
    [
        (["25/12/2023", "01/02/2023"], "date", "%d/%m/%Y"),
        (["12/25/2023", "01/02/2023"], "date", "%m/%d/%Y"),
        (["01/02/2023", "03/04/2023"], "date", "%d/%m/%Y"),  # undecided: day first
        (["1/2/2023", "3/14/2023"], "date", "%m/%d/%Y"),
        (["25.12.2023", "1.2.2023"], "date", "%d.%m.%Y"),
        (["01.02.2023"], "date", "%d.%m.%Y"),  # dots are day-first
        (["2023/12/25", "2023/1/2"], "date", "%Y/%m/%d"),
        (["25/12/2023 10:00", "01/02/2023 23:59"], "timestamp", "%d/%m/%Y %H:%M"),
        (["12/25/2023 10:00:05", "01/02/2023 9:00:00"], "timestamp", "%m/%d/%Y %H:%M:%S"),
        (["25.12.2023 10:00:05.250"], "timestamp", "%d.%m.%Y %H:%M:%S.%f"),
        (["2023/12/25 10:00"], "timestamp", "%Y/%m/%d %H:%M"),
    ],
)
def test_day_month_formats(values, type_sql, fmt):
    result = profile(values)
    assert (result.type_sql, result.format, result.conflict_count) == (type_sql, fmt, 0)
    for value in values:
        datetime.strptime(value, fmt)  # what the load will use for non-ISO formats


def test_day_first_and_month_first_in_one_small_column_is_text():
    assert type_of(["13/01/2023", "01/13/2023"]) == "text"


def test_one_format_per_column():
    assert type_of(["25/12/2023", "25/12/2023 10:00"]) == "text"  # date and timestamp layouts
    assert type_of(["25/12/2023", "2023-12-25"]) == "text"
    assert type_of(["25/12/2023", "25.12.2023"]) == "text"
    assert type_of(["25/12/2023 10:00", "25/12/2023 10:00:05"]) == "text"


@pytest.mark.parametrize(
    "values",
    [
        ["31/02/2023"],  # no such day either way
        ["00/01/2023"],
        ["25/13/2023"],
        ["25/12/23"],  # two-digit years are not read
        ["25-12-2023"],
        ["25/12/2023 25:00"],
        ["25/12/2023T10:00"],
        ["25/12/2023 10:00+01:00"],
        ["1/2/2023 1:05 PM"],
    ],
)
def test_not_a_day_month_date(values):
    assert type_of(values) == "text"


def test_ambiguity_decided_by_a_single_value_in_a_large_column():
    values = [f"{d:02d}/{m:02d}/2023" for d in range(1, 13) for m in range(1, 13)] * 20
    assert profile(values).format == "%d/%m/%Y"
    late = profile([*values, "04/30/2023"])
    assert (late.type_sql, late.format, late.conflict_count) == ("date", "%m/%d/%Y", 0)


# -- min / max in the column's type ------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "low", "high"),
    [
        (["9", "10", "-3", "100"], "-3", "100"),  # not "-3".."9" as text would say
        (["1.5", "-0.25", "10.0", "2"], "-0.25", "10.0"),
        ([str(2**70), "-5", str(2**65)], "-5", str(2**70)),
        (["2023-12-31", "2024-01-01", "2023-01-15"], "2023-01-15", "2024-01-01"),
        (["02/01/2024", "31/12/2023", "15/06/2023"], "15/06/2023", "02/01/2024"),
        (["01/02/2024", "12/31/2023", "06/15/2023"], "06/15/2023", "01/02/2024"),
        (["03/04/2023", "04/03/2023"], "04/03/2023", "03/04/2023"),  # day-first: 4 March < 3 April
        (["2023-01-01T10:00:00+05:00", "2023-01-01T06:00:00Z"], "2023-01-01T10:00:00+05:00", "2023-01-01T06:00:00Z"),
        (["banana", "Apple", "cherry"], "Apple", "cherry"),
        (["b", "a", "10", "9"], "10", "b"),
    ],
)
def test_min_and_max_compare_in_the_column_type(values, low, high):
    result = profile(values)
    assert (result.min, result.max) == (low, high)


def test_min_and_max_leave_conflicts_out():
    values = [str(n) for n in range(100, 2100)]
    values[5] = "zzz"
    result = profile(values)
    assert (result.type_sql, result.min, result.max) == ("smallint", "100", "2099")


def test_max_length_counts_characters_not_bytes():
    result = profile(["héllo", "日本語テキスト", "😀", "abc"])
    assert result.max_length == 7
    assert profile(["é" * 300]).max_length == 300


# -- conflicts and the stray-value rule --------------------------------------------------
def test_stray_values_are_listed_with_their_lines_and_the_column_keeps_its_type():
    values = [str(n) for n in range(2000)]
    values[5] = "n/a?"  # line 7
    values[88] = "twelve"  # line 90
    result = profile(values)
    assert result.type_sql == "smallint"
    assert result.conflicts == [Conflict(line=7, value="n/a?"), Conflict(line=90, value="twelve")]
    assert result.conflict_count == 2
    assert (result.rows, result.null_count, result.distinct_estimate) == (2000, 0, 2000)


def test_strays_allowed_are_at_most_one_per_thousand_values():
    def with_strays(total, strays):
        values = [str(n % 500) for n in range(total)]
        for i in range(strays):
            values[10 * i + 3] = f"x{i}"
        return profile(values)

    assert with_strays(2000, 2).type_sql == "smallint"  # max(1, 2000 // 1000) = 2
    assert with_strays(1999, 2).type_sql == "text"  # 1 allowed
    assert with_strays(2000, 3).type_sql == "text"
    assert with_strays(5000, 5).type_sql == "smallint"
    assert with_strays(999, 1).type_sql == "smallint"  # always at least one
    text = with_strays(2000, 3)
    assert (text.conflicts, text.conflict_count) == ([], 0)  # text takes everything


def test_strays_need_at_least_20_values():
    assert profile([*[str(n) for n in range(19)], "x"]).type_sql == "smallint"  # 20 values
    small = profile([*[str(n) for n in range(18)], "x"])  # 19
    assert (small.type_sql, small.conflict_count) == ("text", 0)


def test_only_the_first_conflicts_are_kept_but_all_are_counted():
    values = [str(n) for n in range(20000)]
    for i in range(12):
        values[100 + i * 7] = f"bad{i}"
    result = profile(values)
    assert result.type_sql == "smallint"
    assert result.conflict_count == 12
    assert result.conflicts == [Conflict(line=102 + i * 7, value=f"bad{i}") for i in range(5)]
    assert profile(values, max_conflicts=2).conflicts == result.conflicts[:2]
    assert profile(values, max_conflicts=0).conflicts == []


def test_a_repeated_stray_is_listed_at_each_line():
    values = ["5"] * 3000
    values[0] = values[1] = values[2] = "?"
    result = profile(values)
    assert result.conflicts == [Conflict(2, "?"), Conflict(3, "?"), Conflict(4, "?")]


def test_conflicts_in_order_of_lines_across_kinds_of_value():
    values = ["7"] * 5000
    values[40], values[10], values[30] = "2023-01-01", "abc", "yes"
    result = profile(values)
    assert result.conflicts == [Conflict(12, "abc"), Conflict(32, "yes"), Conflict(42, "2023-01-01")]


def test_a_wider_value_widens_the_column_instead_of_conflicting():
    # Widening never loses data, so it always wins over calling a value a stray.
    assert profile([*["5"] * 5000, "40000"]).type_sql == "integer"
    assert profile([*["5"] * 5000, "1.5"]).type_sql == "numeric(2,1)"
    assert profile([*["5"] * 5000, str(2**64)]).type_sql == "numeric(20,0)"
    assert profile([*["2023-01-01"] * 5000, "2023-01-01 10:00"]).type_sql == "timestamp"
    assert profile([*["2023-01-01 10:00"] * 5000, "2023-01-01T10:00Z"]).type_sql == "timestamptz"
    assert profile([*["0", "1"] * 2500, "2"]).type_sql == "smallint"


def test_strays_in_other_types():
    booleans = profile([*["yes", "no"] * 1000, "maybe"])
    assert (booleans.type_sql, booleans.conflicts, booleans.true_words) == (
        "boolean",
        [Conflict(2002, "maybe")],
        ("yes",),
    )
    dates = profile([*["2023-01-01"] * 2000, "2023-02-30"])
    assert (dates.type_sql, dates.conflicts) == ("date", [Conflict(2002, "2023-02-30")])
    day_first = profile([*["25/12/2023"] * 2000, "12/25/2023"])
    assert (day_first.type_sql, day_first.format, day_first.conflicts) == (
        "date",
        "%d/%m/%Y",
        [Conflict(2002, "12/25/2023")],
    )
    numbers = profile([*["1.5"] * 2000, "1,5"])
    assert (numbers.type_sql, numbers.conflicts) == ("numeric(2,1)", [Conflict(2002, "1,5")])


def test_nul_characters_always_conflict():
    text = profile(["a", "b\x00c", "d"])
    assert (text.type_sql, text.conflicts, text.conflict_count) == ("text", [Conflict(3, "b\x00c")], 1)
    assert (text.min, text.max) == ("a", "d")
    # Not counted as strays: 30 numbers, one stray, two NULs still make a smallint column.
    values = [str(n) for n in range(30)]
    values[3], values[4], values[5] = "\x00", "x", "1\x00"
    numbers = profile(values)
    assert numbers.type_sql == "smallint"
    assert numbers.conflicts == [Conflict(5, "\x00"), Conflict(6, "x"), Conflict(7, "1\x00")]


# -- every inferred type loads every value it accepted -----------------------------------
COLUMNS = [
    ["true", "false", "Yes", "n", " t "],
    ["0", "1", "0"],
    ["-32768", "32767", " 12 "],
    ["-2147483648", "2147483647"],
    [str(-(2**63)), str(2**63 - 1)],
    [str(2**63), "-1.25", ".5", "7."],
    ["2023-01-02", " 2024-02-29 "],
    ["2023-01-02 10:00", "2023-01-02T10:00:05.5", "2023-01-02"],
    ["2023-01-02T10:00:00Z", "2023-01-02 10:00:00+05:30", "2023-01-02 10:00"],
    ["hello", "", "NA", "00123"],
]


@pytest.mark.parametrize("values", COLUMNS)
def test_inferred_type_is_a_destination_type_and_converts_the_accepted_values(values):
    result = profile(values)
    column_type = parse_type(result.type_sql)
    assert column_type.sql == result.type_sql
    convert = column_type.converter()
    rejected = {conflict.value for conflict in result.conflicts}
    for value in values:
        if value not in DEFAULT_NULL_MARKERS and value not in rejected:
            convert(value)


def test_conflicting_values_are_the_ones_the_load_rejects():
    values = [str(n) for n in range(3000)]
    values[7], values[70] = "n/a?", "1e5"
    result = profile(values)
    convert = parse_type(result.type_sql).converter()
    assert [conflict.value for conflict in result.conflicts] == ["n/a?", "1e5"]
    for conflict in result.conflicts:
        with pytest.raises(ConversionError):
            convert(conflict.value)


def _tricky_values(rng: random.Random) -> dict[str, list[str]]:
    day = rng.randrange(1, 29)
    month = rng.randrange(1, 13)
    year = rng.randrange(1900, 2100)
    big = rng.randrange(2**62, 2**66)
    return {
        "small": [str(rng.randrange(-40000, 40000)), f" {rng.randrange(100)} ", "0", "1", "-0"],
        "wide": [str(rng.randrange(-(2**40), 2**40)), str(big), str(-big)],
        "decimal": [f"{rng.randrange(-999, 999)}.{rng.randrange(1000):03d}", f".{rng.randrange(10)}", "7."],
        "boolean": ["true", "FALSE", "Yes", "n", " t ", "0", "1"],
        "iso": [f"{year}-{month:02d}-{day:02d}", f"{year}-{month:02d}-{day:02d}T{rng.randrange(24):02d}:05"],
        "iso_aware": [f"{year}-{month:02d}-{day:02d} 10:{rng.randrange(60):02d}:00+0{rng.randrange(10)}:30"],
        "day_month": [f"{day}/{month}/{year}", f"{day:02d}/{month:02d}/{year}"],
        "month_day": [f"{month}/{day + 1 if day < 12 else day}/{year}"],
        "odd": [
            "007",
            "+5",
            "1e5",
            "1,5",
            "on",
            "2023-02-30",
            f"{year}-{month:02d}-{day:02d}T10:00:00.1234567",
            "  ",
            "NA",
            "-",
            "x\x00",
            "١٢",
            "31/02/2020",
            "12E3",
        ],
    }


def test_accepted_values_load_unchanged_and_conflicts_do_not_fit():
    # Random columns, mostly of one kind with a few values of others: whatever type is chosen,
    # every value it accepts loads without error and without change, and every value listed as a
    # conflict is rejected by the load or would be changed by it.
    rng = random.Random(20240601)
    pools = [_tricky_values(rng) for _ in range(200)]
    kinds = list(pools[0])
    for _ in range(300):
        main = rng.choice(kinds)
        size = rng.choice([5, 30, 2500])
        strays = 0.002 * rng.randrange(4)
        values = []
        for _ in range(size):
            kind = main if rng.random() > strays else rng.choice(kinds)
            values.append(rng.choice(rng.choice(pools)[kind]))
        values += [rng.choice(DEFAULT_NULL_MARKERS) for _ in range(rng.randrange(3))]
        rng.shuffle(values)
        result = profile(values, max_conflicts=10**6)
        column_type = parse_type(result.type_sql)
        if result.format and not result.format.startswith("%Y-%m-%d"):

            def load(value, fmt=result.format):  # non-ISO: the load parses with the chosen pattern
                try:
                    return datetime.strptime(value.strip(), fmt)
                except ValueError:
                    raise ConversionError(fmt) from None
        else:
            load = column_type.converter()
        conflicting = {conflict.value for conflict in result.conflicts}
        assert len(result.conflicts) == result.conflict_count
        for value in values:
            if value in DEFAULT_NULL_MARKERS:
                continue
            if value in conflicting:
                try:
                    loaded = load(value)
                except ConversionError:
                    continue
                # Read, but changed: a lost zero or sign, an exponent, a word.
                assert str(loaded) != value.strip() or column_type.name == "boolean", (result, value)
                continue
            loaded = load(value)
            if column_type.name in {"smallint", "integer", "bigint"}:
                assert loaded == int(value), value
            elif column_type.name == "numeric":
                assert loaded == Decimal(value.strip()), value
            elif column_type.name == "text":
                assert loaded == value


# -- distinct values and top values -----------------------------------------------------
def test_distinct_count_is_exact_up_to_the_cap():
    profiler = ColumnProfiler()
    for n in range(EXACT_DISTINCT_CAP):
        profiler.add(f"v{n}", n)
        profiler.add(f"v{n}", n)
    result = profiler.result()
    assert (result.distinct_estimate, profiler.approximate, result.rows) == (EXACT_DISTINCT_CAP, False, 20000)
    assert (profiler.top_values_error, result.top_values[0]) == (0, ("v0", 2))


@pytest.mark.parametrize(
    "make",
    [
        lambda n: str(n),
        lambda n: f"customer-{n:07d}@example.com",
        lambda n: f"2020-01-01 {n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.{n // 86400:03d}",
    ],
    ids=["integers", "emails", "timestamps"],
)
def test_distinct_estimate_within_5_percent_above_the_cap(make):
    profiler = ColumnProfiler()
    for n in range(200_000):
        profiler.add(make(n), n)
        if n % 4 == 0:
            profiler.add(make(n), n)  # repeats do not count
    result = profiler.result()
    assert profiler.approximate is True
    assert abs(result.distinct_estimate - 200_000) <= 10_000, result.distinct_estimate
    assert result.rows == 250_000


def test_long_distinct_values_switch_to_the_estimate_sooner():
    values = [f"{n:06d}" + "x" * 194 for n in range(8000)]  # 200 characters each
    profiler = ColumnProfiler()
    for line, value in enumerate(values):
        profiler.add(value, line)
    result = profiler.result()
    assert profiler.approximate is True  # 1,000,000 characters after 5,000 values
    assert abs(result.distinct_estimate - 8000) <= 400
    assert (result.min, result.max, result.max_length) == (values[0], values[-1], 200)


def test_top_values_exact_below_the_cap():
    result = profile(["a"] * 5 + ["b"] * 3 + ["c", "d", "d", "d"], top_k=3)
    assert result.top_values == [("a", 5), ("b", 3), ("d", 3)]  # ties by value


def test_top_values_stay_close_past_the_cap_with_bounded_memory():
    rng = random.Random(7)
    heavy = {"US": 40_000, "FR": 20_000, "DE": 10_000}
    values = [code for code, count in heavy.items() for _ in range(count)]
    values += [f"noise{n}" for n in range(130_000)]
    rng.shuffle(values)
    profiler = ColumnProfiler(top_k=3)
    for line, value in enumerate(values):
        profiler.add(value, line)
    result = profiler.result()
    assert profiler.approximate is True
    assert [value for value, _ in result.top_values] == ["US", "FR", "DE"]
    slack = len(values) // (SUMMARY_SIZE + 1)
    assert 0 < profiler.top_values_error <= slack
    for value, count in result.top_values:
        assert heavy[value] - profiler.top_values_error <= count <= heavy[value]
    summary_keys, _counts, _classes = profiler._keys  # pruned past 4 x SUMMARY_SIZE after every batch
    assert len(summary_keys) <= 4 * SUMMARY_SIZE
    assert result.rows == len(values)
    assert result.type_sql == "text"
    assert (result.min, result.max) == ("DE", "noise99999")


def test_type_and_counts_stay_exact_past_the_cap():
    values = [str(n) for n in range(50_000)]
    values[123] = "oops"
    result = profile(values)
    assert (result.type_sql, result.conflict_count, result.conflicts) == ("integer", 1, [Conflict(125, "oops")])
    assert (result.min, result.max, result.rows) == ("0", "49999", 50_000)


def test_long_values_are_shown_cut_and_counted_in_bounded_memory():
    long_a = "a" * 10_000_000
    long_b = "a" * 10_000_000 + "b"
    profiler = ColumnProfiler()
    for line, value in enumerate([long_a, long_b, long_a, "short"]):
        profiler.add(value, line)
    result = profiler.result()
    assert (result.distinct_estimate, result.max_length) == (3, 10_000_001)
    assert result.top_values[0] == ("a" * 200 + "…", 2)
    assert max(len(key) for key in profiler._keys[0].to_pylist()) < 300
    assert result.max == "short"


# -- throughput (printed with -s, not asserted) ------------------------------------------
def test_throughput_is_printed():
    rng = random.Random(1)
    columns = {
        "integers, 1,000 distinct": [str(rng.randrange(1000)) for _ in range(1_000_000)],
        "integers, all distinct": [str(1_000_000 + n) for n in range(1_000_000)],
    }
    for name, values in columns.items():
        profiler = ColumnProfiler()
        add = profiler.add
        started = time.perf_counter()
        for line, value in enumerate(values):
            add(value, line)
        seconds = time.perf_counter() - started
        print(f"\nprofile: {name}: {len(values) / seconds:,.0f} values/s ({profiler.result().type_sql})")


def test_add_many_gives_exactly_what_add_gives_value_by_value():
    import random

    rng = random.Random(7)
    pool = ["1", "2", "007", "", "NULL", "3.5", "2026-01-02", "x", "true", "99999999999"]
    for _ in range(50):
        values = [rng.choice(pool) + (str(rng.randrange(30_000)) if rng.random() < 0.5 else "") for _ in range(3_000)]
        lines = list(range(2, 2 + len(values)))
        one_by_one, batched = ColumnProfiler(), ColumnProfiler()
        for value, line in zip(values, lines, strict=True):
            one_by_one.add(value, line)
        for start in range(0, len(values), 700):
            batched.add_many(values[start : start + 700], lines[start : start + 700])

        assert batched.result() == one_by_one.result()
