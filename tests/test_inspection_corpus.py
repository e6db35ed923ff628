"""The inspection corpus: one small file per real-world case, each with its exact expected inspection.

Every file in tests/fixtures/corpus/ (written by make_corpus.py there) is inspected as an upload
is: `inspect_sample` on its start, then `confirm` over the whole file. The expected results
below are written by hand, from what a careful data engineer expects of each file; they are
not copied from the code's output.

Each expectation is compared as one summary, so a failure shows every difference at once:
encoding (name, codec, BOM), dialect, header, columns (normalised name, type and date format,
original name, null count, conflicts with their lines, and per case extra statistics), row
count, whether the file is loadable, and the problems with their lines (a reason is matched
by its start, written in full where it is stable).
"""

from __future__ import annotations

import importlib.util
import io
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jobs.inspection.records import read_page
from jobs.inspection.scan import InspectOptions, confirm, describe_reading, inspect_sample, reader_options
from jobs.reader import open_source

CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"

# What the user sees as null by default. Not "NA" (Namibia, North America) nor "-".
DEFAULT_NULLS = ("", "NULL", "null", "N/A", "n/a", "#N/A")


def _make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_corpus = _make_corpus()


@dataclass(frozen=True)
class Expect:
    """An inspection, as far as a case cares. Defaults are those of a plain UTF-8 comma file."""

    # "name type" or "name type format" per column, in order ("day date %d/%m/%Y").
    columns: tuple[str, ...] = ()
    rows: int | None = None
    header: bool | None = True
    # None: no encoding or dialect at all (an empty file).
    encoding: str | None = "utf-8"
    codec: str = ""  # the codec that reads the bytes after the BOM; "" means the same as encoding
    bom: bool = False
    delimiter: str = ","
    quotechar: str = '"'
    doublequote: bool = True
    escapechar: str = ""
    skipinitialspace: bool = False  # spaces after a delimiter are skipped
    sep_line: bool = False  # the first line is Excel's "sep=X"
    eol: str = "\n"
    # Per column, what differs from the defaults (original name = name, no nulls, no conflicts),
    # and any other key of the column to check (min, max, true_words, max_length, ...).
    # conflicts: [(line, value)], or [(line, value, reason)] for an overridden type.
    details: dict[str, dict] = field(default_factory=dict)
    problems: tuple[tuple[int | None, str, str], ...] = ()  # (line, start of the reason, severity)
    loadable: bool = True
    preview: tuple[tuple[int, list[str]], ...] = ()  # preview rows on these lines: (line, fields)
    null_markers: tuple[str, ...] | None = DEFAULT_NULLS


def summary(result: dict, expect: Expect) -> dict:
    """The parts of an inspection a case is checked on, in the shape of expected()."""
    found: dict = {"header": result.get("header"), "row_count": result.get("row_count")}
    if "encoding" in result:
        encoding, dialect = result["encoding"], result["dialect"]
        found["encoding"] = (encoding["encoding"], encoding["codec"], encoding["bom"])
        found["dialect"] = {
            key: dialect[key] for key in ("delimiter", "quotechar", "doublequote", "escapechar", "line_terminator")
        }
        found["dialect"].update(skipinitialspace=dialect["skipinitialspace"], sep_line=dialect["sep_line"])
    columns = result.get("columns", [])
    found["columns"] = [
        " ".join(part for part in (column["name"], column["type"], column["format"]) if part) for column in columns
    ]
    found["details"] = {}
    for column in columns:
        keys = {"original_name", "null_count", "conflicts", *expect.details.get(column["name"], {})}
        detail = {key: column.get(key) for key in keys}
        detail["conflicts"] = [
            (c["line"], c["value"], c["reason"]) if "reason" in c else (c["line"], c["value"])
            for c in column["conflicts"]
        ]
        found["details"][column["name"]] = detail
    found["problems"] = []
    for index, problem in enumerate(result["problems"]):
        reason = problem["reason"]
        if index < len(expect.problems) and reason.startswith(expect.problems[index][1]):
            reason = expect.problems[index][1]  # matched by its start
        found["problems"].append((problem["line"], reason, problem["severity"]))
    found["loadable"] = result["loadable"]
    lines = {line for line, _fields in expect.preview}
    rows = result.get("preview", {}).get("rows", [])
    found["preview"] = [(row["line"], row["fields"]) for row in rows if row["line"] in lines]
    found["null_markers"] = result["null_markers"]
    return found


