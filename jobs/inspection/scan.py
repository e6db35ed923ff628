"""Inspection passes over one file.

- `inspect_sample`: encoding, dialect, header, column names, types and statistics from the
  first MiB, and the first preview page. Fast on any file size: it is what the user sees first.
- `confirm`: one streaming pass over the whole file: types confirmed on every value, exact
  row count, statistics, conflicts and malformed rows with their lines, and the sparse row
  index that lets the preview jump to any page. Run by the worker for large files.

Both return JSON-ready dicts; both take user overrides (`InspectOptions`).
"""

from __future__ import annotations

import codecs
import dataclasses
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa

from jobs.coltypes import ConversionError, parse_type
from jobs.errors import SourceError
from jobs.inspection import arrowscan
from jobs.inspection.dialect import detect_dialect
from jobs.inspection.encoding import detect_encoding
from jobs.inspection.header import detect_header, normalize_names
from jobs.inspection.profile import DEFAULT_NULL_MARKERS, ColumnProfiler
from jobs.inspection.records import UNCLOSED_QUOTE, RowIndex, iter_records, iter_rows
from jobs.inspection.results import ColumnProfile, DialectGuess, EncodingGuess
from jobs.prefetch import prefetched

logger = logging.getLogger(__name__)

SAMPLE_BYTES = 1024 * 1024
SAMPLE_RECORDS = 2_000
PREVIEW_ROWS = 50
BATCH_ROWS = 5_000
PROFILING_THREADS = 2  # columns profiled at once in a full pass read by Arrow
BLOCKS_IN_FLIGHT = 2  # blocks being profiled at once: one column may lag the others by a block
BLOCKS_AHEAD = 2  # blocks read and parsed ahead of the profiling
MAX_PROBLEMS = 20
# Kept in a stored inspection while its full pass is queued or running, by whoever watches the
# pass (jobs.tasks' stalled-scan reaper); about that pass only, so not part of its result.
SCAN_WATCH = "scan_watch"
PASS_KEYS = (SCAN_WATCH,)
# Longest first: the UTF-32 LE BOM starts with the UTF-16 LE one.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass
class InspectOptions:
    """What the user overrode. Empty / None means "detect it"."""

    encoding: str = ""
    delimiter: str = ""
    quotechar: str | None = None
    escapechar: str | None = None
    skipinitialspace: bool | None = None  # skip spaces after a delimiter (`1, "Smith, John"`)
    header: bool | None = None
    null_markers: list[str] | None = None
    column_types: dict[str, str] = field(default_factory=dict)  # column name -> destination type

    @classmethod
    def from_json(cls, data: dict | None) -> InspectOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in (data or {}).items() if key in known})

    def to_json(self) -> dict:
        """Only what the user set. An empty quotechar/escapechar ("none") or an empty list of
        null markers ("no markers at all") is a choice and is kept; "" encoding/delimiter means detect."""
        kept = {}
        for key, value in asdict(self).items():
            if (
                value is None
                or (key in ("encoding", "delimiter") and value == "")
                or (key == "column_types" and not value)
            ):
                continue
            kept[key] = value
        return kept


def _encoding(sample: bytes, options: InspectOptions) -> EncodingGuess:
    if not options.encoding:
        return detect_encoding(sample)
    name = codecs.lookup(options.encoding).name  # raises LookupError for an unknown codec
    # Named as detection names them: "latin-1", and "utf-8-sig" only for a file with a BOM.
    name = {"iso8859-1": "latin-1", "utf-8-sig": "utf-8"}.get(name, name)
    chosen = f"{options.encoding} (your choice)"
    family = name.removesuffix("-le").removesuffix("-be")
    if family in ("utf-8", "utf-16", "utf-32"):
        for bom, encoding in BOMS:
            # The BOM of the chosen Unicode encoding says its byte order, and is skipped.
            if sample.startswith(bom) and encoding.startswith(family):
                return EncodingGuess(encoding, 1.0, True, len(bom), f"{chosen}; the file has a byte order mark")
    if name in ("utf-16", "utf-32"):
        # No BOM says the byte order: the one the NUL bytes show, else little-endian (what Windows writes).
        detected = detect_encoding(sample).encoding
        name = detected if detected.startswith(f"{name}-") else f"{name}-le"
        return EncodingGuess(name, 1.0, False, 0, f"{chosen}, read as {name}: the file has no byte order mark")
    return EncodingGuess(name, 1.0, False, 0, chosen)


