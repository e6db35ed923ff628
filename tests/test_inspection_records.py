"""jobs.inspection.records: records with the line and byte offset they start at, resuming, the row index and pages."""

from __future__ import annotations

import codecs
import csv
import io
import json
import random

import pytest

from jobs.errors import SourceError
from jobs.inspection import records as records_module
from jobs.inspection.records import RowIndex, build_index, iter_records, iter_rows, read_page
from jobs.inspection.results import Record


def read(data: bytes, **options) -> list[tuple[int, int, list[str]]]:
    options.setdefault("encoding", "utf-8")
    return [(record.line, record.offset, record.fields) for record in iter_records(io.BytesIO(data), **options)]


def read_until_error(data: bytes, **options) -> tuple[list[tuple[int, int, list[str]]], SourceError]:
    """The records yielded before the SourceError, and the error itself."""
    options.setdefault("encoding", "utf-8")
    records = []
    with pytest.raises(SourceError) as caught:
        for record in iter_records(io.BytesIO(data), **options):
            records.append((record.line, record.offset, record.fields))
    return records, caught.value


@pytest.fixture
def small_chunks(monkeypatch):
    """Read a few bytes at a time, so chunk boundaries fall inside line breaks and characters."""

    def set_size(size: int) -> None:
        monkeypatch.setattr(records_module, "CHUNK_SIZE", size)

    return set_size


@pytest.fixture
def restore_csv_limit():
    limit = csv.field_size_limit()
    yield
    csv.field_size_limit(limit)


# A file with every case that moves lines and offsets apart: a multi-line quoted field,
# quoted delimiters and quotes, blank lines, all three line breaks, non-ASCII characters
# (two, three and four bytes in UTF-8), characters str.splitlines breaks at, no final newline.
TRICKY = (
    'id,name,note\r\n1,"Ann, Jr.","said ""hi""\r\nthen left"\r\n\r\n2,Bob,\n\n3,Zoë,"a\rb"\r'
    '4,"€100",\u2028\x85\x0b\x0c\x1c\n5,😀,"x\n\n"\n6,last,no newline'
)
TRICKY_RECORDS = [
    (1, ["id", "name", "note"]),
    (2, ["1", "Ann, Jr.", 'said "hi"\r\nthen left']),
    (5, ["2", "Bob", ""]),
    (7, ["3", "Zoë", "a\rb"]),
    (9, ["4", "€100", "\u2028\x85\x0b\x0c\x1c"]),
    (10, ["5", "😀", "x\n\n"]),
    (13, ["6", "last", "no newline"]),
]


# -- lines and offsets ----------------------------------------------------------------------
def test_lf_records_carry_their_line_and_byte_offset():
    assert read(b"id,name\n1,ann\n2,bob\n") == [(1, 0, ["id", "name"]), (2, 8, ["1", "ann"]), (3, 14, ["2", "bob"])]


def test_crlf_line_breaks_count_two_bytes():
    assert read(b"id,name\r\n1,ann\r\n2,bob\r\n") == [
        (1, 0, ["id", "name"]),
        (2, 9, ["1", "ann"]),
        (3, 16, ["2", "bob"]),
    ]


def test_cr_only_line_breaks_end_records():
    assert read(b"id,name\r1,ann\r2,bob") == [(1, 0, ["id", "name"]), (2, 8, ["1", "ann"]), (3, 14, ["2", "bob"])]


def test_mixed_line_breaks_in_one_file():
    assert read(b"id\r\n1\n2\r3\r\n4") == [(1, 0, ["id"]), (2, 4, ["1"]), (3, 6, ["2"]), (4, 8, ["3"]), (5, 11, ["4"])]


def test_quoted_field_with_newlines_starts_the_next_record_lines_later():
    data = b'id,note\n1,"first, line\nsecond ""line""\r\nthird"\n2,plain\n'

    assert read(data) == [
        (1, 0, ["id", "note"]),
        (2, 8, ["1", 'first, line\nsecond "line"\r\nthird']),
        (5, 47, ["2", "plain"]),
    ]


def test_blank_lines_are_skipped_but_counted():
    assert read(b"\n\r\nid\n\n\n1\r\n\r\n2\n\n") == [(3, 3, ["id"]), (6, 8, ["1"]), (8, 13, ["2"])]


def test_empty_file_has_no_records():
    assert read(b"") == []
    assert read(b"\xef\xbb\xbf", bom_length=3) == []