def expected(expect: Expect) -> dict:
    wanted: dict = {"header": expect.header, "row_count": expect.rows}
    if expect.encoding is not None:
        wanted["encoding"] = (expect.encoding, expect.codec or expect.encoding, expect.bom)
        wanted["dialect"] = {
            "delimiter": expect.delimiter,
            "quotechar": expect.quotechar,
            "doublequote": expect.doublequote,
            "escapechar": expect.escapechar,
            "line_terminator": expect.eol,
            "skipinitialspace": expect.skipinitialspace,
            "sep_line": expect.sep_line,
        }
    wanted["columns"] = list(expect.columns)
    wanted["details"] = {}
    for spec in expect.columns:
        name = spec.split(" ")[0]
        detail = {"original_name": name, "null_count": 0, "conflicts": []} | expect.details.get(name, {})
        wanted["details"][name] = detail
    assert set(expect.details) <= set(wanted["details"]), "details for a column the case does not list"
    wanted["problems"] = list(expect.problems)
    wanted["loadable"] = expect.loadable
    wanted["preview"] = list(expect.preview)
    wanted["null_markers"] = list(expect.null_markers) if expect.null_markers is not None else None
    return wanted


def inspect_file(path: Path, options: InspectOptions | None = None) -> tuple[dict, dict]:
    """(first look, confirmed) as the upload service computes them."""
    options = options or InspectOptions()
    with path.open("rb") as stream:
        first = inspect_sample(stream, size=path.stat().st_size, options=options)
        if "columns" not in first:
            return first, first
        confirmed, _index = confirm(stream, inspection=first, options=options)
    return first, confirmed


# -- the expected inspections -------------------------------------------------------------
ID = "id smallint"  # the 1, 2, 3 ... id column most files start with

