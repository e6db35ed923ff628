"""jobs.reader.open_csv: header, records with their starting line numbers, and SourceErrors that say where."""

from __future__ import annotations

import io

import pytest

from jobs.errors import SourceError
from jobs.reader import open_csv


def read_all(data: bytes, **options) -> tuple[list[str], list[tuple[int, list[str]]]]:
    source = open_csv(io.BytesIO(data), **options)
    return source.header, list(source.records)


def read_until_error(data: bytes, **options) -> tuple[list[tuple[int, list[str]]], SourceError]:
    """The records yielded before the SourceError, and the error itself."""
    source = open_csv(io.BytesIO(data), **options)
    records = []
    with pytest.raises(SourceError) as caught:
        for record in source.records:
            records.append(record)
    return records, caught.value


# -- header and records ------------------------------------------------------------------
def test_header_and_records_carry_the_line_they_start_on():
    header, records = read_all(b"id,name\n1,ann\n2,bob\n")

    assert header == ["id", "name"]
    assert records == [(2, ["1", "ann"]), (3, ["2", "bob"])]


def test_last_record_without_a_trailing_newline_is_read():
    header, records = read_all(b"id,name\n1,ann\n2,bob")

    assert header == ["id", "name"]
    assert records == [(2, ["1", "ann"]), (3, ["2", "bob"])]


def test_header_only_file_has_no_records():
    header, records = read_all(b"id,name\n")

    assert header == ["id", "name"]
    assert records == []


def test_quoted_field_with_newlines_pushes_later_line_numbers_down():
    data = b'id,note\n1,"first line\nsecond line\nthird line"\n2,plain\n'

    header, records = read_all(data)

    assert header == ["id", "note"]
    assert records == [(2, ["1", "first line\nsecond line\nthird line"]), (5, ["2", "plain"])]


def test_quoted_fields_keep_delimiters_and_doubled_quotes():
    _header, records = read_all(b'id,note\n1,"a, b and ""c"""\n')

    assert records == [(2, ["1", 'a, b and "c"'])]


def test_crlf_line_endings_are_not_part_of_the_fields():
    header, records = read_all(b'id,note\r\n1,ann\r\n2,"multi\r\nline"\r\n3,carl\r\n')

    assert header == ["id", "note"]
    assert records == [(2, ["1", "ann"]), (3, ["2", "multi\r\nline"]), (5, ["3", "carl"])]


def test_bare_cr_line_endings_are_lines_too():
    header, records = read_all(b"id,name\r1,ann\r2,bob\r")

    assert header == ["id", "name"]
    assert records == [(2, ["1", "ann"]), (3, ["2", "bob"])]


def test_utf8_bom_is_not_part_of_the_first_header_name():
    header, records = read_all("\ufeffid,naïve\n1,café\n".encode())

    assert header == ["id", "naïve"]
    assert records == [(2, ["1", "café"])]


@pytest.mark.parametrize("encoding", ["utf-8", "UTF-8", "utf8", "utf_8"])
def test_bom_is_stripped_for_every_spelling_of_utf8(encoding):
    header, _records = read_all(b"\xef\xbb\xbfid,name\n1,ann\n", encoding=encoding)

    assert header == ["id", "name"]


def test_other_encodings_are_decoded_when_named():
    header, records = read_all("id,name\n1,café\n".encode("latin-1"), encoding="latin-1")

    assert header == ["id", "name"]
    assert records == [(2, ["1", "café"])]


def test_blank_lines_are_skipped_but_still_counted():
    header, records = read_all(b"\nid,name\n1,ann\n\n\n2,bob\n\n")

    assert header == ["id", "name"]
    assert records == [(3, ["1", "ann"]), (6, ["2", "bob"])]


def test_semicolon_delimiter_leaves_commas_inside_fields():
    header, records = read_all(b"id;amount\n1;3,50\n2;4\n", delimiter=";")

    assert header == ["id", "amount"]
    assert records == [(2, ["1", "3,50"]), (3, ["2", "4"])]


def test_tab_delimiter():
    header, records = read_all(b"id\tname\n1\tann smith\n", delimiter="\t")

    assert header == ["id", "name"]
    assert records == [(2, ["1", "ann smith"])]


def test_a_one_megabyte_field_is_read_whole():
    big = "x" * (1024 * 1024)
    data = f'id,body,tail\n1,"{big}",end\n2,short,end\n'.encode()

    _header, records = read_all(data)

    assert [line for line, _fields in records] == [2, 3]
    assert records[0][1][1] == big
    assert records[0][1][2] == "end"
    assert records[1][1] == ["2", "short", "end"]


# -- progress --------------------------------------------------------------------------
def test_bytes_read_is_where_the_last_record_handed_out_starts():
    data = b"\xef\xbb\xbfid,name\r\n1,ann\r\n2,bob\r\n"
    source = open_csv(io.BytesIO(data))

    records = list(source.records)

    assert len(records) == 2
    assert source.bytes_read == data.index(b"2,bob")


