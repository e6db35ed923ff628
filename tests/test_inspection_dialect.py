"""jobs.inspection.dialect: delimiter, quoting, escapes and line endings of decoded CSV text.

Ends with the property test: random tables written by Python's csv writer in a random
dialect and encoding are detected back (encoding and dialect) and read back identically.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jobs.inspection.dialect import DELIMITERS, detect_dialect
from jobs.inspection.encoding import detect_encoding
from jobs.inspection.results import DialectGuess

FIXTURES = Path(__file__).parent / "fixtures" / "csv"


def fixture_text(name: str) -> str:
    data = (FIXTURES / name).read_bytes()
    guess = detect_encoding(data)
    return data[guess.bom_length :].decode(guess.encoding)


def read(text: str, dialect) -> list[list[str]]:
    """Read text with a detected dialect, as the loader would."""
    options = {
        "delimiter": dialect.delimiter,
        "doublequote": dialect.doublequote,
        "escapechar": dialect.escapechar or None,
        "strict": True,
    }
    if dialect.quotechar:
        options["quotechar"] = dialect.quotechar
    else:
        options["quoting"] = csv.QUOTE_NONE
    return list(csv.reader(io.StringIO(text, newline=""), **options))


# -- the corpus ----------------------------------------------------------------------------
# file: (delimiter, quotechar, doublequote, escapechar, line terminator)
DOUBLED, LF, CRLF = True, "\n", "\r\n"
CORPUS = {
    "utf8_plain_ascii.csv": (",", '"', DOUBLED, "", LF),
    "semicolon.csv": (";", '"', DOUBLED, "", LF),
    "tab.tsv": ("\t", '"', DOUBLED, "", LF),
    "pipe.csv": ("|", '"', DOUBLED, "", LF),
    "quoted_delimiters_newlines.csv": (",", '"', DOUBLED, "", LF),
    "backslash_escapes.csv": (",", '"', False, "\\", LF),
    "single_quotes.csv": (",", "'", DOUBLED, "", LF),
    "mysql_backslash_escaped.tsv": ("\t", "", False, "\\", LF),
    "apostrophes_in_values.csv": (",", '"', DOUBLED, "", LF),
    "unquoted_inch_marks.csv": (",", "", False, "", LF),
    "crlf.csv": (",", '"', DOUBLED, "", CRLF),
    "cr_only.csv": (",", '"', DOUBLED, "", "\r"),
    "mixed_line_endings.csv": (",", '"', DOUBLED, "", "mixed"),
    "excel_semicolon_bom_crlf.csv": (";", '"', DOUBLED, "", CRLF),
    "utf16le_bom.csv": (",", '"', DOUBLED, "", CRLF),
    "cp1251_cyrillic.csv": (";", '"', DOUBLED, "", LF),
    "single_column.csv": (",", '"', DOUBLED, "", LF),
    "single_column_quoted_commas.csv": (",", '"', DOUBLED, "", LF),
    "no_header.csv": (",", '"', DOUBLED, "", LF),
    "header_symbols_duplicates_blanks.csv": (",", '"', DOUBLED, "", LF),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_dialect_is_detected(name):
    guess = detect_dialect(fixture_text(name))

    assert (guess.delimiter, guess.quotechar, guess.doublequote, guess.escapechar, guess.line_terminator) == CORPUS[
        name
    ]
    assert 0.0 < guess.confidence <= 1.0


# file: the rows read with the detected dialect
ROWS = {
    "quoted_delimiters_newlines.csv": [
        ["id", "comment", "amount"],
        ["1", "Hello, world", "10"],
        ["2", "two\nlines", "20"],
        ["3", 'say "hi"', "30"],
        ["4", "plain", "40"],
    ],
    "backslash_escapes.csv": [
        ["id", "comment"],
        ["1", 'say "hi", she said'],
        ["2", 'a "quoted" word'],
        ["3", "plain"],
        ["4", "x"],
    ],
    "single_quotes.csv": [
        ["id", "name", "city"],
        ["1", "Smith, John", "Paris"],
        ["2", "Doe, Jane", "Lyon"],
        ["3", "Ann", "Nice, France"],
    ],
    "mysql_backslash_escaped.tsv": [["id", "note"], ["1", "column\tinside"], ["2", "plain"], ["3", "more\ttabs\there"]],
    "apostrophes_in_values.csv": [["id", "name"], ["1", "O'Brien"], ["2", "D'Arcy"], ["3", "'quoted'"], ["4", "Ann"]],
    "unquoted_inch_marks.csv": [["item", "size"], ['"Best" buy TV', '55"'], ["Monitor", '27"'], ["Pipe", '3/4"']],
    "semicolon.csv": [["name", "price", "qty"], ["Apple", "2,50", "3"], ["Pear", "1,75", "10"], ["Plum", "0,99", "7"]],
    "mixed_line_endings.csv": [["id", "name"], ["1", "Ann"], ["2", "Bob"], ["3", "Cy"], ["4", "Di"]],
    "single_column_quoted_commas.csv": [["full_name"], ["Smith, John"], ["Doe, Jane"], ["Roe, Richard"]],
}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_corpus_file_reads_back_with_the_detected_dialect(name):
    text = fixture_text(name)

    assert read(text, detect_dialect(text)) == ROWS[name]


def test_evidence_says_what_was_found():
    guess = detect_dialect(fixture_text("quoted_delimiters_newlines.csv"))

    assert guess.evidence == (
        'The comma splits 5 of 5 rows into 3 fields; 3 fields are quoted with ", with quotes inside them doubled. '
        "Lines end with LF."
    )


def test_mixed_line_endings_are_counted_in_the_evidence():
    guess = detect_dialect(fixture_text("mixed_line_endings.csv"))

    assert guess.evidence.endswith("Line endings are mixed: 2 CRLF, 2 LF, 1 CR.")


# -- one column ----------------------------------------------------------------------------
def test_a_file_without_any_delimiter_is_one_column():
    guess = detect_dialect(fixture_text("single_column.csv"))

    assert guess.evidence == (
        "No comma, semicolon, tab or pipe separates the values: the file has one column. Lines end with LF."
    )
    assert guess.confidence == 0.9


def test_quoted_commas_do_not_make_a_single_column_file_two_columns():
    guess = detect_dialect(fixture_text("single_column_quoted_commas.csv"))

    assert guess.evidence.startswith("No comma, semicolon, tab or pipe separates the values: the file has one column.")


def test_a_delimiter_in_a_few_values_only_still_gives_one_column():
    text = "note\nplain\nalso plain\nhas, a comma\nnothing\nnone here\n"

    guess = detect_dialect(text)

    assert guess.delimiter == ","
    assert guess.confidence == 0.6
    assert guess.evidence.startswith("No delimiter splits the rows consistently (comma only in some rows)")


# -- samples cut off -----------------------------------------------------------------------
def test_a_sample_cut_mid_line_ignores_the_partial_line():
    guess = detect_dialect("a;b;c\n1;2;3\n4;5;6\n7;8")

    assert (guess.delimiter, guess.line_terminator) == (";", "\n")
    assert guess.evidence.startswith("The semicolon splits 3 of 3 rows into 3 fields")


def test_a_sample_cut_inside_a_quoted_field_ignores_that_record():
    text = 'id|note\n1|"one\ntwo"\n2|"three\nfour'

    guess = detect_dialect(text)

    assert (guess.delimiter, guess.quotechar) == ("|", '"')
    assert guess.evidence.startswith("The pipe splits 2 of 2 rows into 2 fields")


def test_a_sample_cut_between_cr_and_lf_is_still_crlf():
    guess = detect_dialect("a,b\r\n1,2\r\n3,4\r")

    assert guess.line_terminator == "\r\n"


def test_a_single_line_without_line_break_is_read():
    guess = detect_dialect("a\tb\tc")

    assert (guess.delimiter, guess.line_terminator) == ("\t", "\n")
    assert guess.evidence.endswith("No line break in the sample; LF is assumed.")


def test_empty_text():
    assert detect_dialect("") == DialectGuess(
        ",", '"', True, "", "\n", 0.0, "The sample is empty; a comma-separated file is assumed."
    )


# -- hard choices --------------------------------------------------------------------------
def test_decimal_commas_do_not_beat_the_semicolon():
    guess = detect_dialect("name;price\nx;2,50\ny;3,75\nz;1,00\n")

    assert guess.delimiter == ";"


def test_a_delimiter_inside_every_value_loses_to_the_one_that_gives_clean_fields():
    text = "id,name; alias,n\n1,a; b,5\n2,c; d,6\n3,e; f,7\n"

    guess = detect_dialect(text)

    assert guess.delimiter == ","
    assert "(the semicolon would too, less cleanly)" in guess.evidence
    assert guess.confidence < 1.0


def test_a_field_ending_in_a_backslash_does_not_make_quotes_backslash_escaped():
    text = 'path,n\n"C:\\temp\\",1\n"D:\\x",2\n"say ""hi""",3\n'

    guess = detect_dialect(text)

    assert (guess.quotechar, guess.doublequote, guess.escapechar) == ('"', True, "")
    assert read(text, guess)[1] == ["C:\\temp\\", "1"]