CASES: dict[str, Expect] = {
    # -- encodings ---------------------------------------------------------------------
    "enc_utf8.csv": Expect(
        columns=(ID, "name text", "city text"),
        rows=3,
        preview=((2, ["1", "Zoë", "Zürich"]), (3, ["2", "José", "São Paulo"])),
    ),
    # The BOM is skipped: never part of the first name ("id", not "\ufeffid").
    "enc_utf8_bom.csv": Expect(
        encoding="utf-8-sig",
        codec="utf-8",
        bom=True,
        eol="\r\n",
        columns=(ID, "name text"),
        rows=2,
        preview=((2, ["1", "Ann"]), (3, ["2", "Zoë"])),
    ),
    "enc_utf8_bom_excel_semicolon.csv": Expect(
        encoding="utf-8-sig",
        codec="utf-8",
        bom=True,
        delimiter=";",
        eol="\r\n",
        # Decimal commas stay text: reading "12,50" as a number would guess the locale.
        columns=("name text", "betrag text", "datum date %d.%m.%Y"),
        details={
            "name": {"original_name": "Name"},
            "betrag": {"original_name": "Betrag"},
            "datum": {"original_name": "Datum"},
        },
        rows=2,
        preview=((2, ["Müller", "12,50", "01.02.2024"]),),
    ),
    "enc_utf16le_bom.csv": Expect(
        encoding="utf-16-le",
        bom=True,
        eol="\r\n",
        columns=(ID, "name text", "amount numeric(4,2)"),
        rows=2,
        preview=((2, ["1", "Zoë", "10.50"]), (3, ["2", "Łukasz", "7.25"])),
    ),
    "enc_utf16be_bom.csv": Expect(
        encoding="utf-16-be",
        bom=True,
        eol="\r\n",
        columns=(ID, "name text", "amount numeric(4,2)"),
        rows=2,
        preview=((2, ["1", "Zoë", "10.50"]), (3, ["2", "Łukasz", "7.25"])),
    ),
    "enc_utf16le_no_bom.csv": Expect(
        encoding="utf-16-le", columns=(ID, "name text"), rows=2, preview=((2, ["1", "Ann"]),)
    ),
    "enc_utf16be_no_bom.csv": Expect(
        encoding="utf-16-be", columns=(ID, "name text"), rows=2, preview=((2, ["1", "Ann"]),)
    ),
    "enc_cp1252_curly_euro.csv": Expect(
        encoding="cp1252",
        columns=(ID, "quote text", "price text"),
        rows=3,
        preview=((2, ["1", "“Hello” – she said", "5 €"]), (3, ["2", "‘Single’ … quotes", "7 €"])),
    ),
    # One byte of evidence, and it is cp1252's: latin-1 would turn the euro into a control character.
    "enc_cp1252_euro_only.csv": Expect(
        encoding="cp1252", columns=("item text", "price text"), rows=2, preview=((2, ["Coffee", "3 €"]),)
    ),
    # Latin-1 without any byte in 0x80-0x9F: cp1252 reads it identically, and is the safer name
    # (it also reads the curly quotes and euro signs such a file may hold further down).
    "enc_latin1_accents.csv": Expect(
        encoding="cp1252",
        columns=(ID, "name text", "city text"),
        rows=3,
        preview=((2, ["1", "René Lefèvre", "Montréal"]), (4, ["3", "Jürgen Groß", "Köln"])),
    ),
    # Mostly UTF-8: the bad byte is reported with its line, not replaced, and not a reason to
    # read the whole file as cp1252 (which would garble every accent).
    "enc_invalid_utf8_line5.csv": Expect(
        columns=(ID, "name text"),
        rows=3,  # the rows before the bad byte
        problems=((5, "byte 0xff cannot be decoded as utf-8 (byte 7 of the line)", "error"),),
        loadable=False,
        preview=((2, ["1", "Zoë"]), (3, ["2", "café"]), (4, ["3", "naïve"])),
    ),
    # -- dialects ----------------------------------------------------------------------
    "delim_semicolon_decimal_comma.csv": Expect(
        delimiter=";",
        columns=("name text", "price text", "qty smallint"),
        rows=3,
        preview=((2, ["Apple", "2,50", "3"]),),
    ),
    "delim_tab.tsv": Expect(
        delimiter="\t",
        columns=(ID, "name text", "note text"),
        rows=3,
        preview=((2, ["1", "Ann", "has, a comma"]), (3, ["2", "Bob", "has; a semicolon"])),
    ),
    "delim_tab_quoted.tsv": Expect(
        delimiter="\t",
        columns=(ID, "note text"),
        rows=3,
        preview=((2, ["1", "a\tb"]), (3, ["2", "plain"]), (4, ["3", 'x "y"'])),
    ),
    "delim_pipe.csv": Expect(
        delimiter="|",
        columns=(ID, "name text", "tags text"),
        rows=3,
        preview=((2, ["1", "Ann", "a,b"]), (3, ["2", "Bob", "c;d"])),
    ),
    # "sep=;" is an instruction to the reader, not the header: the header is on line 2.
    "delim_excel_sep_line.csv": Expect(
        delimiter=";",
        sep_line=True,
        eol="\r\n",
        columns=("name text", "amount smallint"),
        details={"name": {"original_name": "Name"}, "amount": {"original_name": "Amount"}},
        rows=2,
        preview=((3, ["Ann", "10"]), (4, ["Bob", "20"])),
    ),
    "delim_single_column.csv": Expect(columns=("email text",), rows=3, preview=((2, ["ann@example.com"]),)),
    "quote_delimiters.csv": Expect(
        columns=(ID, "name text", "city text"),
        rows=3,
        preview=(
            (2, ["1", "Smith, John", "Paris, France"]),
            (3, ["2", "Doe, Jane", "Lyon"]),
            (4, ["3", "Ann", "Nice, France"]),
        ),
    ),
    "quote_doubled.csv": Expect(
        columns=(ID, "comment text"),
        rows=3,
        preview=((2, ["1", 'say "hi"']), (3, ["2", 'a "quoted" word, with a comma']), (4, ["3", "plain"])),
    ),
    # A record is numbered by the line it starts on.
    "quote_newlines.csv": Expect(
        columns=(ID, "comment text", "amount smallint"),
        rows=4,
        preview=(
            (2, ["1", "first line\nsecond line", "10"]),
            (4, ["2", "plain", "20"]),
            (5, ["3", "a\nb\nc", "30"]),
            (8, ["4", "x", "40"]),
        ),
    ),
    "quote_backslash.csv": Expect(
        doublequote=False,
        escapechar="\\",
        columns=(ID, "comment text"),
        rows=4,
        preview=((2, ["1", 'say "hi", she said']), (3, ["2", 'a "quoted" word']), (4, ["3", "plain"])),
    ),
    "quote_single.csv": Expect(
        quotechar="'",
        columns=(ID, "name text", "city text"),
        rows=3,
        preview=((2, ["1", "Smith, John", "Paris"]), (4, ["3", "Ann", "Nice, France"])),
    ),
    "quote_all_fields.csv": Expect(
        columns=(ID, "amount numeric(4,2)", "name text"), rows=2, preview=((2, ["1", "10.5", "Ann"]),)
    ),
    "quote_crlf_inside.csv": Expect(
        eol="\r\n", columns=(ID, "note text"), rows=2, preview=((2, ["1", "a\r\nb"]), (4, ["2", "c"]))
    ),
    # The apostrophes show the file does not quote with ': "'quoted'" keeps its quotes.
    "quote_apostrophes.csv": Expect(
        columns=(ID, "name text"),
        rows=4,
        preview=((2, ["1", "O'Brien"]), (3, ["2", "D'Arcy"]), (4, ["3", "'quoted'"])),
    ),
    # Spaces after the delimiter are skipped, so the quotes after them still quote.
    "quote_space_after_delimiter.csv": Expect(
        skipinitialspace=True,
        columns=(ID, "name text", "city text"),
        rows=2,
        preview=((2, ["1", "Smith, John", "Paris"]), (3, ["2", "Ann", "Lyon"])),
    ),
    # -- line endings ------------------------------------------------------------------
    "eol_lf.csv": Expect(columns=(ID, "name text"), rows=3, preview=((2, ["1", "Ann"]), (4, ["3", "Cy"]))),
    "eol_crlf.csv": Expect(
        eol="\r\n", columns=(ID, "name text"), rows=3, preview=((2, ["1", "Ann"]), (3, ["2", "Bob"]), (4, ["3", "Cy"]))
    ),
    "eol_cr.csv": Expect(
        eol="\r", columns=(ID, "name text"), rows=3, preview=((2, ["1", "Ann"]), (3, ["2", "Bob"]), (4, ["3", "Cy"]))
    ),
    "eol_mixed.csv": Expect(
        eol="mixed",
        columns=(ID, "name text"),
        rows=4,
        preview=((2, ["1", "Ann"]), (3, ["2", "Bob"]), (4, ["3", "Cy"]), (5, ["4", "Di"])),
    ),
    # -- headers -----------------------------------------------------------------------
    "hdr_none.csv": Expect(
        header=False,
        columns=("column_1 smallint", "column_2 text", "column_3 date %Y-%m-%d", "column_4 numeric(4,2)"),
        rows=3,
        preview=((1, ["1", "Ann", "2024-01-05", "10.50"]),),
    ),
    "hdr_blank_names.csv": Expect(
        columns=(ID, "column_2 text", "name text", "column_4 text"),
        details={"column_2": {"original_name": ""}, "column_4": {"original_name": ""}},
        rows=2,
    ),
    # Written-out names keep priority: the second "name" skips "name_2", which the header has.
    "hdr_duplicates.csv": Expect(
        columns=(ID, "name text", "name_3 text", "name_4 text", "name_2 text"),
        details={"name_3": {"original_name": "Name"}, "name_4": {"original_name": "NAME"}},
        rows=2,
    ),
    "hdr_symbols.csv": Expect(
        columns=(
            "customer_id smallint",
            "price numeric(3,2)",
            "done text",
            "c_2024_total smallint",
            "e_mail_address text",
        ),
        details={
            "customer_id": {"original_name": " Customer ID "},
            "price": {"original_name": "Price (€)"},
            "done": {"original_name": "% Done"},
            "c_2024_total": {"original_name": "2024 Total"},
            "e_mail_address": {"original_name": "e-mail address"},
        },
        rows=2,
    ),
    "hdr_non_ascii.csv": Expect(
        columns=("grosse smallint", "unicode_strasse text", "imya text", "column_4 text", "oeuvre text"),
        details={
            "grosse": {"original_name": "Größe"},
            "unicode_strasse": {"original_name": "Ünïcödé Straße"},
            "imya": {"original_name": "имя"},
            "column_4": {"original_name": "名前"},  # no letter to keep: named by position
            "oeuvre": {"original_name": "Œuvre"},
        },
        rows=2,
    ),
    "hdr_reserved_words.csv": Expect(
        columns=("select_ smallint", "from_ smallint", "user_ smallint", "order_ smallint", "group_ smallint", ID),
        details={name + "_": {"original_name": name} for name in ("select", "from", "user", "order", "group")},
        rows=2,
    ),
    # PostgreSQL keeps 63 bytes of a name: cut there, and the second made unique within them.
    "hdr_long_names.csv": Expect(
        columns=(ID, "a" * 63 + " text", "a" * 61 + "_2 text"),
        details={
            "a" * 63: {"original_name": "a" * 66 + "_one"},
            "a" * 61 + "_2": {"original_name": "a" * 66 + "_two"},
        },
        rows=2,
    ),
    # -- types -------------------------------------------------------------------------
    "type_boolean.csv": Expect(
        columns=(ID, "tf boolean", "yn boolean", "short boolean", "bit boolean"),
        details={
            "tf": {"true_words": ["TRUE", "true"], "false_words": ["False", "false"]},
            "yn": {"true_words": ["Yes", "yes"], "false_words": ["No", "no"]},
            "short": {"true_words": ["T", "t"], "false_words": ["F", "f"]},
            "bit": {"true_words": ["1"], "false_words": ["0"]},
        },
        rows=4,
    ),
    # Each range up to its bound, and one past it; past 64 bits numeric, never wrapped.
    "type_integer_ranges.csv": Expect(
        columns=(
            "small smallint",
            "small_over integer",
            "int integer",
            "int_over bigint",
            "big bigint",
            "big_over numeric(19,0)",
            "huge numeric(30,0)",
        ),
        details={
            "small": {"min": "-32768", "max": "32767"},
            "big": {"min": "-9223372036854775808", "max": "9223372036854775807"},
            "big_over": {"min": "-9223372036854775809", "max": "9223372036854775808"},
            "huge": {"min": "-1", "max": "123456789012345678901234567890"},
        },
        rows=3,
    ),
    "type_numeric_scale.csv": Expect(
        columns=("price numeric(6,2)", "rate numeric(4,3)", "mixed numeric(3,2)"),
        details={"price": {"min": "-0.5", "max": "1234.00"}, "mixed": {"min": "1.50", "max": "3"}},
        rows=3,
    ),
    "type_date_iso.csv": Expect(
        columns=(ID, "day date %Y-%m-%d"), details={"day": {"min": "2023-12-31", "max": "2024-02-29"}}, rows=3
    ),
    "type_date_dmy.csv": Expect(
        columns=(ID, "day date %d/%m/%Y"), details={"day": {"min": "31/12/2023", "max": "29/02/2024"}}, rows=3
    ),
    "type_date_mdy.csv": Expect(
        columns=(ID, "day date %m/%d/%Y"), details={"day": {"min": "12/31/2023", "max": "02/29/2024"}}, rows=3
    ),
    # Nothing decides between DD/MM and MM/DD: day-first, and the chosen pattern is shown.
    "type_date_ambiguous.csv": Expect(
        columns=(ID, "day date %d/%m/%Y"), details={"day": {"min": "01/02/2024", "max": "05/06/2024"}}, rows=3
    ),
    "type_date_dotted.csv": Expect(
        delimiter=";",
        columns=(ID, "tag date %d.%m.%Y"),
        details={"tag": {"min": "24.12.2023", "max": "15.03.2024"}},
        rows=3,
    ),
    "type_timestamp.csv": Expect(
        columns=(ID, "at timestamp %Y-%m-%d %H:%M:%S"),
        details={"at": {"min": "2024-01-05 13:45:00", "max": "2024-01-07 23:59:59"}},
        rows=3,
    ),
    "type_timestamp_dmy.csv": Expect(
        columns=(ID, "at timestamp %d/%m/%Y %H:%M"),
        details={"at": {"min": "31/12/2023 08:00", "max": "29/02/2024 23:59"}},
        rows=3,
    ),
    "type_timestamptz.csv": Expect(
        columns=(ID, "at timestamptz %Y-%m-%dT%H:%M:%S%z"),
        details={"at": {"min": "2024-01-05T13:45:00+01:00", "max": "2024-01-07T23:59:59-05:00"}},
        rows=3,
    ),
    "type_zero_padded_codes.csv": Expect(
        columns=("code text", "qty smallint"), details={"code": {"min": "00123", "max": "01000"}}, rows=3
    ),
    "type_zip_codes.csv": Expect(
        columns=("city text", "zip text"), details={"zip": {"min": "02134", "max": "94105"}}, rows=6
    ),
    # One ZIP code in 24 starts with 0: the column is still ZIP codes, text, not integers with a stray.
    "type_zip_one_leading_zero.csv": Expect(
        columns=(ID, "zip text"), details={"zip": {"min": "02134", "max": "10852"}}, rows=24
    ),
    "type_phone_numbers.csv": Expect(
        columns=("name text", "phone text"),
        rows=4,
        preview=((2, ["Ann", "+44 20 7946 0958"]), (3, ["Bob", "+15551234567"]), (4, ["Cy", "0612345678"])),
    ),
    # "NA" is Namibia, not a null: four distinct countries, no null; the empty population is null.
    "type_country_na.csv": Expect(
        columns=("country text", "name text", "population integer"),
        details={
            "country": {"distinct_estimate": 4, "min": "CA", "max": "US"},
            "population": {"null_count": 1, "min": "2540905", "max": "331002651"},
        },
        rows=4,
        preview=((2, ["NA", "Namibia", "2540905"]),),
    ),
    # NULL, N/A, null, #N/A and empty are nulls; NA, "-" and text around them are values.
    "type_null_markers.csv": Expect(
        columns=(ID, "score smallint", "label text"),
        details={
            "score": {"null_count": 5, "min": "10", "max": "70"},
            "label": {"null_count": 3, "distinct_estimate": 4, "min": "-", "max": "b"},
        },
        rows=7,
    ),
    # One stray among 25 integers: the column keeps its type and the stray is shown with its line.
    "type_stray_value.csv": Expect(
        columns=(ID, "amount smallint"),
        details={"amount": {"conflicts": [(17, "n.a.")], "conflict_count": 1}},
        rows=25,
    ),
    # Two strays among 25 are too many to call the column integer: text, nothing in conflict.
    "type_two_strays.csv": Expect(
        columns=(ID, "amount text"), details={"amount": {"conflict_count": 0, "max": "tbd"}}, rows=25
    ),
    # -- malformed ---------------------------------------------------------------------
    "bad_empty.csv": Expect(
        encoding=None,
        header=None,
        problems=((1, "the file is empty", "error"),),
        loadable=False,
        null_markers=None,
    ),
    "bad_only_blank_lines.csv": Expect(
        header=None,
        problems=((1, "the file has no rows, only blank lines", "error"),),
        loadable=False,
        null_markers=None,
    ),
    # Distinct names and nothing else: a header without data, not one row of data.
    "bad_header_only.csv": Expect(
        columns=("id text", "name text", "amount text"),
        rows=0,
        problems=((1, "the file has a header but no data rows", "warning"),),
    ),
    "bad_ragged_too_few.csv": Expect(
        columns=(ID, "name text", "amount smallint"),
        rows=4,
        problems=((3, "expected 3 fields as in the first row, found 2", "warning"),),
        preview=((2, ["1", "Ann", "10"]), (3, ["2", "Bob"])),
    ),
    "bad_ragged_too_many.csv": Expect(
        columns=(ID, "name text", "amount smallint"),
        rows=4,
        problems=((3, "expected 3 fields as in the first row, found 4", "warning"),),
        preview=((2, ["1", "Ann", "10"]), (3, ["2", "Bob", "20", "extra"])),
    ),
    "bad_unterminated_quote.csv": Expect(
        columns=(ID, "note text"),
        rows=2,
        problems=(
            (4, "the file ends inside a quoted field: the quote opened in this record is never closed", "error"),
        ),
        loadable=False,
    ),
    # The only quote in the file opens a field and is never closed: still a quote, reported on the
    # line it opened, with the way out if it is data (quoting was assumed, never seen).
    "bad_unterminated_quote_only.csv": Expect(
        columns=(ID, "name text"),
        rows=1,
        problems=(
            (3, "the file ends inside a quoted field: the quote opened in this record is never closed", "error"),
            (
                3,
                'no field at the start of the file is quoted, so this " may be part of a value: if so, choose no '
                'quote character ({"quotechar": ""}) and inspect again',
                "error",
            ),
        ),
        loadable=False,
        preview=((2, ["1", "ok"]),),
    ),
    "bad_nul_byte.csv": Expect(
        columns=(ID, "name text"),
        rows=1,
        problems=(
            (
                3,
                "a NUL byte (0x00): the file may be binary, or UTF-16 without a byte order mark (byte 4 of the line)",
                "error",
            ),
        ),
        loadable=False,
    ),
    "bad_quote_then_text.csv": Expect(
        columns=(ID, "name text"),
        rows=1,
        problems=((3, "a closing quote is followed by other characters, not by the delimiter ','", "error"),),
        loadable=False,
    ),
    # Blank lines are not records, at the end of a file as anywhere.
    "bad_trailing_blank_lines.csv": Expect(columns=(ID, "name text"), rows=2),
    # The last record counts, and keeps its last character.
    "bad_no_final_newline.csv": Expect(
        columns=(ID, "name text"), rows=2, preview=((2, ["1", "Ann"]), (3, ["2", "Bob"]))
    ),
}