def reading_codec(guess: EncodingGuess) -> str:
    """The codec that decodes the bytes after the BOM."""
    return "utf-8" if guess.encoding == "utf-8-sig" else guess.encoding


def _dialect(text: str, options: InspectOptions) -> DialectGuess:
    guess = detect_dialect(text)
    changes: dict[str, Any] = {}
    if options.delimiter:
        changes["delimiter"] = "\t" if options.delimiter in ("\\t", "tab") else options.delimiter
    if options.quotechar is not None:
        changes["quotechar"] = options.quotechar
    if options.escapechar is not None:
        changes["escapechar"] = options.escapechar
    if options.skipinitialspace is not None:
        changes["skipinitialspace"] = options.skipinitialspace
    if changes:
        guess = dataclasses.replace(guess, **changes, evidence=guess.evidence + " Overridden by you.")
    return guess


def reader_options(inspection: dict) -> dict:
    """Keyword arguments for records.iter_records / read_page from a stored inspection.

    Inspections stored before a dialect key existed read as they always did: no spaces
    skipped, no "sep=" line.
    """
    dialect = inspection["dialect"]
    return {
        "encoding": inspection["encoding"]["codec"],
        "bom_length": inspection["encoding"]["bom_length"],
        "delimiter": dialect["delimiter"],
        "quotechar": dialect["quotechar"],
        "doublequote": dialect["doublequote"],
        "escapechar": dialect["escapechar"],
        "skipinitialspace": dialect.get("skipinitialspace", False),
        "sep_line": dialect.get("sep_line", False),
    }


class _OverrideChecker:
    """For a column whose type the user chose: the values that type will reject, with their lines."""

    def __init__(self, type_sql: str, null_markers: set[str], limit: int = 5):
        self.convert = parse_type(type_sql).converter()
        self.null_markers = null_markers
        self.limit = limit
        self.conflicts: list[dict] = []
        self.count = 0

    def add(self, value: str, line: int) -> None:
        if value in self.null_markers:
            return
        try:
            self.convert(value)
        except ConversionError as exc:
            self.count += 1
            if len(self.conflicts) < self.limit:
                self.conflicts.append({"line": line, "value": value[:200], "reason": str(exc)})


_profiled = threading.local()
RELEASE_EVERY = 5  # columns a profiling thread profiles between two hand-backs of freed memory


def _profile_and_release(profiler: ColumnProfiler, values, lines: np.ndarray) -> None:
    profiler.add_array(values, lines)
    # Arrow's allocator may keep what a thread freed for that thread (mimalloc does, when chosen
    # with ARROW_DEFAULT_MEMORY_POOL): hand it back now and then, or every profiling thread
    # holds tens of MB (each release costs a few milliseconds).
    _profiled.count = getattr(_profiled, "count", 0) + 1
    if _profiled.count % RELEASE_EVERY == 0:
        pa.default_memory_pool().release_unused()


class _Profiled:
    """One block's columns being profiled on the pool: wait() returns once every one is done."""

    def __init__(self, columns: int):
        self._left = columns
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._error: BaseException | None = None
        if not columns:
            self._done.set()

    def column_done(self, error: BaseException | None) -> None:
        with self._lock:
            self._error = self._error or error
            self._left -= 1
            if not self._left:
                self._done.set()

    def wait(self) -> None:
        self._done.wait()
        if self._error is not None:
            raise self._error


class _PassEnded(Exception):
    """What the blocks left when a pass ended early are counted off with."""