# -- writer habits: a space after the delimiter, Excel's "sep=" line ----------------------------
def test_a_space_between_the_delimiter_and_a_quote_is_skipped():
    text = 'id, name, city\n1, "Smith, John", Paris\n2, "Doe, Jane", Lyon\n3, Ann, Nice\n'

    guess = detect_dialect(text)

    assert (guess.delimiter, guess.quotechar, guess.skipinitialspace) == (",", '"', True)
    assert guess.evidence == (
        'The comma splits 4 of 4 rows into 3 fields; 2 fields are quoted with ", and a space after a delimiter '
        "is skipped. Lines end with LF."
    )
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=",", skipinitialspace=True, strict=True))
    assert rows[1] == ["1", "Smith, John", "Paris"]


def test_spaces_after_delimiters_without_quotes_after_them_are_kept():
    # Skipping would change nothing about the fields but would drop their leading spaces:
    # that is data as often as layout, so only quotes after the spaces make it worth it.
    guess = detect_dialect("id, name\n1, Ann\n2,  Bob\n")

    assert (guess.delimiter, guess.skipinitialspace) == (",", False)


def test_a_quoted_field_after_a_space_is_evidence_even_without_a_delimiter_inside():
    guess = detect_dialect('id, name\n1, "Ann"\n2, "Bob"\n')

    assert (guess.quotechar, guess.skipinitialspace) == ('"', True)