# Cases the inspection still gets wrong, kept visible: each fails today and must pass once fixed.
GAPS: dict[str, str] = {}


def _cases(names):
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=GAPS[name])) if name in GAPS else name
        for name in sorted(names)
    ]


# Too big to commit: written by the test from make_corpus.long_field().
LIMIT = make_corpus.CSV_DEFAULT_FIELD_LIMIT
GENERATED: dict[str, tuple[int, Expect]] = {
    # Longer than Python's default csv field limit (128 KiB): read, not an error.
    "long_field_over_csv_limit.csv": (
        LIMIT + 10,
        Expect(columns=(ID, "blob text"), details={"blob": {"max_length": LIMIT + 10}}, rows=3),
    ),
    # Longer than the 1 MiB sample the first look reads: the full pass still reads it whole.
    "long_field_over_sample.csv": (
        2 * 1024 * 1024,
        Expect(columns=(ID, "blob text"), details={"blob": {"max_length": 2 * 1024 * 1024}}, rows=3),
    ),
}


def corpus_files() -> set[str]:
    return {path.name for path in CORPUS.iterdir() if path.suffix in (".csv", ".tsv")}


def test_the_corpus_is_what_make_corpus_writes():
    files = make_corpus.corpus()
    assert corpus_files() == set(files)
    changed = [name for name, data in files.items() if (CORPUS / name).read_bytes() != data]
    assert changed == [], "run tests/fixtures/corpus/make_corpus.py and commit its output"


