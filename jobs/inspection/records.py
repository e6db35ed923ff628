"""Stream CSV records with the physical line and byte offset each one starts at; page through them.

The file is read in chunks of CHUNK_SIZE bytes, cut at the last line break, split into
physical lines here (so the byte offset of every line is known), decoded, and fed to one
csv.reader. The reader's line_num says how many lines a record took, hence the line and
offset it started at. Per-line work is done by C loops over whole chunks (decode,
str.splitlines and itertools.accumulate over line lengths for an ASCII chunk; also
bytes.splitlines otherwise); Python code runs once per chunk and once per record.

A Record's offset is where reading can resume: iter_records(start_offset=record.offset,
start_line=record.line) yields that record and the rest. RowIndex keeps a sparse list of
such positions, built during a full pass, and read_page seeks to the nearest one.
"""

from __future__ import annotations

import codecs
import csv
import re
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator
from itertools import accumulate, chain, islice, starmap
from operator import methodcaller
from typing import Any, BinaryIO

from jobs.errors import SourceError
from jobs.inspection.results import Record

CHUNK_SIZE = 1024 * 1024
DEFAULT_FIELD_SIZE_LIMIT = 64 * 1024 * 1024  # the same as jobs.reader's, so both agree on the process-wide csv limit
UNCLOSED_QUOTE = "the file ends inside a quoted field: the quote opened in this record is never closed"

# One physical line of decoded text. str.splitlines also breaks at \v, \f, \x1c-\x1e, \x85,
# \u2028 and \u2029, which are data to a CSV; this is the slow path used when one of them occurs.
_TEXT_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")

# A chunk's lines: index of its first line (counted from where reading started) and the
# byte offsets of its lines followed by the offset just past its last line.
_Span = tuple[int, list[int]]
Row = tuple[int, int, list[str]]  # line, offset, fields: a Record's fields without building one


def iter_records(stream: BinaryIO, **options) -> Iterator[Record]:
    """Records of a CSV file, each with the line (1-based) and byte offset it starts at.

    Takes iter_rows' options. `encoding` is a codec without BOM handling ("utf-8",
    "utf-16-le", "cp1252", ...); the first bom_length bytes of the file are skipped. With
    start_offset (a Record's offset) reading starts there and lines are counted from
    start_line. Blank lines are not records. Raises SourceError, with the line, for bytes the
    encoding cannot decode, a NUL byte, a quote left open at the end of the file, a field
    longer than field_size_limit characters, and characters after a closing quote.
    """
    return starmap(Record, iter_rows(stream, **options))


def iter_rows(
    stream: BinaryIO,
    *,
    encoding: str,
    delimiter: str = ",",
    quotechar: str = '"',
    doublequote: bool = True,
    escapechar: str = "",
    skipinitialspace: bool = False,
    sep_line: bool = False,
    bom_length: int = 0,
    start_offset: int | None = None,
    start_line: int = 1,
    field_size_limit: int = DEFAULT_FIELD_SIZE_LIMIT,
) -> Iterator[Row]:
    """iter_records' records as (line, offset, fields) tuples, for passes over the whole file.

    Building the frozen Record dataclass costs about a microsecond a record, more than half
    the time it takes to read one; a full pass has no use for it.

    skipinitialspace: spaces after a delimiter are skipped (`1, "a, b"` is two fields).
    sep_line: the file starts with Excel's "sep=X" line, which is skipped when reading from
    the start; it still counts as line 1. (A start_offset is a record's, always past it.)
    """
    name = _codec_name(encoding)
    position = bom_length if start_offset is None else max(start_offset, bom_length)
    if stream.seekable():
        stream.seek(position)
    elif start_offset is None:
        stream.read(bom_length)  # a pipe or upload stream, read from its start
    else:
        raise ValueError("start_offset needs a seekable stream")
    spans: deque[_Span] = deque()
    if _ascii_compatible(name):
        chunks = _byte_lines(stream, name, position, spans, start_line)
    else:
        chunks = _text_lines(stream, name, position, spans, start_line)
    reader = csv.reader(
        chain.from_iterable(chunks),
        delimiter=delimiter,
        quotechar=quotechar or None,
        quoting=csv.QUOTE_MINIMAL if quotechar else csv.QUOTE_NONE,
        doublequote=doublequote,
        escapechar=escapechar or None,
        skipinitialspace=skipinitialspace,
        strict=True,
    )
    rows = _rows(reader, spans, start_line, field_size_limit, bool(escapechar))
    if sep_line and start_offset is None:
        # The "sep=X" line is one record of its own (it holds no quote), read and dropped
        # here so that every reader of the file, preview, full pass and load, skips it alike.
        return islice(rows, 1, None)
    return rows