def test_characters_str_splitlines_breaks_at_are_data():
    data = "a,b\n1,x\u2028y\x85z\x0b\x0c\x1c\x1d\x1e\n2,w\n".encode()

    assert read(data) == [
        (1, 0, ["a", "b"]),
        (2, 4, ["1", "x\u2028y\x85z\x0b\x0c\x1c\x1d\x1e"]),
        (3, 20, ["2", "w"]),
    ]


def test_offsets_count_bytes_of_multibyte_characters():
    assert read("név,€\nZoë,😀\nx,y\n".encode()) == [(1, 0, ["név", "€"]), (2, 9, ["Zoë", "😀"]), (3, 19, ["x", "y"])]


def test_other_dialects_semicolon_single_quote_backslash_escape_and_no_quoting():
    assert read(b"a;b\n'x;y';'it''s'\n", delimiter=";", quotechar="'") == [(1, 0, ["a", "b"]), (2, 4, ["x;y", "it's"])]
    assert read(b'a,b\n"x\\"y",z\\,w\n', escapechar="\\", doublequote=False) == [
        (1, 0, ["a", "b"]),
        (2, 4, ['x"y', "z,w"]),
    ]
    assert read(b'a|b\n"x|"y\n', delimiter="|", quotechar="") == [(1, 0, ["a", "b"]), (2, 4, ['"x', '"y'])]


def test_spaces_after_a_delimiter_are_skipped_so_the_quotes_after_them_quote():
    data = b'id, name, city\n1, "Smith, John", Paris\n'

    assert read(data, skipinitialspace=True) == [(1, 0, ["id", "name", "city"]), (2, 15, ["1", "Smith, John", "Paris"])]
    assert read(data)[1] == (2, 15, ["1", ' "Smith', ' John"', " Paris"])


SEP_FILE = b"sep=;\r\nName;Amount\r\nAnn;10\r\nBob;20\r\n"


def test_an_excel_sep_line_is_skipped_but_still_counts_as_line_1():
    assert read(SEP_FILE, delimiter=";", sep_line=True) == [
        (2, 7, ["Name", "Amount"]),
        (3, 20, ["Ann", "10"]),
        (4, 28, ["Bob", "20"]),
    ]


def test_an_excel_sep_line_after_a_bom_and_in_utf16_is_skipped():
    utf8 = b"\xef\xbb\xbf" + SEP_FILE
    utf16 = codecs.BOM_UTF16_LE + SEP_FILE.decode().encode("utf-16-le")

    assert read(utf8, delimiter=";", sep_line=True, bom_length=3)[0] == (2, 10, ["Name", "Amount"])
    assert read(utf16, delimiter=";", sep_line=True, encoding="utf-16-le", bom_length=2)[0] == (
        2,
        16,
        ["Name", "Amount"],
    )


def test_resuming_in_a_file_with_a_sep_line_skips_nothing():
    assert read(SEP_FILE, delimiter=";", sep_line=True, start_offset=20, start_line=3) == [
        (3, 20, ["Ann", "10"]),
        (4, 28, ["Bob", "20"]),
    ]


def test_pages_and_the_index_of_a_file_with_a_sep_line_start_after_it():
    options = {"encoding": "utf-8", "delimiter": ";", "sep_line": True}
    index = build_index(io.BytesIO(SEP_FILE), every=1, **options)

    assert (index.record_count, index.lines, index.offsets) == (2, [3, 4], [20, 28])
    for page_index in (None, index):
        page = read_page(io.BytesIO(SEP_FILE), index=page_index, first_record=0, count=5, **options)
        assert page == [Record(3, 20, ["Ann", "10"]), Record(4, 28, ["Bob", "20"])]


def test_iter_rows_yields_the_same_as_tuples():
    data = TRICKY.encode()

    rows = list(iter_rows(io.BytesIO(data), encoding="utf-8"))

    assert [Record(*row) for row in rows] == list(iter_records(io.BytesIO(data), encoding="utf-8"))