class _Lanes:
    """Each column's blocks profiled in file order, columns independently of each other.

    A column's profiler takes its blocks one after the other; nothing waits for the slowest
    column of a block before another column starts on the next block, so no pool thread idles
    at the end of a block (an id column costs as much as five others together).

    A context: leaving it waits for the blocks being profiled; leaving it on an exception (a
    cancel, a bad block) skips the blocks not started yet.
    """

    def __init__(self, profilers: list[ColumnProfiler], threads: int):
        self.profilers = profilers
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="profile")
        self._lock = threading.Lock()
        self._queues: list[list] = [[] for _ in profilers]
        self._busy = [False] * len(profilers)
        self.error: BaseException | None = None  # the first error: blocks not started are skipped

    def __enter__(self) -> _Lanes:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if error is not None and self.error is None:
            self.error = _PassEnded()  # not the error itself: its traceback holds this pass
        self.pool.shutdown(wait=True)

    def submit(self, arrays: list, lines: np.ndarray) -> _Profiled:
        profiled = _Profiled(len(arrays))
        for index, values in enumerate(arrays):
            with self._lock:
                self._queues[index].append((values, lines, profiled))
                start = not self._busy[index]
                self._busy[index] = True
            if start:
                self.pool.submit(self._drain, index)
        return profiled

    def _drain(self, index: int) -> None:
        while True:
            with self._lock:
                if not self._queues[index]:
                    self._busy[index] = False
                    return
                values, lines, profiled = self._queues[index].pop(0)
            error = self.error
            if error is None:  # after an error, blocks are only counted off: the pass is over
                try:
                    _profile_and_release(self.profilers[index], values, lines)
                except BaseException as exc:  # handed to whoever waits for the block
                    error = self.error = exc
            del values
            profiled.column_done(error)


class _Columns:
    """Profiles (and override checks) for every column, fed record by record."""

    def __init__(self, names: list[str], options: InspectOptions):
        markers = tuple(options.null_markers) if options.null_markers is not None else DEFAULT_NULL_MARKERS
        self.null_markers = markers
        self.profilers = [ColumnProfiler(null_markers=markers) for _ in names]
        self.names = names
        self.checkers: dict[int, _OverrideChecker] = {}
        for index, name in enumerate(names):
            if name in options.column_types:
                self.checkers[index] = _OverrideChecker(options.column_types[name], set(markers))
        self.options = options

    def add(self, line: int, fields: list[str]) -> None:
        for index, value in enumerate(fields[: len(self.profilers)]):
            self.profilers[index].add(value, line)
            checker = self.checkers.get(index)
            if checker:
                checker.add(value, line)

    def add_batch(self, lines: list[int], rows: list[list[str]]) -> None:
        """Many rows of exactly the column count, profiled column by column (a full pass's hot loop)."""
        if not rows:
            return
        for index, values in enumerate(zip(*rows, strict=True)):
            self.profilers[index].add_many(values, lines)
            checker = self.checkers.get(index)
            if checker:
                for value, line in zip(values, lines, strict=True):
                    checker.add(value, line)

    def add_arrays(self, lines: np.ndarray, arrays: list, lanes: _Lanes | None = None) -> _Profiled | None:
        """Many rows of exactly the column count, as one Arrow string array per column. With lanes,
        the columns are profiled on the pool's threads: wait on what this returns before relying
        on the profiles (each column has its own profiler)."""
        if len(arrays) != len(self.profilers):
            raise ValueError(f"{len(arrays)} arrays for {len(self.profilers)} columns")
        profiled = None
        if lanes is None:
            for profiler, values in zip(self.profilers, arrays, strict=True):
                profiler.add_array(values, lines)
        else:
            profiled = lanes.submit(arrays, lines)
        for index, values in enumerate(arrays):
            checker = self.checkers.get(index)
            if checker:
                for value, line in zip(values.to_pylist(), lines.tolist(), strict=True):
                    checker.add(value, line)
        return profiled

    def describe(self, originals: list[str]) -> list[dict]:
        columns = []
        for index, (name, original, profiler) in enumerate(zip(self.names, originals, self.profilers, strict=True)):
            profile: ColumnProfile = profiler.result()
            column = {
                "position": index + 1,
                "name": name,
                "original_name": original,
                "inferred_type": profile.type_sql,
                "type": profile.type_sql,
                "overridden": False,
                "format": profile.format,
                "nullable": profile.nullable,
                "rows": profile.rows,
                "null_count": profile.null_count,
                "null_percent": round(profile.null_percent, 2),
                "distinct_estimate": profile.distinct_estimate,
                "min": profile.min,
                "max": profile.max,
                "max_length": profile.max_length,
                "top_values": [{"value": value, "count": count} for value, count in profile.top_values],
                "conflicts": [{"line": c.line, "value": c.value} for c in profile.conflicts],
                "conflict_count": profile.conflict_count,
            }
            if profile.true_words or profile.false_words:
                column["true_words"], column["false_words"] = list(profile.true_words), list(profile.false_words)
            checker = self.checkers.get(index)
            if checker:
                column.update(
                    type=parse_type(self.options.column_types[name]).sql,
                    overridden=True,
                    conflicts=checker.conflicts,
                    conflict_count=checker.count,
                )
            columns.append(column)
        return columns