def _codec_name(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    if name == "utf-8-sig":
        return "utf-8"  # the BOM is skipped by bom_length; offsets must not depend on the codec eating it
    if name in {"utf-16", "utf-32"}:
        raise ValueError(f"give the byte order: {name}-le or {name}-be (skip the BOM with bom_length)")
    return name


def _ascii_compatible(encoding: str) -> bool:
    """ASCII bytes decode to themselves, so \\n and \\r are single bytes found by bytes.splitlines."""
    try:
        return _ASCII.decode(encoding) == _ASCII.decode("ascii")
    except UnicodeDecodeError:
        return False


def _rows(reader, spans: deque[_Span], start_line: int, field_size_limit: int, escapes: bool) -> Iterator[Row]:
    first, offsets, end = 0, [0], 0  # the span holding the current record's first line
    done = 0  # lines consumed before the current record
    # csv's limit is process-wide (a C global read while parsing), so it is set while this
    # generator runs and put back when it ends. Every caller in this code base uses 64 MiB,
    # as jobs.reader does: then this changes nothing.
    previous = csv.field_size_limit(field_size_limit)
    try:
        for fields in reader:
            if fields:
                while done >= end:
                    first, offsets = spans.popleft()
                    end = first + len(offsets) - 1
                yield start_line + done, offsets[done - first], fields
            done = reader.line_num
    except csv.Error as exc:
        message = str(exc)
        if message.startswith("unexpected end of data"):
            reason = UNCLOSED_QUOTE
            if escapes:
                reason += " (or the file ends with an escape character)"
            raise SourceError(reason, line=start_line + done) from None
        if message.startswith("field larger than field limit"):
            reason = f"a field is longer than the limit of {field_size_limit:,} characters"
            raise SourceError(reason, line=start_line + done) from None
        if message.endswith(f"expected after '{reader.dialect.quotechar}'"):
            reason = (
                f"a closing quote is followed by other characters, not by the delimiter {reader.dialect.delimiter!r}"
            )
            raise SourceError(reason, line=start_line + reader.line_num - 1) from None
        raise SourceError(f"malformed CSV: {message}", line=start_line + reader.line_num - 1) from None
    finally:
        if previous != field_size_limit:
            csv.field_size_limit(previous)


def _undecodable(data: bytes, start: int, end: int, encoding: str) -> str:
    shown = " ".join(f"0x{byte:02x}" for byte in data[start:end][:4])
    return f"{'byte' if end - start == 1 else 'bytes'} {shown} cannot be decoded as {encoding}"


# str.splitlines breaks at these ASCII characters too; bytes.splitlines does not.
_ASCII_TEXT_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")
_NUL = "a NUL byte (0x00): the file may be binary, or UTF-16 without a byte order mark"
_NUL_CHARACTER = "a NUL character (U+0000): the file may be binary, or in another encoding"
_ASCII = bytes(range(128))


def _byte_lines(stream: BinaryIO, encoding: str, position: int, spans: deque[_Span], start_line: int):
    """Decoded physical lines, a chunk at a time, for encodings where \\n and \\r are single bytes.

    True of every ASCII-compatible encoding (UTF-8, cp1252, latin-1, ...): those bytes never
    occur inside a multi-byte character, so lines are cut on the bytes and decoded apart.
    """
    first = 0  # index of the chunk's first line, from where reading started
    pending: list[bytes] = []  # bytes read after the last line break
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if chunk:
            # Cut after the last line break, but never between \r and a \n the next chunk may start with.
            cut = max(chunk.rfind(b"\n"), chunk.rfind(b"\r", 0, len(chunk) - 1)) + 1
            if not cut:
                pending.append(chunk)
                continue
            if pending:
                pending.append(chunk[:cut])
                data = b"".join(pending)
            else:
                data = chunk[:cut]
            pending = [chunk[cut:]] if cut < len(chunk) else []
        elif pending:
            data = b"".join(pending)
            pending = []
        else:
            return
        if data.isascii() and data.find(b"\0") < 0 and not any(data.find(c) >= 0 for c in _ASCII_TEXT_BREAKS):
            # The common case: characters are bytes, and str.splitlines breaks where bytes.splitlines would.
            decoded = data.decode(encoding).splitlines(True)
            offsets = list(accumulate(map(len, decoded), initial=position))
        else:
            decoded, offsets, problem = _decode_lines(data, encoding, position)
            if problem:
                spans.append((first, offsets))
                yield decoded
                raise SourceError(problem, line=start_line + first + len(decoded))
        position = offsets[-1]
        spans.append((first, offsets))
        first += len(decoded)
        yield decoded
        if not chunk:
            return


def _decode_lines(data: bytes, encoding: str, position: int) -> tuple[list[str], list[int], str]:
    """Lines of data decoded, with their offsets; with a problem, only the lines before it, and the problem."""
    lines = data.splitlines(True)
    offsets = list(accumulate(map(len, lines), initial=position))
    bad_at, problem = len(data), ""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        bad_at, problem, text = exc.start, _undecodable(data, exc.start, exc.end, encoding), ""
    nul = data.find(b"\0", 0, bad_at)
    if nul >= 0:
        bad_at, problem = nul, _NUL
    if problem:
        bad_line = bisect_right(offsets, position + bad_at) - 1
        column = position + bad_at - offsets[bad_line] + 1
        decoded = [line.decode(encoding) for line in lines[:bad_line]]
        return decoded, offsets[: bad_line + 1], f"{problem} (byte {column} of the line)"
    decoded = text.splitlines(True)
    if len(decoded) != len(lines):  # the text holds a character str.splitlines breaks at, such as U+2028
        decoded = [line.decode(encoding) for line in lines]
    return decoded, offsets, ""


def _text_lines(stream: BinaryIO, encoding: str, position: int, spans: deque[_Span], start_line: int):
    """Decoded physical lines, a chunk at a time, for encodings with wider line breaks (UTF-16, UTF-32).

    The chunk is decoded first (an incremental decoder carries a character cut in two), split
    into lines as text, and each line's size in bytes is worked out from its characters.
    """
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    first = 0
    pending: list[str] = []  # text read after the last line break
    while True:
        chunk = stream.read(CHUNK_SIZE)
        final = not chunk
        buffered = decoder.getstate()[0]
        reason = ""
        try:
            new = decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            data = buffered + chunk
            new = data[: exc.start].decode(encoding)
            reason = _undecodable(data, exc.start, exc.end, encoding)
        pending.append(new)
        if not (final or reason or "\n" in new or "\r" in new):
            continue  # a line longer than a chunk: joined once its end is read
        text = "".join(pending)
        pending = []
        nul = text.find("\0")
        if nul >= 0:
            text, reason = text[:nul], _NUL_CHARACTER
        if reason:
            # The problem is at the end of text: lines before it are read, the one it is on is not.
            lines = _split_text(text)
            column = 1
            if lines and lines[-1][-1] not in "\r\n":
                column += len(lines.pop())
            reason += f" (character {column} of the line)"
        else:
            cut = len(text) if final else max(text.rfind("\n"), text.rfind("\r", 0, len(text) - 1)) + 1
            lines = _split_text(text[:cut])
            if cut < len(text):
                pending.append(text[cut:])
        offsets = _text_offsets(lines, text, encoding, position)
        position = offsets[-1]
        spans.append((first, offsets))
        first += len(lines)
        yield lines
        if reason:
            raise SourceError(reason, line=start_line + first)
        if final:
            return


def _split_text(text: str) -> list[str]:
    lines = text.splitlines(True)
    if len(lines) != text.count("\n") + text.count("\r") - text.count("\r\n") + (text[-1:] not in ("\n", "\r", "")):
        lines = _TEXT_LINE.findall(text)
    return lines


def _text_offsets(lines: list[str], text: str, encoding: str, position: int) -> list[int]:
    """Byte offsets of lines cut from text, and the offset after the last."""
    unit = 4 if encoding in {"utf-32-le", "utf-32-be"} else 2 if encoding in {"utf-16-le", "utf-16-be"} else 0
    # Every character is one unit unless UTF-16 text holds a surrogate pair (a character past U+FFFF).
    if unit == 4 or (unit == 2 and (text.isascii() or len(text.encode(encoding)) == 2 * len(text))):
        return list(accumulate(map(unit.__mul__, map(len, lines)), initial=position))
    return list(accumulate(map(len, map(methodcaller("encode", encoding), lines)), initial=position))


# -- sparse index and pages ---------------------------------------------------------------
class RowIndex:
    """Where every `every`-th data record starts (its line and byte offset), for paging.

    Record numbers count data records from 0 (the header is not one). Entry k is record
    k * every, so only lines and offsets are stored. Past max_entries the index halves
    itself and doubles `every`: a 100-million-record file still has a few thousand entries.
    """

    def __init__(self, every: int = 1000, max_entries: int = 4096):
        if every < 1 or max_entries < 2:
            raise ValueError("every must be at least 1 and max_entries at least 2")
        self.every = every
        self.max_entries = max_entries
        self.lines: list[int] = []
        self.offsets: list[int] = []
        self.record_count: int | None = None  # set by finish() after a full pass

    def add(self, record_number: int, line: int, offset: int) -> None:
        """Offer a record's position; kept if it is the next multiple of `every`. Offer them in order."""
        if record_number % self.every or record_number // self.every != len(self.lines):
            return
        self.lines.append(line)
        self.offsets.append(offset)
        if len(self.lines) > self.max_entries:
            self.every *= 2
            del self.lines[1::2]
            del self.offsets[1::2]

    def finish(self, record_count: int) -> None:
        """The full pass is over: the file holds record_count data records."""
        self.record_count = record_count

    def locate(self, record_number: int) -> tuple[int, int, int]:
        """(record number, line, offset) of the nearest indexed record at or before record_number."""
        if not self.lines:
            raise LookupError("the index is empty")
        k = min(max(record_number, 0) // self.every, len(self.lines) - 1)
        return k * self.every, self.lines[k], self.offsets[k]

    def to_json(self) -> dict[str, Any]:
        return {
            "every": self.every,
            "max_entries": self.max_entries,
            "count": self.record_count,
            "lines": self.lines,
            "offsets": self.offsets,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RowIndex:
        index = cls(every=data["every"], max_entries=data.get("max_entries", 4096))
        if len(data["lines"]) != len(data["offsets"]):
            raise ValueError("a row index needs as many lines as offsets")
        index.lines = list(data["lines"])
        index.offsets = list(data["offsets"])
        index.record_count = data.get("count")
        return index

    def __len__(self) -> int:
        return len(self.lines)


def build_index(stream: BinaryIO, *, header: bool = True, every: int = 1000, **reader_options) -> RowIndex:
    """A full pass over the file that only indexes it (the profiler's pass indexes as it goes)."""
    index = RowIndex(every=every)
    rows = iter_rows(stream, **reader_options)
    if header:
        next(rows, None)
    number = -1
    for number, (line, offset, _fields) in enumerate(rows):
        if not number % index.every:
            index.add(number, line, offset)
    index.finish(number + 1)
    return index


def read_page(
    stream: BinaryIO,
    *,
    index: RowIndex | None,
    first_record: int,
    count: int,
    header: bool = True,
    **reader_options,
) -> list[Record]:
    """Data records first_record .. first_record + count - 1 (0-based, after the header if there is one).

    Reads forward from the nearest indexed record at or before first_record, or from the
    start of the file without an index; past the end of the file the page is short or empty.
    reader_options are iter_records' (encoding, delimiter, bom_length, ...). A problem in the
    file (an unclosed quote, bytes that do not decode) raises SourceError.
    """
    records, problem = read_page_until_problem(
        stream, index=index, first_record=first_record, count=count, header=header, **reader_options
    )
    if problem is not None:
        raise problem
    return records


def read_page_until_problem(
    stream: BinaryIO,
    *,
    index: RowIndex | None,
    first_record: int,
    count: int,
    header: bool = True,
    **reader_options,
) -> tuple[list[Record], SourceError | None]:
    """read_page's records up to a problem in the file, and the problem (None when there was none)."""
    if first_record < 0 or count < 0:
        raise ValueError("first_record and count must not be negative")
    if count == 0 or (index is not None and index.record_count is not None and first_record >= index.record_count):
        return [], None
    page: list[Record] = []
    try:
        if index is not None and len(index):
            known, line, offset = index.locate(first_record)
            records = iter_records(stream, start_offset=offset, start_line=line, **reader_options)
        else:
            known = 0
            records = iter_records(stream, **reader_options)
            if header:
                next(records, None)
        skip = first_record - known
        page.extend(islice(records, skip, skip + count))
    except SourceError as exc:
        return page, exc
    return page, None