def test_every_corpus_file_has_its_expected_inspection():
    assert corpus_files() == set(CASES)
    assert len(CASES) + len(GENERATED) >= 40


def _check(first: dict, confirmed: dict, expect: Expect) -> None:
    assert summary(confirmed, expect) == expected(expect)
    if "columns" not in first:
        return
    assert confirmed["confirmed"] is True
    assert confirmed["sampled_rows"] == confirmed["row_count"]
    if first["complete"] and first["loadable"]:
        # The first look read the whole file: the full pass agrees with it.
        assert [c["type"] for c in first["columns"]] == [c["type"] for c in confirmed["columns"]]
        assert (first["confirmed"], first["row_count"]) == (True, confirmed["row_count"])
        assert first["problems"] == confirmed["problems"]


@pytest.mark.parametrize("name", _cases(CASES))
def test_corpus_file_inspection(name):
    _check(*inspect_file(CORPUS / name), CASES[name])


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_corpus_file_inspection(name, tmp_path):
    length, expect = GENERATED[name]
    path = tmp_path / name
    path.write_bytes(make_corpus.long_field(length))
    first, confirmed = inspect_file(path)
    _check(first, confirmed, expect)
    assert confirmed["preview"]["rows"][1]["fields"] == ["2", "x" * length]


# -- every reader reads a file as its inspection does ---------------------------------------
CLEAN = sorted(name for name, expect in CASES.items() if expect.columns and not expect.problems)


