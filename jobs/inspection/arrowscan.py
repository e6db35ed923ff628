"""The full pass's fast reader: Arrow's C++ CSV parser, with lines and offsets from a byte scan.

records.iter_rows reads any file the inspection describes, in Python, at about 2.4 µs a row.
For a UTF-8 file with standard quoting, this module reads the same records with pyarrow (a
block of CSV at a time, on every core) and finds where each record starts, and on which line,
with numpy over the bytes: the line breaks outside quotes. Both readers must yield the same
records, so the scan also checks that the file has nothing on which they could differ, and
raises NotFast at the first doubt; the caller then reads the whole file with records.iter_rows,
which names the problem and its line:

- a NUL byte, or bytes that are not UTF-8 (Arrow refuses those; ASCII files must be ASCII);
- a quote that neither opens a field (after a delimiter or a line break) nor closes one (before a
  delimiter, a line break or the end), such as `5" screen` or `"a"b`: Python's csv reads those in
  its own way, character by character;
- a quote left open at the end of the file;
- a record with too few or too many fields (Arrow stops; the Python reader reports each one);
- a record longer than the csv module's field limit;
- a block where Arrow and the scan count a different number of records.

Blank lines are no records for either. Lines are physical lines as records.iter_rows counts them:
each \\n, \\r\\n or lone \\r ends one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from jobs.arrowpool import choose_memory_pool
from jobs.inspection.records import DEFAULT_FIELD_SIZE_LIMIT

choose_memory_pool()  # jemalloc: see jobs.arrowpool

CHUNK_BYTES = 6 * 1024 * 1024  # bytes read, parsed and profiled at a time (8 MiB: a little slower, 40 MB more)
MIN_CHUNK_BYTES = 1 << 20  # ...for files under 32 times this size: chunks of 1/32 of the file
PARSE_BLOCK_BYTES = 1 << 20  # Arrow parses a chunk in blocks of this size
# Arrow parses on the prefetching thread alone: as fast on two cores (the other one profiles),
# and every thread that allocates keeps 20 MB or so of its own (mimalloc's per-thread heaps).
PARSE_THREADS = False
_LF, _CR = 10, 13


_SLICE = 1 << 20  # bytes compared at a time: small temporaries


def _positions(a: np.ndarray, values: tuple[int, ...]) -> np.ndarray:
    """Where a holds any of these byte values, in order."""
    found = []
    for start in range(0, len(a), _SLICE):
        part = a[start : start + _SLICE]
        mask = part == values[0]
        for value in values[1:]:
            mask |= part == value
        found.append(np.flatnonzero(mask) + start)
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def _read_into(stream: BinaryIO, buffer: bytearray, start: int) -> int:
    """Fill buffer[start:] from the stream (fewer bytes only at its end); the bytes read."""
    view = memoryview(buffer)
    try:
        readinto = getattr(stream, "readinto", None)
        done = start
        while done < len(buffer):
            if readinto is not None:
                count = readinto(view[done:]) or 0
            else:  # a storage file without readinto
                part = stream.read(len(buffer) - done)
                count = len(part)
                view[done : done + count] = part
            if not count:
                break
            done += count
        return done - start
    finally:
        view.release()


class NotFast(Exception):
    """The file (or this part of it) needs the Python reader; the message says why."""


def eligible(inspection: dict) -> str | None:
    """Why this file is read by the Python reader (one sentence), or None when Arrow can read it."""
    dialect = inspection.get("dialect", {})
    if inspection.get("encoding", {}).get("codec") not in ("utf-8", "ascii"):
        return "the file is not UTF-8"
    delimiter, quotechar = dialect.get("delimiter", ""), dialect.get("quotechar", "")
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter in "\r\n":
        return "the delimiter is not one ASCII character"
    if len(quotechar) > 1 or not quotechar.isascii() or (quotechar and quotechar in "\r\n" + delimiter):
        return "the quote character is not one ASCII character"
    if quotechar and not dialect.get("doublequote", True):
        return "quotes are not doubled inside quoted fields"
    if dialect.get("escapechar"):
        return "the file uses an escape character"
    if dialect.get("skipinitialspace"):
        return "spaces after a delimiter are skipped"
    if dialect.get("sep_line"):
        return 'the file starts with a "sep=" line'
    return None


@dataclass
class Block:
    """Consecutive data records: their fields (one string column per column), lines and byte offsets."""

    columns: list[pa.ChunkedArray]  # as parsed: one chunk per parse block
    lines: np.ndarray  # line each record starts on
    offsets: np.ndarray  # byte offset where each record starts
    end: int  # byte offset just past the block


def iter_blocks(stream: BinaryIO, *, inspection: dict, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Block]:
    """The data records of the file the inspection describes, a block at a time; raises NotFast.

    The first record is skipped when the inspection found a header.
    """
    why = eligible(inspection)
    if why:
        raise NotFast(why)
    dialect = inspection["dialect"]
    width = len(inspection["columns"])
    names = [f"c{i}" for i in range(width)]
    quote = dialect["quotechar"]
    parse = pacsv.ParseOptions(
        delimiter=dialect["delimiter"],
        quote_char=quote or False,
        double_quote=True,
        escape_char=False,
        newlines_in_values=bool(quote),
        ignore_empty_lines=True,
    )
    read = pacsv.ReadOptions(column_names=names, use_threads=PARSE_THREADS, block_size=PARSE_BLOCK_BYTES)
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    scanner = _Scanner(
        delimiter=ord(dialect["delimiter"]),
        quote=ord(quote) if quote else None,
        ascii_only=inspection["encoding"]["codec"] == "ascii",
    )
    skip_header = bool(inspection.get("header"))
    bom = inspection["encoding"]["bom_length"]
    stream.seek(bom)
    for region, position, starts, lines in scanner.records(stream, bom, chunk_bytes):
        if skip_header and len(starts):
            skip_header = False
            if len(starts) == 1:
                continue
            region = region[starts[1] - position :]
            starts, lines = starts[1:], lines[1:]
        if not len(starts):
            continue  # blank lines only
        try:
            table = pacsv.read_csv(
                pa.py_buffer(region), read_options=read, parse_options=parse, convert_options=convert
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise NotFast(f"Arrow could not read a block: {str(exc).splitlines()[0]}") from None
        if table.num_rows != len(starts):
            raise NotFast(f"Arrow read {table.num_rows} records where the scan found {len(starts)}")
        yield Block(
            columns=[table.column(i) for i in range(width)],
            lines=lines,
            offsets=starts,
            end=position + len(region),
        )


class _Scanner:
    """Record starts and lines, chunk by chunk, with the state a chunk leaves to the next."""

    def __init__(self, *, delimiter: int, quote: int | None, ascii_only: bool):
        self.delimiter = delimiter
        self.quote = quote
        self.ascii_only = ascii_only
        self.field_end = np.zeros(256, bool)  # what may follow a closing quote (and precede an opening one)
        self.field_end[[delimiter, _LF, _CR]] = True

    def records(self, stream: BinaryIO, position: int, chunk_bytes: int):
        """(bytes of whole records, their offset, the records' start offsets, their lines) per chunk.

        The bytes begin where the previous chunk's ended (blank lines included), so Arrow reads
        exactly the records whose starts are given.
        """
        line = 1
        carry = b""
        limit = max(chunk_bytes, DEFAULT_FIELD_SIZE_LIMIT + chunk_bytes)
        while True:
            data = bytearray(len(carry) + chunk_bytes)  # the carry, then the next chunk read after it
            data[: len(carry)] = carry
            read = _read_into(stream, data, len(carry))
            eof = not read
            del data[len(carry) + read :]
            if not data:
                return
            if data.find(b"\0") >= 0:
                raise NotFast("the file holds a NUL byte")
            if self.ascii_only and not data.isascii():
                raise NotFast("the file is not ASCII")
            cut, starts, lines, line_after = self._scan(data, eof, line)
            if cut is None:
                if eof:
                    raise NotFast("a quote is left open at the end of the file")
                if len(data) > limit:
                    raise NotFast("a record is longer than the csv module reads")
                carry = data
                continue
            yield memoryview(data)[:cut], position, starts + position, lines  # no copy: Arrow reads the buffer
            position += cut
            line = line_after
            carry = data[cut:]
            if eof and not carry:
                return

    def _scan(self, data: bytes, eof: bool, line: int):
        """(cut, record starts, record lines, line after the cut): the records wholly in data[:cut]."""
        a = np.frombuffer(data, np.uint8)
        size = len(a)
        has_cr = data.find(b"\r") >= 0
        wanted = (_LF, _CR) if has_cr else (_LF,)
        if self.quote is not None and data.find(bytes([self.quote])) >= 0:
            special = _positions(a, (*wanted, self.quote))  # one pass over the bytes for both
            quoting = a[special] == self.quote
            quotes, breaks = special[quoting], special[~quoting]
            # An odd count of quotes before a line break: it is inside a quoted field.
            inside = (np.cumsum(quoting, dtype=np.int64)[~quoting] & 1).astype(bool)
        else:
            breaks = _positions(a, wanted)
            quotes = np.zeros(0, np.int64)
            inside = np.zeros(len(breaks), bool)
        outside = breaks[~inside]
        # Cut after the last line break outside quotes (at the end of the file, after everything),
        # never between a \r and the \n the next chunk may start with.
        if eof:
            cut = size
            if len(quotes) % 2:
                return None, None, None, None
        else:
            if len(outside) and outside[-1] == size - 1 and a[-1] == _CR:
                outside = outside[:-1]
            if not len(outside):
                return None, None, None, None
            cut = int(outside[-1]) + 1
        quotes = quotes[quotes < cut]
        self._check_quotes(a, quotes, cut)
        kept = breaks < cut
        breaks, inside = breaks[kept], inside[kept]
        if has_cr:  # a \r followed by \n is one break, the \n's
            crlf = (a[breaks] == _CR) & (breaks + 1 < size) & (a[np.minimum(breaks + 1, size - 1)] == _LF)
            breaks, inside = breaks[~crlf], inside[~crlf]
        ends = breaks  # the last byte of each physical line
        line_starts = np.concatenate([[0], ends + 1])
        line_numbers = line + np.arange(len(line_starts))
        # A line starts inside a quoted field when the break before it is inside one (a break is
        # no quote, so as many quotes come before the break as before the line's first byte).
        quoted = np.concatenate([[False], inside])
        keep = line_starts < cut
        line_starts, line_numbers, quoted = line_starts[keep], line_numbers[keep], quoted[keep]
        # A record starts a line that is not blank and not inside a quoted field.
        first = a[np.minimum(line_starts, size - 1)]
        blank = (first == _LF) | (first == _CR)
        record = ~blank & ~quoted
        return cut, line_starts[record], line_numbers[record], line + len(ends)

    def _check_quotes(self, a: np.ndarray, quotes: np.ndarray, cut: int) -> None:
        """Every quote opens a field, closes one, or is one of a doubled pair inside one."""
        if not len(quotes):
            return
        opening = quotes[0::2]
        closing = quotes[1::2]
        before = a[np.maximum(opening - 1, 0)]
        opens_field = self.field_end[before] | (opening == 0)  # a chunk starts the file or follows a line break
        # ...or it reopens right after a closing quote: the second quote of a doubled one.
        opens_field[1:] |= opening[1:] == closing[: len(opening) - 1] + 1
        after = a[np.minimum(closing + 1, len(a) - 1)]
        closes_field = self.field_end[after] | (closing + 1 >= cut)
        closes_field[: len(opening) - 1] |= closing[: len(opening) - 1] + 1 == opening[1:]
        if not opens_field.all() or not closes_field.all():
            raise NotFast("a quote neither opens nor closes a field")
