"""The load's view of a source file: column names and a stream of (line, fields) records.

Reading itself (encodings, dialects, byte offsets, malformed input) is
jobs.inspection.records; what to read with (encoding, delimiter, header, null markers)
comes from the upload's inspection, so a load reads the file exactly as the user saw it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from jobs.errors import SourceError
from jobs.inspection.records import iter_rows


@dataclass
class CsvSource:
    header: list[str]  # the names mappings refer to: the file's header row, or column_1..n
    records: Iterator[tuple[int, list[str]]]
    aliases: list[str] = field(default_factory=list)  # normalised names, accepted as well
    null_markers: tuple[str, ...] = ("",)
    _offset: list[int] = field(default_factory=lambda: [0])
    _on_ragged: list = field(default_factory=lambda: [None])

    def on_ragged(self, handler) -> None:
        """Call handler(SourceError) for a record with the wrong number of fields, instead of raising."""
        self._on_ragged[0] = handler

    @property
    def bytes_read(self) -> int:
        """How far into the file the records handed out so far reach (for progress)."""
        return self._offset[0]


def open_source(
    stream: BinaryIO,
    *,
    reader_options: dict,
    header: bool = True,
    names: list[str] | None = None,
    aliases: list[str] | None = None,
    null_markers: tuple[str, ...] | list[str] = ("",),
) -> CsvSource:
    """Start reading: the header row (when there is one) becomes the column names.

    Raises SourceError for an empty file; the records raise it, with the line, for a
    malformed record or one with a different number of fields than the header.
    """
    rows = iter_rows(stream, **reader_options)
    offset = [0]
    on_ragged = [None]
    if header:
        first = next(rows, None)
        if first is None:
            raise SourceError("the file is empty", line=1)
        names = first[2]
    elif not names:
        first = next(rows, None)
        if first is None:
            raise SourceError("the file is empty", line=1)
        names = [f"column_{i}" for i in range(1, len(first[2]) + 1)]
        rows = _chain_first(first, rows)
    return CsvSource(
        header=list(names),
        records=_checked(rows, len(names), reader_options.get("delimiter", ","), offset, on_ragged),
        aliases=list(aliases or []),
        null_markers=tuple(null_markers),
        _offset=offset,
        _on_ragged=on_ragged,
    )


def open_csv(stream: BinaryIO, *, encoding: str = "utf-8", delimiter: str = ",") -> CsvSource:
    """A CSV with a header row in a known encoding (a UTF-8 BOM is recognised and skipped)."""
    codec = "utf-8" if encoding.lower().replace("_", "-") in {"utf-8", "utf8", "utf-8-sig"} else encoding
    bom_length = 0
    if codec == "utf-8" and stream.seekable():
        bom_length = 3 if stream.read(3) == b"\xef\xbb\xbf" else 0
        stream.seek(0)
    return open_source(stream, reader_options={"encoding": codec, "delimiter": delimiter, "bom_length": bom_length})


def _chain_first(first, rows):
    yield first
    yield from rows


def _checked(rows, width: int, delimiter: str, offset: list[int], on_ragged: list) -> Iterator[tuple[int, list[str]]]:
    for line, position, fields in rows:
        offset[0] = position
        if len(fields) != width:
            error = SourceError(
                f"expected {width} fields as in the header, found {len(fields)}",
                line=line,
                value=delimiter.join(fields),
            )
            if on_ragged[0] is None:
                raise error
            on_ragged[0](error)  # the load rejects the row (error budget) and reading goes on
            continue
        yield line, fields
