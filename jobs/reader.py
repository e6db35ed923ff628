"""Stream CSV records from a binary file, with the line number each record starts on.

The file is read through a small buffer; nothing here holds the whole file in memory.
Encoding and dialect detection arrive with file inspection; today the source is
UTF-8 (a BOM is accepted) with the delimiter given by the caller and a header row.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from jobs.errors import SourceError

# Python's csv default (128 KiB) is too small for real exports with long text fields.
FIELD_SIZE_LIMIT = 64 * 1024 * 1024
csv.field_size_limit(FIELD_SIZE_LIMIT)

# Undecodable bytes are let through as lone surrogates (errors="surrogateescape") and
# reported by the line that holds them: a strict decoder fails on a whole 8 KiB chunk,
# before the csv reader has reached the bad line, so the line number would be wrong.
_UNDECODED = re.compile("[\udc80-\udcff]")


class _CountingReader(io.RawIOBase):
    """Counts bytes as they are read, for progress as a fraction of the file size."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.bytes_read += n
        return n


@dataclass
class CsvSource:
    header: list[str]
    records: Iterator[tuple[int, list[str]]]
    _counter: _CountingReader

    @property
    def bytes_read(self) -> int:
        return self._counter.bytes_read


def open_csv(stream: BinaryIO, *, encoding: str = "utf-8", delimiter: str = ",") -> CsvSource:
    """Read the header and return it with an iterator of (line number, fields) records.

    Raises SourceError for an empty file, a file without a header, bad bytes for the
    encoding, a malformed record or a record with the wrong number of fields.
    """
    counter = _CountingReader(stream)
    if encoding.lower().replace("_", "-") in {"utf-8", "utf8"}:
        encoding = "utf-8-sig"  # a BOM must never become part of the first header name
    codecs.lookup(encoding)
    text = io.TextIOWrapper(
        io.BufferedReader(counter, buffer_size=1024 * 1024), encoding=encoding, errors="surrogateescape", newline=""
    )
    reader = csv.reader(_decoded_lines(text, encoding), delimiter=delimiter, strict=True)
    records = _records(reader, encoding)
    first = next(records, None)
    if first is None:
        raise SourceError("the file is empty", line=1)
    _line, header = first
    return CsvSource(header=header, records=_checked(records, len(header), delimiter), _counter=counter)


def _records(reader, encoding: str) -> Iterator[tuple[int, list[str]]]:
    last_line = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:  # bytes surrogateescape cannot carry (codec-specific)
            raise SourceError(_undecodable(encoding, exc.object[exc.start]), line=last_line + 1) from None
        except csv.Error as exc:
            raise SourceError(f"malformed CSV: {exc}", line=last_line + 1) from None
        start = last_line + 1
        last_line = reader.line_num
        if not fields:
            continue  # a blank line is not a record
        yield start, fields


def _decoded_lines(text: io.TextIOWrapper, encoding: str) -> Iterator[str]:
    search = _UNDECODED.search
    for line_number, line in enumerate(text, start=1):
        bad = search(line)
        if bad:
            raise SourceError(_undecodable(encoding, ord(bad.group()) - 0xDC00), line=line_number)
        yield line


def _undecodable(encoding: str, byte: int) -> str:
    return f"the file is not valid {encoding.replace('-sig', '')}: byte 0x{byte:02x} cannot be decoded"


def _checked(records, width: int, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    for line, fields in records:
        if len(fields) != width:
            raise SourceError(
                f"expected {width} fields as in the header, found {len(fields)}",
                line=line,
                value=delimiter.join(fields),
            )
        yield line, fields
