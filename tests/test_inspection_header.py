"""jobs.inspection.header: is the first row a header, and the SQL column names it gives."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from jobs.inspection.dialect import detect_dialect
from jobs.inspection.encoding import detect_encoding
from jobs.inspection.header import POSTGRES_RESERVED, detect_header, normalize_names

FIXTURES = Path(__file__).parent / "fixtures" / "csv"


def fixture_rows(name: str) -> list[list[str]]:
    data = (FIXTURES / name).read_bytes()
    encoding = detect_encoding(data)
    text = data[encoding.bom_length :].decode(encoding.encoding)
    dialect = detect_dialect(text)
    quoting = {"quotechar": dialect.quotechar} if dialect.quotechar else {"quoting": csv.QUOTE_NONE}
    return list(
        csv.reader(
            io.StringIO(text, newline=""),
            delimiter=dialect.delimiter,
            doublequote=dialect.doublequote,
            escapechar=dialect.escapechar or None,
            **quoting,
        )
    )


# -- the corpus ----------------------------------------------------------------------------
# file: (has a header, normalised names of the first row when it is one)
CORPUS = {
    "utf8_plain_ascii.csv": (True, ["id", "name", "amount"]),
    "semicolon.csv": (True, ["name", "price", "qty"]),
    "tab.tsv": (True, ["id", "name", "note"]),
    "excel_semicolon_bom_crlf.csv": (True, ["name", "betrag", "datum"]),
    "cp1251_cyrillic.csv": (True, ["id", "imya", "gorod"]),
    "single_column.csv": (True, ["email"]),
    "no_header.csv": (False, None),
    "header_symbols_duplicates_blanks.csv": (
        True,
        [
            "customer_id",
            "name",
            "name_2",
            "column_4",
            "price",
            "done",
            "c_2024_total",
            "unicode_strasse",
            "column_9",
            "e_mail_address",
        ],
    ),
    "reserved_words_header.csv": (True, ["select_", "from_", "user_", "order_", "group_", "table_", "id"]),
    "year_pivot_header.csv": (True, ["region", "c_2022", "c_2023", "c_2024"]),
    "all_text_header.csv": (True, ["first_name", "last_name", "city"]),
    "all_text_no_header.csv": (False, None),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_header_is_detected_and_named(name):
    has_header, names = CORPUS[name]
    rows = fixture_rows(name)

    assert detect_header(rows) is has_header
    if has_header:
        assert normalize_names(rows[0]) == names


# -- detect_header -------------------------------------------------------------------------
def test_names_above_numbers_dates_and_booleans_are_a_header():
    rows = [["id", "joined", "active", "score"], ["1", "2024-01-05", "true", "3.5"], ["2", "2024-02-01", "no", "4"]]

    assert detect_header(rows) is True


def test_a_first_row_typed_like_the_rows_below_is_data():
    rows = [["1", "2024-01-05", "true", "3.5"], ["2", "2024-02-01", "false", "4"], ["3", "2024-03-01", "yes", "1"]]

    assert detect_header(rows) is False


def test_null_markers_below_a_name_do_not_hide_the_header():
    rows = [["country", "amount"], ["NA", "N/A"], ["FR", "12"], ["DE", "-"], ["US", "7"]]

    assert detect_header(rows) is True


def test_years_above_years_are_data():
    assert detect_header([["2019", "5"], ["2020", "6"], ["2021", "7"]]) is False


def test_a_name_above_codes_of_one_shape_is_a_header():
    assert detect_header([["country"], ["US"], ["FR"], ["DE"]]) is True


def test_a_first_row_value_repeated_below_in_a_text_column_is_data():
    assert detect_header([["Paris", "Ann"], ["Lyon", "Bob"], ["Paris", "Cy"]]) is False


def test_a_lone_row_is_a_header_only_when_it_looks_like_names():
    assert detect_header([["id", "name"]]) is True
    assert detect_header([["1", "Ann"]]) is False
    assert detect_header([["id", "id"]]) is False
    assert detect_header([["id", ""]]) is False


def test_no_rows_or_blank_rows_have_no_header():
    assert detect_header([]) is False
    assert detect_header([[""], ["", ""]]) is False


def test_ragged_rows_are_judged_on_the_columns_they_have():
    rows = [["id", "name", "extra"], ["1", "Ann"], ["2", "Bob", "x", "y"], ["3"]]

    assert detect_header(rows) is True


# -- normalize_names -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("  Customer ID  ", "customer_id"),
        ("ORDER DATE", "order_date"),
        ("Größe", "grosse"),
        ("Ærø", "aero"),
        ("naïve café", "naive_cafe"),
        ("İstanbul", "istanbul"),
        ("ﬁle²", "file2"),
        ("Город", "gorod"),
        ("Price (€)", "price"),
        ("a -- b // c", "a_b_c"),
        ("__private__", "private"),
        ("2024 Total", "c_2024_total"),
        ("1", "c_1"),
        ("select", "select_"),
        ("User", "user_"),
        ("Table", "table_"),
        ("year", "year"),
        ("between", "between"),
    ],
)
def test_one_name_is_normalised(name, expected):
    assert normalize_names([name]) == [expected]


def test_blank_and_unspellable_names_become_column_and_their_position():
    assert normalize_names(["id", "", "   ", "名前", "%", "Ωμέγα"]) == [
        "id",
        "column_2",
        "column_3",
        "column_4",
        "column_5",
        "column_6",
    ]


def test_duplicates_are_numbered_in_order():
    assert normalize_names(["Name", "name", "NAME ", "name"]) == ["name", "name_2", "name_3", "name_4"]


def test_numbering_skips_names_written_in_the_header():
    assert normalize_names(["a", "a", "a_2"]) == ["a", "a_3", "a_2"]


def test_names_written_in_the_header_win_over_generated_ones():
    assert normalize_names(["", "column_1"]) == ["column_1_2", "column_1"]


def test_reserved_words_and_their_duplicates():
    assert normalize_names(["order", "Order", "order_"]) == ["order_", "order_2", "order_3"]


def test_names_are_cut_to_63_bytes_including_the_duplicate_number():
    long = "x" * 80

    names = normalize_names([long, long])

    assert names == ["x" * 63, "x" * 61 + "_2"]
    assert all(len(name.encode()) <= 63 for name in names)


def test_a_cut_does_not_leave_a_trailing_underscore():
    assert normalize_names(["a" * 62 + " b"]) == ["a" * 62]


def test_normalising_is_deterministic_and_keeps_order_and_length():
    names = ["Id", "", "name", "Name", "select", "Größe", "2024"]

    assert normalize_names(names) == normalize_names(list(names))
    assert len(normalize_names(names)) == len(names)


def test_every_name_is_a_plain_lower_case_identifier():
    names = normalize_names(["A b", "ß", "€", "9lives", "__", "x" * 70, "group", "Ünï", "a.b.c"])

    for name in names:
        assert name == name.lower()
        assert name[0].isalpha() and name.isascii()
        assert all(char.isalnum() or char == "_" for char in name)
        assert name not in POSTGRES_RESERVED
    assert len(set(names)) == len(names)


def test_the_reserved_words_are_postgresqls():
    assert {"select", "from", "user", "order", "group", "table", "left", "join", "limit", "system_user"} <= (
        POSTGRES_RESERVED
    )
    # Non-reserved key words are fine as column names.
    assert not {"year", "name", "value", "type", "timestamp", "between", "int"} & POSTGRES_RESERVED