# -- encodings and byte order marks ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("encoding", "bom", "offsets"),
    [
        ("utf-8", b"", [0, 14, 55, 63, 76, 96, 109]),
        ("utf-8", codecs.BOM_UTF8, [3, 17, 58, 66, 79, 99, 112]),
        ("utf-16-le", codecs.BOM_UTF16_LE, [2, 30, 112, 128, 152, 182, 204]),
        ("utf-16-be", codecs.BOM_UTF16_BE, [2, 30, 112, 128, 152, 182, 204]),
    ],
)
def test_tricky_file_in_each_encoding_has_exact_lines_and_offsets(encoding, bom, offsets):
    data = bom + TRICKY.encode(encoding)

    records = read(data, encoding=encoding, bom_length=len(bom))

    assert [(line, fields) for line, _offset, fields in records] == TRICKY_RECORDS
    assert [offset for _line, offset, _fields in records] == offsets
    assert all(data[offset:].decode(encoding).startswith(fields[0]) for _line, offset, fields in records)


def test_utf8_bom_is_never_part_of_the_first_header():
    assert read(b"\xef\xbb\xbfid,name\n1,ann\n", bom_length=3) == [(1, 3, ["id", "name"]), (2, 11, ["1", "ann"])]


def test_utf8_sig_codec_name_reads_as_utf8_with_the_bom_skipped_by_length():
    assert read(b"\xef\xbb\xbfid\n1\n", encoding="utf-8-sig", bom_length=3) == [(1, 3, ["id"]), (2, 6, ["1"])]


def test_utf16_without_byte_order_is_refused():
    with pytest.raises(ValueError, match="utf-16-le or utf-16-be"):
        iter_records(io.BytesIO(b""), encoding="utf-16")


def test_cp1252_characters_are_one_byte_each():
    data = "id,price\n1,€5\n2,café\n".encode("cp1252")

    assert read(data, encoding="cp1252") == [(1, 0, ["id", "price"]), (2, 9, ["1", "€5"]), (3, 14, ["2", "café"])]


def test_latin1_decodes_every_byte():
    assert read(b"a\n\x80\x85\xff\n", encoding="latin-1") == [(1, 0, ["a"]), (2, 2, ["\x80\x85\xff"])]


# -- resuming and chunk boundaries ------------------------------------------------------------
@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
    ],
)
def test_resuming_at_any_record_yields_the_same_remaining_records(encoding, bom, small_chunks):
    data = bom + TRICKY.encode(encoding)
    everything = list(iter_records(io.BytesIO(data), encoding=encoding, bom_length=len(bom)))

    for chunk_size in (3, 7, 1024):
        small_chunks(chunk_size)
        for number, record in enumerate(everything):
            stream = io.BytesIO(data)
            resumed = iter_records(
                stream, encoding=encoding, bom_length=len(bom), start_offset=record.offset, start_line=record.line
            )
            assert list(resumed) == everything[number:], (chunk_size, number)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "cp1252"])
def test_every_chunk_size_reads_the_same_records(encoding, small_chunks):
    text = TRICKY if encoding != "cp1252" else TRICKY.replace("😀", "x").replace("\u2028", "y").replace("\x85", "z")
    data = text.encode(encoding)
    expected = read(data, encoding=encoding)

    for chunk_size in range(1, 41):
        small_chunks(chunk_size)
        assert read(data, encoding=encoding) == expected, chunk_size


@pytest.mark.parametrize(("encoding", "width"), [("utf-8", 1), ("utf-16-le", 2), ("utf-16-be", 2)])
def test_a_line_longer_than_many_chunks_is_read_whole(encoding, width, small_chunks):
    small_chunks(16)
    data = ("id,text\n1," + "x" * 1000 + "\r\n2,y\r\n").encode(encoding)

    assert read(data, encoding=encoding) == [
        (1, 0, ["id", "text"]),
        (2, 8 * width, ["1", "x" * 1000]),
        (3, 1012 * width, ["2", "y"]),
    ]


def test_non_seekable_stream_is_read_from_its_start():
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes):
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    records = list(iter_records(Pipe(b"\xef\xbb\xbfid\n1\n"), encoding="utf-8", bom_length=3))

    assert records == [Record(1, 3, ["id"]), Record(2, 6, ["1"])]
    with pytest.raises(ValueError, match="seekable"):
        iter_records(Pipe(b"id\n"), encoding="utf-8", start_offset=3)


# -- malformed files ----------------------------------------------------------------------------
def test_undecodable_utf8_byte_is_reported_with_its_line_after_the_good_records():
    records, error = read_until_error(b"id,name\n1,ann\n2,b\xffb\n3,cid\n")

    assert records == [(1, 0, ["id", "name"]), (2, 8, ["1", "ann"])]
    assert error.line == 3
    assert error.reason == "byte 0xff cannot be decoded as utf-8 (byte 4 of the line)"