HEADER_ONLY = "the file has a header but no data rows"


def _ragged(width: int, found: int) -> str:
    return f"expected {width} field{'s' if width != 1 else ''} as in the first row, found {found}"


class _Problems:
    def __init__(self):
        self.items: list[dict] = []
        self.ragged = 0

    def add(self, line: int | None, reason: str, severity: str = "warning") -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append({"line": line, "reason": reason, "severity": severity})

    def fatal(self, error: SourceError, dialect: dict, options: InspectOptions) -> None:
        self.add(error.line, error.reason, "error")
        if (
            error.reason.startswith(UNCLOSED_QUOTE)
            and options.quotechar is None
            and dialect.get("quotechar")
            and dialect.get("quoted_fields") == 0
        ):
            # Quoting was assumed, not seen: the quote may be a value's first character
            # (an inch mark, a quotation) in a file that never quotes.
            self.add(
                error.line,
                f"no field at the start of the file is quoted, so this {dialect['quotechar']} may be part of a "
                'value: if so, choose no quote character ({"quotechar": ""}) and inspect again',
                "error",
            )


def _layout(records: list, options: InspectOptions) -> tuple[bool, list[str], list[str]]:
    rows = [record.fields for record in records[:50]]
    # A single row is judged too: distinct words are the header of a file without data rows.
    header = options.header if options.header is not None else detect_header(rows)
    width = len(records[0].fields)
    originals = list(records[0].fields) if header else [f"column_{i}" for i in range(1, width + 1)]
    return header, originals, normalize_names(originals)


def inspect_sample(stream: BinaryIO, *, size: int, options: InspectOptions | None = None) -> dict:
    """What is in the file, from its first MiB. Never raises for a bad file: problems are reported."""
    options = options or InspectOptions()
    stream.seek(0)
    sample = stream.read(SAMPLE_BYTES)
    complete = len(sample) >= size
    result: dict[str, Any] = {"size": size, "complete": complete, "null_markers": None, "problems": []}
    if not sample:
        result["problems"] = [{"line": 1, "reason": "the file is empty", "severity": "error"}]
        result["loadable"] = False
        return result
    encoding = _encoding(sample, options)
    codec = reading_codec(encoding)
    text = sample[encoding.bom_length :].decode(codec, errors="replace")
    if not complete:  # the sample ends mid-line: keep whole lines only
        cut = max(text.rfind("\n"), text.rfind("\r"))
        text = text[: cut + 1] if cut > 0 else text
    dialect = _dialect(text, options)
    result["encoding"] = {**asdict(encoding), "codec": codec}
    result["dialect"] = asdict(dialect)
    problems = _Problems()
    records = []
    stream.seek(0)
    stopped_early = False  # more records follow than the sample holds
    following = None  # the first record not kept: where the sampled bytes end
    try:
        for record in iter_records(stream, **reader_options(result)):
            if len(records) > SAMPLE_RECORDS:
                stopped_early, following = True, record
                break
            records.append(record)
    except SourceError as exc:
        problems.fatal(exc, result["dialect"], options)
    if not records:
        if not problems.items and dialect.sep_line:
            problems.add(1, 'the file has no rows after its "sep=" line', "error")
        elif not problems.items:
            problems.add(1, "the file has no rows, only blank lines", "error")
        result.update(problems=problems.items, loadable=False)
        return result
    header, originals, names = _layout(records, options)
    data = records[1:] if header else records
    columns = _Columns(names, options)
    width = len(names)
    for record in data[:SAMPLE_RECORDS]:
        if len(record.fields) != width:
            problems.ragged += 1
            problems.add(record.line, _ragged(width, len(record.fields)))
        columns.add(record.line, record.fields)
    if header and not data and not problems.items:  # after an error the data rows were not read, not missing
        problems.add(records[0].line, HEADER_ONLY)
    result.update(
        header=header,
        null_markers=list(columns.null_markers),
        columns=columns.describe(originals),
        sampled_rows=min(len(data), SAMPLE_RECORDS),
        confirmed=complete
        and not stopped_early
        and len(data) <= SAMPLE_RECORDS
        and not any(p["severity"] == "error" for p in problems.items),
        preview={"first_row": 0, "rows": [{"line": r.line, "fields": r.fields} for r in data[:PREVIEW_ROWS]]},
        problems=problems.items,
        loadable=not any(p["severity"] == "error" for p in problems.items),
    )
    if result["confirmed"]:
        result["row_count"] = len(data)
    if data:
        # The bytes the sampled data rows take, for an estimate of the file's rows (size / average row).
        sampled = data[: result["sampled_rows"]]
        after = data[len(sampled)] if len(data) > len(sampled) else following
        end = after.offset if after is not None else size
        result["data_offset"] = sampled[0].offset
        result["sampled_bytes"] = max(end - sampled[0].offset, 1)
    return result