@pytest.mark.parametrize("name", CLEAN)
def test_a_load_reads_every_clean_corpus_file_as_its_inspection_does(name):
    """The load's reader (jobs.reader) gets what the preview showed, on the same lines, and every row."""
    _first, confirmed = inspect_file(CORPUS / name)

    with (CORPUS / name).open("rb") as stream:
        source = open_source(stream, reader_options=reader_options(confirmed), header=confirmed["header"])
        records = list(source.records)

    assert source.header == [column["original_name"] for column in confirmed["columns"]]
    assert len(records) == confirmed["row_count"]
    preview = [(row["line"], row["fields"]) for row in confirmed["preview"]["rows"]]
    assert records[: len(preview)] == preview


def test_the_load_log_says_how_a_sep_line_file_with_spaces_is_read():
    _first, sep = inspect_file(CORPUS / "delim_excel_sep_line.csv")
    _first, spaced = inspect_file(CORPUS / "quote_space_after_delimiter.csv")

    assert describe_reading(sep).startswith(
        'Reading as utf-8, semicolon-delimited (as the first line, "sep=", says; that line is skipped), '
        "with a header row; "
    )
    assert describe_reading(spaced).startswith(
        "Reading as utf-8, comma-delimited, spaces after a delimiter skipped, with a header row; "
    )