def test_undecodable_byte_inside_a_multiline_field_is_reported_on_its_own_line():
    records, error = read_until_error(b'id,note\n1,"ok\nstill ok\nbad \xe9 here"\n')

    assert records == [(1, 0, ["id", "note"])]
    assert error.line == 4
    assert error.reason == "byte 0xe9 cannot be decoded as utf-8 (byte 5 of the line)"


def test_byte_undefined_in_cp1252_is_reported():
    records, error = read_until_error(b"id\n\x81\n", encoding="cp1252")

    assert records == [(1, 0, ["id"])]
    assert (error.line, error.reason) == (2, "byte 0x81 cannot be decoded as cp1252 (byte 1 of the line)")


def test_lone_surrogate_in_utf16_is_reported_with_its_line():
    data = "id\n1\nab".encode("utf-16-le") + b"\x00\xd8" + "x\n".encode("utf-16-le")

    records, error = read_until_error(data, encoding="utf-16-le")

    assert records == [(1, 0, ["id"]), (2, 6, ["1"])]
    assert (error.line, error.reason) == (3, "bytes 0x00 0xd8 cannot be decoded as utf-16-le (character 3 of the line)")


def test_utf16_file_cut_in_the_middle_of_a_character_is_reported():
    records, error = read_until_error("id\n1\n".encode("utf-16-be") + b"\x00", encoding="utf-16-be")

    assert records == [(1, 0, ["id"]), (2, 6, ["1"])]
    assert (error.line, error.reason) == (3, "byte 0x00 cannot be decoded as utf-16-be (character 1 of the line)")


def test_unterminated_quote_at_end_of_file_names_the_line_the_record_started():
    records, error = read_until_error(b'id,note\n1,ok\n2,"never closed\nmore\nand more\n')

    assert records == [(1, 0, ["id", "note"]), (2, 8, ["1", "ok"])]
    assert error.line == 3
    assert error.reason == "the file ends inside a quoted field: the quote opened in this record is never closed"


def test_nul_byte_is_reported_with_its_line():
    records, error = read_until_error(b"id,name\n1,ann\n2,b\x00b\n")

    assert records == [(1, 0, ["id", "name"]), (2, 8, ["1", "ann"])]
    assert error.line == 3
    assert error.reason == (
        "a NUL byte (0x00): the file may be binary, or UTF-16 without a byte order mark (byte 4 of the line)"
    )


def test_nul_character_in_utf16_is_reported_with_its_line():
    records, error = read_until_error("id\n1\r\nx\x00\n".encode("utf-16-le"), encoding="utf-16-le")

    assert records == [(1, 0, ["id"]), (2, 6, ["1"])]
    assert error.line == 3
    assert (
        error.reason
        == "a NUL character (U+0000): the file may be binary, or in another encoding (character 2 of the line)"
    )


def test_text_after_a_closing_quote_is_reported_on_its_line():
    records, error = read_until_error(b'id,note\n1,"two\nlines"x\n')

    assert records == [(1, 0, ["id", "note"])]
    assert (error.line, error.reason) == (
        3,
        "a closing quote is followed by other characters, not by the delimiter ','",
    )


def test_field_over_the_limit_is_reported_with_the_limit(restore_csv_limit):
    assert read(b"id\n0123456789\n", field_size_limit=10) == [(1, 0, ["id"]), (2, 3, ["0123456789"])]

    records, error = read_until_error(b"id\n1\n0123456789x\n", field_size_limit=10)

    assert records == [(1, 0, ["id"]), (2, 3, ["1"])]
    assert (error.line, error.reason) == (3, "a field is longer than the limit of 10 characters")


def test_process_wide_csv_limit_is_put_back_when_reading_ends(restore_csv_limit):
    csv.field_size_limit(1234)

    assert read(b"id\n1\n", field_size_limit=10) == [(1, 0, ["id"]), (2, 3, ["1"])]
    assert csv.field_size_limit() == 1234


def test_70_mb_field_is_refused_by_the_64_mb_limit(tmp_path, restore_csv_limit):
    path = tmp_path / "wide.csv"
    with path.open("wb") as handle:
        handle.write(b'id,note\n1,small\n2,"')
        for _ in range(70):
            handle.write(b"x" * (1024 * 1024))
        handle.write(b'"\n3,after\n')

    with path.open("rb") as stream:
        records = iter_records(stream, encoding="utf-8")
        assert next(records) == Record(1, 0, ["id", "note"])
        assert next(records) == Record(2, 8, ["1", "small"])
        with pytest.raises(SourceError) as caught:
            next(records)

    assert caught.value.line == 3
    assert caught.value.reason == "a field is longer than the limit of 67,108,864 characters"