@pytest.mark.parametrize(
    ("first_line", "delimiter"), [("sep=;", ";"), ("sep=,", ","), ("sep=|", "|"), ("sep=\t", "\t"), ("SEP=:", ":")]
)
def test_an_excel_sep_line_names_the_delimiter(first_line, delimiter):
    rows = ["Name", "Amount"], ["Ann", "10"], ["Bob", "20"]
    text = first_line + "\r\n" + "".join(delimiter.join(row) + "\r\n" for row in rows)

    guess = detect_dialect(text)

    assert (guess.delimiter, guess.sep_line, guess.line_terminator, guess.confidence) == (delimiter, True, "\r\n", 1.0)
    assert guess.evidence.startswith(f'The first line "{first_line}" names the ')


def test_an_excel_sep_line_wins_over_what_the_rows_suggest():
    # The rows alone say comma (decimal commas do not split consistently); the file says semicolon.
    guess = detect_dialect("sep=;\nname,price\nx,2\ny,3\n")

    assert (guess.delimiter, guess.sep_line) == (";", True)
    assert "the semicolon splits 3 of 3 rows into 1 field;" in guess.evidence


def test_an_excel_sep_line_alone():
    guess = detect_dialect("sep=;\n")

    assert (guess.delimiter, guess.sep_line, guess.line_terminator) == (";", True, "\n")
    assert (
        guess.evidence
        == 'The first line "sep=;" names the semicolon as the delimiter; no row follows it. Lines end with LF.'
    )


@pytest.mark.parametrize("text", ["sep=;x\na;b\n", "a;b\nsep=;\n1;2\n", "sep=\na,b\n", "separator=;\na;b\n"])
def test_only_a_first_line_of_exactly_sep_and_one_character_is_a_sep_line(text):
    assert detect_dialect(text).sep_line is False