def confirm(
    stream: BinaryIO,
    *,
    inspection: dict,
    options: InspectOptions | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    progress_every: int = 50_000,
    fast: bool = True,
) -> tuple[dict, dict]:
    """Read the whole file once: returns (the confirmed inspection, the row index as JSON).

    A UTF-8 file with standard quoting is read by Arrow (jobs.inspection.arrowscan); at the
    first thing Arrow and the Python reader could read differently, or with fast=False, the
    file is read by the Python reader, which says what is wrong and where.
    """
    options = options or InspectOptions()
    if "columns" not in inspection:
        return inspection, RowIndex().to_json()
    if fast and arrowscan.eligible(inspection) is None:
        try:
            return confirm_with_arrow(
                stream, inspection=inspection, options=options, on_progress=on_progress, progress_every=progress_every
            )
        except arrowscan.NotFast as exc:
            logger.info("full pass with the Python reader: %s", exc)
    return _confirm_with_python(stream, inspection, options, on_progress, progress_every)


def confirm_with_arrow(
    stream: BinaryIO,
    *,
    inspection: dict,
    options: InspectOptions,
    on_progress: Callable[[int, int], None] | None = None,
    progress_every: int = 50_000,
    chunk_bytes: int | None = None,
) -> tuple[dict, dict]:
    """confirm() through Arrow's reader, or arrowscan.NotFast.

    Chunks grow with the file up to arrowscan.CHUNK_BYTES: a small file needs no big working set.
    """
    if chunk_bytes is None:
        chunk_bytes = min(arrowscan.CHUNK_BYTES, max(arrowscan.MIN_CHUNK_BYTES, inspection.get("size", 0) // 32))
    columns = _Columns([column["name"] for column in inspection["columns"]], options)
    index = RowIndex()
    rows = 0
    # Columns are profiled two at a time (Arrow and numpy release the GIL), each at its own pace
    # over the last BLOCKS_IN_FLIGHT blocks, while the next ones are read and parsed on the
    # prefetching thread: both cores stay busy.
    with (
        _Lanes(columns.profilers, PROFILING_THREADS) as lanes,
        prefetched(
            arrowscan.iter_blocks(stream, inspection=inspection, chunk_bytes=chunk_bytes), BLOCKS_AHEAD
        ) as blocks,
    ):
        in_flight: deque[_Profiled] = deque()
        for block in blocks:
            count = len(block.lines)
            numbers = np.arange(rows, rows + count)
            for at in np.flatnonzero(numbers % index.every == 0).tolist():  # the index thins itself as it grows
                index.add(rows + at, int(block.lines[at]), int(block.offsets[at]))
            in_flight.append(columns.add_arrays(block.lines, block.columns, lanes=lanes))
            end = block.end
            del block
            if len(in_flight) > BLOCKS_IN_FLIGHT:
                in_flight.popleft().wait()
                pa.default_memory_pool().release_unused()  # hand freed blocks back: a flat RSS
            rows += count
            if on_progress and rows // progress_every > (rows - count) // progress_every:
                on_progress(rows, end)
        while in_flight:
            in_flight.popleft().wait()
    if not rows:
        raise arrowscan.NotFast("the file has no data rows")
    return _confirmed(inspection, columns, _Problems(), rows, index)


def _confirm_with_python(
    stream: BinaryIO,
    inspection: dict,
    options: InspectOptions,
    on_progress: Callable[[int, int], None] | None,
    progress_every: int,
) -> tuple[dict, dict]:
    columns = _Columns([column["name"] for column in inspection["columns"]], options)
    problems = _Problems()
    index = RowIndex()
    width = len(columns.names)
    header = inspection["header"]
    header_line = None
    rows = 0
    batch_lines: list[int] = []
    batch_rows: list[list[str]] = []
    stream.seek(0)
    try:
        # iter_rows: plain tuples, no Record objects, on this pass over every row. Rows are
        # profiled in batches, column by column; a row of the wrong width on its own.
        for number, (line, offset, fields) in enumerate(iter_rows(stream, **reader_options(inspection))):
            if header and number == 0:
                header_line = line
                continue
            index.add(rows, line, offset)  # numbered like preview rows: data rows from 0
            rows += 1
            if len(fields) == width:
                batch_lines.append(line)
                batch_rows.append(fields)
                if len(batch_rows) >= BATCH_ROWS:
                    columns.add_batch(batch_lines, batch_rows)
                    batch_lines, batch_rows = [], []
            else:
                columns.add_batch(batch_lines, batch_rows)  # in file order
                batch_lines, batch_rows = [], []
                problems.ragged += 1
                problems.add(line, _ragged(width, len(fields)))
                columns.add(line, fields)
            if on_progress and rows % progress_every == 0:
                on_progress(rows, offset)
    except SourceError as exc:
        problems.fatal(exc, inspection["dialect"], options)
        sample_was_clean = not inspection.get("complete") and not any(
            problem["severity"] == "error" for problem in inspection.get("problems", [])
        )
        if not options.encoding and sample_was_clean and "cannot be decoded as utf-8" in exc.reason:
            problems.add(
                exc.line,
                "the start of the file looked like UTF-8 but this line is not: the file may be in a "
                'single-byte encoding such as cp1252 or latin-1; choose it ({"encoding": "cp1252"}) and inspect again',
                "error",
            )
    columns.add_batch(batch_lines, batch_rows)
    if header_line is not None and not rows and not problems.items:
        problems.add(header_line, HEADER_ONLY)
    return _confirmed(inspection, columns, problems, rows, index)


def _confirmed(inspection: dict, columns: _Columns, problems: _Problems, rows: int, index: RowIndex):
    index.finish(rows)
    confirmed = {
        **{key: value for key, value in inspection.items() if key not in PASS_KEYS},
        "columns": columns.describe([column["original_name"] for column in inspection["columns"]]),
        "row_count": rows,
        "sampled_rows": rows,
        "ragged_rows": problems.ragged,
        "problems": problems.items,
        "confirmed": True,
        "loadable": not any(p["severity"] == "error" for p in problems.items),
    }
    if problems.ragged > len([p for p in problems.items if p["reason"].startswith("expected ")]):
        confirmed["problems"].append(
            {
                "line": None,
                "reason": f"{problems.ragged:,} rows in all have the wrong number of fields",
                "severity": "warning",
            }
        )
    return confirmed, index.to_json()


def describe_reading(inspection: dict) -> str:
    """One log line: how a load reads the file, so a surprise is visible in the run's log."""
    dialect = inspection["dialect"]
    delimiter = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(
        dialect["delimiter"], dialect["delimiter"]
    )
    how = f"{delimiter}-delimited"
    if dialect.get("sep_line"):
        how += ' (as the first line, "sep=", says; that line is skipped)'
    if dialect.get("skipinitialspace"):
        how += ", spaces after a delimiter skipped"
    markers = ", ".join(repr(marker) for marker in inspection["null_markers"])
    return (
        f"Reading as {inspection['encoding']['encoding']}, {how}, "
        f"{'with a header row' if inspection['header'] else 'without a header row'}; null markers: {markers}"
    )