def test_bytes_read_grows_while_a_large_file_is_read():
    row = b"12345,some text that pads the row out\n"
    data = b"id,text\n" + row * (3 * 1024 * 1024 // len(row))
    source = open_csv(io.BytesIO(data))

    next(source.records)
    after_first = source.bytes_read
    remaining = sum(1 for _ in source.records)

    assert 0 < after_first < len(data)
    assert remaining == data.count(b"\n") - 2
    assert source.bytes_read == len(data) - len(row)


# -- errors ----------------------------------------------------------------------------
@pytest.mark.parametrize("data", [b"", b"\n", b"\r\n\r\n\n"])
def test_empty_file_is_an_error_on_line_1(data):
    with pytest.raises(SourceError) as caught:
        open_csv(io.BytesIO(data))

    assert caught.value.line == 1
    assert caught.value.reason == "the file is empty"
    assert str(caught.value) == "line 1: the file is empty"


def test_row_with_too_few_fields_names_line_and_counts():
    records, error = read_until_error(b"id,name,age\n1,ann,30\n2,bob\n3,cy,40\n")

    assert records == [(2, ["1", "ann", "30"])]
    assert error.line == 3
    assert error.reason == "expected 3 fields as in the header, found 2"
    assert error.value == "2,bob"
    assert str(error) == "line 3: expected 3 fields as in the header, found 2 (value '2,bob')"


def test_row_with_too_many_fields_names_line_and_counts():
    records, error = read_until_error(b"id,name\n1,ann\n\n2,bob,extra\n")

    assert records == [(2, ["1", "ann"])]
    assert error.line == 4
    assert error.reason == "expected 2 fields as in the header, found 3"
    assert error.value == "2,bob,extra"


def test_ragged_row_after_a_multiline_field_reports_its_own_line():
    _records, error = read_until_error(b'id,note\n1,"a\nb"\n2\n')

    assert error.line == 4
    assert error.reason == "expected 2 fields as in the header, found 1"


def test_invalid_utf8_byte_names_the_line_it_is_on():
    records, error = read_until_error(b"id,name\n1,ann\n2,b\xffb\n3,cy\n")

    assert records == [(2, ["1", "ann"])]
    assert error.line == 3
    assert error.reason.startswith("byte 0xff cannot be decoded as utf-8 (byte ")
    assert str(error) == "line 3: byte 0xff cannot be decoded as utf-8 (byte 4 of the line)"


def test_invalid_utf8_byte_far_into_the_file_names_its_line():
    # Well past the decoder's first chunk: the line must come from the record, not the chunk.
    data = b"id,name\n" + b"1,ann\n" * 5000 + b"2,\xc3\x28\n3,cy\n"

    records, error = read_until_error(data)

    assert len(records) == 5000
    assert error.line == 5002
    assert error.reason.startswith("byte 0xc3 cannot be decoded as utf-8 (byte ")


def test_invalid_utf8_byte_inside_a_multiline_field_names_the_physical_line():
    _records, error = read_until_error(b'id,note\n1,"first\nsec\xe9ond"\n')

    assert error.line == 3
    assert error.reason.startswith("byte 0xe9 cannot be decoded as utf-8 (byte ")


def test_invalid_utf8_byte_in_a_crlf_file_names_its_line():
    _records, error = read_until_error(b"id,name\r\n1,ann\r\n\r\n2,\x80\r\n")

    assert error.line == 4
    assert error.reason.startswith("byte 0x80 cannot be decoded as utf-8 (byte ")


def test_truncated_utf8_sequence_at_end_of_file_is_an_error():
    _records, error = read_until_error(b"id,name\n1,caf\xc3")

    assert error.line == 2
    assert error.reason.startswith("byte 0xc3 cannot be decoded as utf-8 (byte ")


def test_invalid_utf8_in_the_header_fails_on_line_1():
    with pytest.raises(SourceError) as caught:
        open_csv(io.BytesIO(b"id,n\xe4me\n1,ann\n"))

    assert caught.value.line == 1
    assert caught.value.reason.startswith("byte 0xe4 cannot be decoded as utf-8 (byte ")


def test_unterminated_quote_at_end_of_file_is_malformed_on_the_line_it_opens():
    records, error = read_until_error(b'id,note\n1,ann\n2,"never closed\nstill inside\n')

    assert records == [(2, ["1", "ann"])]
    assert error.line == 3
    assert error.reason == "the file ends inside a quoted field: the quote opened in this record is never closed"
    assert str(error) == "line 3: the file ends inside a quoted field: the quote opened in this record is never closed"


def test_text_after_a_closing_quote_is_malformed():
    _records, error = read_until_error(b'id,note\n1,"ann"x\n')

    assert error.line == 2
    assert error.reason == "a closing quote is followed by other characters, not by the delimiter ','"