@pytest.mark.parametrize("data", [b"sep=;\r\n", b"sep=;"])
def test_a_file_of_only_a_sep_line_has_no_rows(data):
    result = inspect_sample(io.BytesIO(data), size=len(data))

    assert result["dialect"]["sep_line"] is True
    assert result["problems"] == [
        {"line": 1, "reason": 'the file has no rows after its "sep=" line', "severity": "error"}
    ]
    assert result["loadable"] is False


def test_an_inspection_stored_before_the_space_and_sep_line_keys_still_reads():
    _first, confirmed = inspect_file(CORPUS / "quote_delimiters.csv")
    for key in ("skipinitialspace", "sep_line", "quoted_fields"):
        del confirmed["dialect"][key]

    with (CORPUS / "quote_delimiters.csv").open("rb") as stream:
        page = read_page(stream, index=None, first_record=0, count=1, **reader_options(confirmed))

    assert reader_options(confirmed)["skipinitialspace"] is False
    assert reader_options(confirmed)["sep_line"] is False
    assert [(record.line, record.fields) for record in page] == [(2, ["1", "Smith, John", "Paris, France"])]
    assert describe_reading(confirmed).startswith("Reading as utf-8, comma-delimited, with a header row; ")


# -- the user's overrides ---------------------------------------------------------------
OVERRIDES: dict[str, tuple[str, InspectOptions, Expect]] = {
    # The user's encoding is used as given, even where it reads cp1252 punctuation as control characters.
    "encoding latin-1 forced": (
        "enc_cp1252_curly_euro.csv",
        InspectOptions(encoding="latin-1"),
        Expect(
            encoding="latin-1",
            columns=(ID, "quote text", "price text"),
            rows=3,
            preview=((2, ["1", "\x93Hello\x94 \x96 she said", "5 \x80"]),),
        ),
    ),
    # A wrong choice is an error with its line, not a silent replacement.
    "encoding utf-8 forced on cp1252": (
        "enc_cp1252_curly_euro.csv",
        InspectOptions(encoding="utf-8"),
        Expect(
            columns=("id text", "quote text", "price text"),
            rows=0,
            problems=((2, "byte 0x93 cannot be decoded as utf-8 (byte 3 of the line)", "error"),),
            loadable=False,
        ),
    ),
    # "utf-16" names no byte order and the file has no BOM: the NUL bytes say big-endian.
    "encoding utf-16 forced without a BOM": (
        "enc_utf16be_no_bom.csv",
        InspectOptions(encoding="utf-16"),
        Expect(encoding="utf-16-be", columns=(ID, "name text"), rows=2, preview=((2, ["1", "Ann"]),)),
    ),
    "encoding utf-8 forced on a file with a BOM": (
        "enc_utf8_bom.csv",
        InspectOptions(encoding="utf8"),
        Expect(encoding="utf-8-sig", codec="utf-8", bom=True, eol="\r\n", columns=(ID, "name text"), rows=2),
    ),
    # A comma splits "2,50": every data row then has one field more than the header.
    "delimiter forced": (
        "delim_semicolon_decimal_comma.csv",
        InspectOptions(delimiter=","),
        Expect(
            columns=("name_price_qty text",),
            details={"name_price_qty": {"original_name": "name;price;qty"}},
            rows=3,
            problems=(
                (2, "expected 1 field as in the first row, found 2", "warning"),
                (3, "expected 1 field as in the first row, found 2", "warning"),
                (4, "expected 1 field as in the first row, found 2", "warning"),
            ),
            preview=((2, ["Apple;2", "50;3"]),),
        ),
    ),
    # Without skipping the spaces, the quotes after them are data and "Smith, John" is cut at its comma.
    "space skipping forced off": (
        "quote_space_after_delimiter.csv",
        InspectOptions(skipinitialspace=False),
        Expect(
            columns=(ID, "name text", "city text"),
            details={"name": {"original_name": " name"}, "city": {"original_name": " city"}},
            rows=2,
            problems=((2, "expected 3 fields as in the first row, found 4", "warning"),),
            preview=((2, ["1", ' "Smith', ' John"', " Paris"]), (3, ["2", " Ann", " Lyon"])),
        ),
    ),
    # The way out the problem names: with no quote character, the lone quote is part of the value.
    "no quote character for a quote never closed": (
        "bad_unterminated_quote_only.csv",
        InspectOptions(quotechar=""),
        Expect(
            quotechar="",
            columns=(ID, "name text"),
            rows=3,
            preview=((3, ["2", '"broken']), (4, ["3", "x"])),
        ),
    ),
    # The header row becomes data, and the column with "id" above numbers is text.
    "header forced off": (
        "eol_lf.csv",
        InspectOptions(header=False),
        Expect(
            header=False,
            columns=("column_1 text", "column_2 text"),
            rows=4,
            preview=((1, ["id", "name"]), (2, ["1", "Ann"])),
        ),
    ),
    # The user's type, and the values it will reject, with their lines and why.
    "column type forced": (
        "type_two_strays.csv",
        InspectOptions(column_types={"amount": "int"}),
        Expect(
            columns=(ID, "amount integer"),
            details={
                "amount": {
                    "inferred_type": "text",
                    "overridden": True,
                    "conflicts": [
                        (7, "n.a.", "is not a whole number (integer)"),
                        (22, "tbd", "is not a whole number (integer)"),
                    ],
                    "conflict_count": 2,
                }
            },
            rows=25,
        ),
    ),
    # The user says "NA" means null in this file: it is counted as one, and shown as a marker.
    "null markers with NA": (
        "type_country_na.csv",
        InspectOptions(null_markers=["", "NA"]),
        Expect(
            columns=("country text", "name text", "population integer"),
            details={"country": {"null_count": 1, "distinct_estimate": 3}, "population": {"null_count": 1}},
            rows=4,
            null_markers=("", "NA"),
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(OVERRIDES))
def test_inspection_with_overrides(case):
    name, options, expect = OVERRIDES[case]
    _check(*inspect_file(CORPUS / name, options), expect)