# -- a quote left open ------------------------------------------------------------------------
@pytest.mark.parametrize("final_newline", ["\n", ""])
def test_a_quote_opened_and_never_closed_is_still_a_quote(final_newline):
    # Read unquoted, the file is tidy and `"broken` a value; but a quote opening a field is
    # how a quoted field starts: the reader then reports the record it opened in.
    guess = detect_dialect('id,name\n1,ok\n2,"broken\n3,x' + final_newline)

    assert (guess.delimiter, guess.quotechar, guess.quoted_fields) == (",", '"', 0)
    assert 'a field opened by " is never closed (no field is quoted before it)' in guess.evidence


def test_an_apostrophe_opening_a_value_is_not_a_quote():
    guess = detect_dialect("id,decade\n1,'90s\n2,x\n")

    assert guess.quotechar == '"'
    assert read("id,decade\n1,'90s\n2,x\n", guess)[1] == ["1", "'90s"]


# -- property: the csv writer's output is detected back -------------------------------------
# Western text for cp1252: words and symbols as people write them. Any byte sequence reads as
# *some* cp1252 text, so a soup of random accented capitals is also valid Cyrillic cp1251 or
# Chinese GB18030, and the detector rightly calls it that; real Western text is not.
WESTERN = [
    *("a", "Ann", "x1", "42", "3.14", " ", "café", "naïve", "Ærø", "Zoë", "Straße", "São", "Åsa", "Malmö"),
    *("façade", "€5", "“quoted”", "‘single’", "–", "—", "…", "£", "©", "½", "°C"),
    *(",", ";", "\t", "|", '"', "'", "\n", "\r\n", "\\"),
]
western_text = st.lists(st.sampled_from(WESTERN), max_size=5).map("".join)
any_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=10)


@st.composite
def encoded_tables(draw):
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    field = western_text if encoding == "cp1252" else st.one_of(western_text, any_text)
    width, height = draw(st.integers(2, 5)), draw(st.integers(3, 8))
    return encoding, [[draw(field) for _ in range(width)] for _ in range(height)]


def written(rows, delimiter: str, quoting: int, terminator: str) -> str:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator=terminator).writerows(rows)
    return out.getvalue()


def others_split_it_evenly(text: str, delimiter: str) -> bool:
    """Another delimiter also splits every record into the same number (>1) of fields."""
    for other in DELIMITERS:
        if other != delimiter:
            try:
                widths = {len(row) for row in csv.reader(io.StringIO(text, newline=""), delimiter=other)}
            except csv.Error:
                continue
            if len(widths) == 1 and widths.pop() > 1:
                return True
    return False


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(
    table=encoded_tables(),
    delimiter=st.sampled_from(DELIMITERS),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    terminator=st.sampled_from(["\n", "\r\n"]),
)
def test_random_tables_in_random_dialects_and_encodings_are_read_back(table, delimiter, quoting, terminator):
    encoding, rows = table
    text = written(rows, delimiter, quoting, terminator)
    writer_dialect = DialectGuess(delimiter, '"', True, "", terminator, 1.0, "")
    # Only tables that can be told apart at all:
    # - Python 3.11's writer leaves a lone "\r" unquoted when the terminator is "\n", and its
    #   own reader then splits the row there;
    assume(read(text, writer_dialect) == rows)
    # - cp1252 bytes that look like UTF-8 sequences (é then –) are UTF-8 to any detector;
    data = text.encode(encoding)
    if encoding == "cp1252":
        assume(not re.search(rb"[\xc2-\xf4][\x80-\xbf]", data))

    found = detect_encoding(data)

    assert data[found.bom_length :].decode(found.encoding) == text

    # - a value ending in a backslash ("a\" then the delimiter) is also a backslash escape;
    #   an unquoted value starting with ' is also single-quote quoting; and another delimiter
    #   splitting every row evenly makes the table itself ambiguous.
    assume(not any(value.endswith("\\") for row in rows for value in row))
    if quoting == csv.QUOTE_MINIMAL:
        assume(not any(value.startswith("'") for row in rows for value in row))
    assume(not others_split_it_evenly(text, delimiter))

    dialect = detect_dialect(text)

    assert dialect.delimiter == delimiter
    assert dialect.line_terminator == terminator
    assert read(text, dialect) == rows