# -- the row index ---------------------------------------------------------------------------------
def test_row_index_keeps_every_nth_record():
    index = RowIndex(every=3)
    for number in range(10):
        index.add(number, 100 + number, 1000 + 10 * number)

    assert (index.every, index.lines, index.offsets) == (3, [100, 103, 106, 109], [1000, 1030, 1060, 1090])
    assert index.locate(0) == (0, 100, 1000)
    assert index.locate(5) == (3, 103, 1030)
    assert index.locate(9) == (9, 109, 1090)
    assert index.locate(500) == (9, 109, 1090)


def test_row_index_ignores_records_offered_twice_or_out_of_turn():
    index = RowIndex(every=2)
    index.add(0, 1, 0)
    index.add(0, 1, 0)
    index.add(4, 9, 90)  # record 2 was never offered: keeping 4 would misplace it

    assert (index.lines, index.offsets) == ([1], [0])


def test_row_index_past_its_bound_doubles_every_and_thins():
    index = RowIndex(every=1, max_entries=4)
    for number in range(20):
        index.add(number, number + 2, number * 10)

    assert index.every == 8
    assert index.lines == [2, 10, 18]
    assert index.offsets == [0, 80, 160]
    assert index.locate(17) == (16, 18, 160)


def test_row_index_of_100_million_records_stays_small():
    index = RowIndex()
    for number in range(0, 100_000_000, 1000):
        index.add(number, number + 2, number * 100)

    assert len(index) <= index.max_entries == 4096
    assert index.every == 32_000
    assert index.locate(99_999_999) == (99_968_000, 99_968_002, 9_996_800_000)


def test_row_index_json_round_trip_is_compact():
    index = RowIndex(every=2)
    for number in range(5):
        index.add(number, number + 2, number * 7)
    index.finish(5)

    stored = json.loads(json.dumps(index.to_json()))
    again = RowIndex.from_json(stored)

    assert stored == {"every": 2, "max_entries": 4096, "count": 5, "lines": [2, 4, 6], "offsets": [0, 14, 28]}
    assert (again.every, again.max_entries, again.record_count, again.lines, again.offsets) == (
        2,
        4096,
        5,
        [2, 4, 6],
        [0, 14, 28],
    )
    with pytest.raises(ValueError, match="as many lines as offsets"):
        RowIndex.from_json({**stored, "lines": [2]})


def test_empty_row_index_cannot_locate():
    with pytest.raises(LookupError):
        RowIndex().locate(0)


# -- pages -------------------------------------------------------------------------------------------
def numbered_file(rows: int) -> bytes:
    """A header and `rows` records; every 5th has a two-line note, every 7th is followed by a blank line."""
    out = ["id,note\r\n"]
    for n in range(rows):
        out.append(f'{n},"line\nbreak"\r\n' if n % 5 == 4 else f"{n},n{n}\r\n")
        if n % 7 == 6:
            out.append("\r\n")
    return "".join(out).encode()


PAGED = numbered_file(50)
ALL_DATA = list(iter_records(io.BytesIO(PAGED), encoding="utf-8"))[1:]


def test_build_index_indexes_data_records_after_the_header():
    index = build_index(io.BytesIO(PAGED), encoding="utf-8", every=10)

    assert index.record_count == 50
    assert index.lines == [ALL_DATA[n].line for n in (0, 10, 20, 30, 40)]
    assert index.offsets == [ALL_DATA[n].offset for n in (0, 10, 20, 30, 40)]
    assert (index.lines[:2], index.offsets[:2]) == ([2, 15], [9, 91])


@pytest.mark.parametrize("with_index", [False, True])
@pytest.mark.parametrize(
    ("first", "count", "expected_ids"),
    [
        (0, 3, [0, 1, 2]),
        (23, 4, [23, 24, 25, 26]),
        (47, 10, [47, 48, 49]),
        (50, 5, []),
        (500, 5, []),
        (9, 0, []),
    ],
)
def test_read_page_at_start_middle_end_and_past_the_end(with_index, first, count, expected_ids):
    index = build_index(io.BytesIO(PAGED), encoding="utf-8", every=10) if with_index else None

    page = read_page(io.BytesIO(PAGED), index=index, first_record=first, count=count, encoding="utf-8")

    assert [record.fields[0] for record in page] == [str(n) for n in expected_ids]
    assert page == ALL_DATA[first : first + count]


def test_read_page_with_an_index_of_part_of_the_file_reads_on_from_its_last_entry():
    index = RowIndex(every=10)
    for number, record in enumerate(ALL_DATA[:25]):
        index.add(number, record.line, record.offset)

    page = read_page(io.BytesIO(PAGED), index=index, first_record=42, count=3, encoding="utf-8")

    assert page == ALL_DATA[42:45]


def test_read_page_of_a_file_without_header_counts_from_the_first_record():
    data = b"1\n2\n3\n"

    assert read_page(io.BytesIO(data), index=None, first_record=1, count=5, header=False, encoding="utf-8") == [
        Record(2, 2, ["2"]),
        Record(3, 4, ["3"]),
    ]


def test_read_page_in_utf16_with_bom():
    data = codecs.BOM_UTF16_LE + PAGED.decode().encode("utf-16-le")
    index = build_index(io.BytesIO(data), encoding="utf-16-le", bom_length=2, every=10)

    page = read_page(io.BytesIO(data), index=index, first_record=33, count=2, encoding="utf-16-le", bom_length=2)

    assert [(record.line, record.fields) for record in page] == [(r.line, r.fields) for r in ALL_DATA[33:35]]
    assert [record.offset for record in page] == [2 + 2 * r.offset for r in ALL_DATA[33:35]]


def test_read_page_refuses_negative_positions():
    with pytest.raises(ValueError):
        read_page(io.BytesIO(PAGED), index=None, first_record=-1, count=3, encoding="utf-8")


# -- random tables ------------------------------------------------------------------------------------
DIALECTS = [
    {"delimiter": ",", "quotechar": '"', "doublequote": True, "escapechar": ""},
    {"delimiter": ";", "quotechar": "'", "doublequote": True, "escapechar": ""},
    {"delimiter": "\t", "quotechar": '"', "doublequote": False, "escapechar": "\\"},
    {"delimiter": "|", "quotechar": '"', "doublequote": True, "escapechar": ""},
]
ENCODINGS = [("utf-8", b""), ("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE), ("cp1252", b"")]
# Characters that need quoting or escaping, move offsets (multi-byte) or fool str.splitlines.
ALPHABET = "ab ,;|\t\"'\\\r\n\u2028\x85é€😀0"


def random_table(rng: random.Random, encoding: str) -> list[list[str]]:
    alphabet = ALPHABET
    if encoding == "cp1252":
        alphabet = alphabet.replace("\u2028", "").replace("\x85", "").replace("😀", "")
    width = rng.randint(1, 4)
    table = []
    for _ in range(rng.randint(1, 12)):
        table.append(["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(width)])
    return table


def test_random_tables_in_random_dialects_and_encodings_read_back_identically(small_chunks):
    rng = random.Random(3)
    for case in range(300):
        encoding, bom = rng.choice(ENCODINGS)
        dialect = rng.choice(DIALECTS)
        terminator = rng.choice(["\n", "\r\n", "\r"])
        # Python 3.11's writer quotes a field for \r or \n only if the line terminator holds that
        # character: with minimal quoting it needs "\r\n" to write fields that read back.
        quoting = rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
        if quoting == csv.QUOTE_MINIMAL:
            terminator = "\r\n"
        table = random_table(rng, encoding)
        out = io.StringIO()
        writer = csv.writer(
            out,
            quoting=quoting,
            delimiter=dialect["delimiter"],
            quotechar=dialect["quotechar"],
            doublequote=dialect["doublequote"],
            escapechar=dialect["escapechar"] or None,
            lineterminator=terminator,
        )
        writer.writerows(table)
        data = bom + out.getvalue().encode(encoding)
        small_chunks(rng.choice([1, 2, 5, 64, 1 << 20]))
        options = {"encoding": encoding, "bom_length": len(bom), **dialect}

        records = list(iter_records(io.BytesIO(data), **options))

        assert [record.fields for record in records] == table, case
        resume = rng.randrange(len(records))
        again = iter_records(
            io.BytesIO(data), start_offset=records[resume].offset, start_line=records[resume].line, **options
        )
        assert list(again) == records[resume:], case
