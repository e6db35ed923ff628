"""The full pass through Arrow (jobs.inspection.arrowscan) gives exactly the Python reader's result.

Every corpus and fixture file, hand-made tricky files and generated tables are confirmed both
ways: through Arrow (confirm_with_arrow) and through records.iter_rows (confirm(fast=False)).
Either the two inspections and row indexes are identical, or Arrow refuses the file (NotFast)
and confirm() falls back to the Python reader; which files are refused is asserted too, so a
file can never slip onto the slow path unnoticed.
"""

from __future__ import annotations

import csv
import gc
import io
import threading
import time
import weakref
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.inspection import arrowscan
from jobs.inspection.scan import InspectOptions, confirm, confirm_with_arrow, inspect_sample
from jobs.prefetch import prefetched

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FILES = sorted(
    path for folder in ("corpus", "csv") for path in (FIXTURES / folder).iterdir() if path.suffix in (".csv", ".tsv")
)

# Files Arrow does not read, and why (the first words of NotFast's message, or of eligible()'s).
REFUSED = {
    "bad_nul_byte.csv": "the file holds a NUL byte",
    "bad_quote_then_text.csv": "a quote neither opens nor closes a field",
    "bad_ragged_too_few.csv": "Arrow could not read a block",
    "bad_ragged_too_many.csv": "Arrow could not read a block",
    "bad_unterminated_quote.csv": "a quote is left open",
    "bad_unterminated_quote_only.csv": "a quote is left open",
    "bad_header_only.csv": "the file has no data rows",
    "enc_invalid_utf8_line5.csv": "Arrow could not read a block",
    "invalid_utf8_line_7.csv": "Arrow could not read a block",
    "quote_backslash.csv": "quotes are not doubled inside quoted fields",
    "backslash_escapes.csv": "quotes are not doubled inside quoted fields",
    "mysql_backslash_escaped.tsv": "the file uses an escape character",
    "quote_space_after_delimiter.csv": "spaces after a delimiter are skipped",
    "delim_excel_sep_line.csv": 'the file starts with a "sep=" line',
}


def _both(data: bytes, options: InspectOptions | None = None, chunk_bytes: int = arrowscan.CHUNK_BYTES):
    """(first look, Python reader's (inspection, index), Arrow's (inspection, index) or NotFast)."""
    options = options or InspectOptions()
    stream = io.BytesIO(data)
    first = inspect_sample(stream, size=len(data), options=options)
    if "columns" not in first:
        return first, None, None
    reference = confirm(stream, inspection=first, options=options, fast=False)
    why = arrowscan.eligible(first)
    if why:
        return first, reference, arrowscan.NotFast(why)
    try:
        fast = confirm_with_arrow(stream, inspection=first, options=options, chunk_bytes=chunk_bytes)
    except arrowscan.NotFast as exc:
        return first, reference, exc
    return first, reference, fast


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_arrow_confirms_each_fixture_as_the_python_reader_does_or_refuses_it(path):
    first, reference, fast = _both(path.read_bytes())
    if reference is None:
        return  # no columns: nothing to confirm
    if isinstance(fast, arrowscan.NotFast) and first["encoding"]["codec"] not in ("utf-8", "ascii"):
        assert str(fast) == "the file is not UTF-8"
        return
    if isinstance(fast, arrowscan.NotFast):
        assert path.name in REFUSED, f"Arrow refused {path.name}: {fast}"
        assert str(fast).startswith(REFUSED[path.name])
        return
    assert path.name not in REFUSED, f"{path.name} was expected to be refused"
    assert fast == reference


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 8, 13, 64])
@pytest.mark.parametrize("path", [p for p in FILES if p.name not in REFUSED][::3], ids=lambda path: path.name)
def test_records_cut_across_chunks_read_the_same(path, chunk_bytes):
    first, reference, fast = _both(path.read_bytes(), chunk_bytes=chunk_bytes)
    if reference is not None and not isinstance(fast, arrowscan.NotFast):
        assert fast == reference


TRICKY = {
    "doubled quotes": b'a,b\n1,"x""y"\n2,""""\n3,""\n',
    "newline in a quote": b'a,b\n1,"multi\nline"\n2,"x"\n',
    "crlf in a quote": b'a,b\r\n1,"cr\r\nlf"\r\n2,"x"\r\n',
    "cr only, cr in a quote": b'a,b\r1,"one\rtwo"\r2,x\r',
    "blank lines": b"a,b\n\n1,2\n\r\n\n3,4\n\n\n",
    "no final newline": b'a,b\n1,2\n3,"4"',
    "quoted header": b'"a","b,c"\n1,2\n',
    "empty quoted fields": b'a,b\n"",""\n,\n',
    "single column with blanks": b'a\n1\n\n""\n2\n',
    "quote right after a doubled one": b'a,b\n1,"""x"""\n',
    "a blank line inside quotes": b'a,b\n1,"x\n\ny"\n2,z\n',
    "mid-field quote": b'a,b\n1,5" screen\n',
    "text after a closing quote": b'a,b\n1,"x"y\n',
    "space before an opening quote": b'a,b\n1, "x"\n',
    "whitespace-only line": b"a,b\n1,2\n   \n3,4\n",
    "unterminated at the end": b'a,b\n1,"x\n',
    "non-ascii": "a,b\n1,Zoë\n2,日本\n".encode(),
    "a stray value and nulls": b"a,b\n" + b"".join(b"%d,%d\n" % (n, n) for n in range(40)) + b"x,\n,NULL\n",
}


@pytest.mark.parametrize("chunk_bytes", [3, arrowscan.CHUNK_BYTES])
@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_files_read_the_same_or_are_refused(name, chunk_bytes):
    first, reference, fast = _both(TRICKY[name], chunk_bytes=chunk_bytes)
    if reference is None or isinstance(fast, arrowscan.NotFast):
        refused = {
            "mid-field quote",
            "text after a closing quote",
            "space before an opening quote",
            "whitespace-only line",
            "unterminated at the end",
        }
        assert reference is None or name in refused, f"{name}: {fast}"
        return
    assert fast == reference


def test_confirm_falls_back_to_the_python_reader_and_reports_the_problem():
    data = b"a,b\n" + b"1,2\n" * 10 + b'3,5" screen\n' + b"4,5,6\n"
    stream = io.BytesIO(data)
    first = inspect_sample(stream, size=len(data))
    confirmed, _index = confirm(stream, inspection=first)
    assert confirmed["row_count"] == 12
    assert confirmed["problems"][0]["line"] == 13
    assert confirmed["problems"][0]["reason"].startswith("expected 2 fields")


@st.composite
def tables(draw):
    width = draw(st.integers(1, 4))
    cell = st.text(alphabet=st.sampled_from(list('ab1 ,;"\n\r\t.-é')), max_size=6)
    rows = draw(st.lists(st.lists(cell, min_size=width, max_size=width), min_size=1, max_size=25))
    header = [f"c{i}" for i in range(width)]
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    terminator = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8"), delimiter, draw(st.integers(1, 64))


@settings(max_examples=150, deadline=None)
@given(tables())
def test_generated_tables_read_the_same_through_arrow(table):
    data, delimiter, chunk_bytes = table
    options = InspectOptions(delimiter=delimiter, quotechar='"', header=True)
    first, reference, fast = _both(data, options, chunk_bytes=chunk_bytes)
    if reference is None:
        return
    if isinstance(fast, arrowscan.NotFast):
        # Refused: a dialect Arrow does not read (detection may find no doubled quotes in a tiny
        # file), or what the Python reader reports as a problem (ragged rows, blank-looking rows).
        assert arrowscan.eligible(first) or reference[0]["problems"], fast
        return
    assert fast == reference


def test_prefetching_hands_over_every_block_and_the_producers_error():
    def blocks():
        yield from range(5)
        raise arrowscan.NotFast("the file holds a NUL byte")

    seen = []
    with pytest.raises(arrowscan.NotFast, match="NUL"), prefetched(blocks()) as items:
        seen.extend(items)
    assert seen == [0, 1, 2, 3, 4]


def test_leaving_early_stops_the_producer_without_reading_ahead():
    produced = []

    def blocks():
        for number in range(1000):
            produced.append(number)
            yield number

    with prefetched(blocks()) as items:
        assert next(items) == 0
    assert len(produced) <= 3  # one taken, one waiting at most, one being built at most


def test_a_producer_error_frees_what_the_producer_held_without_the_garbage_collector():
    """The producer's exception travels to the consumer: neither side may keep a reference cycle
    through it, or the reader, its block and its file live on until a collection."""

    class Held:  # what a reader holds: a block, a file
        pass

    def blocks(held):
        yield 0
        raise ValueError("bad block")

    gc.disable()
    try:
        held = Held()
        alive = weakref.ref(held)
        items = blocks(held)
        del held
        try:
            with prefetched(items) as taken:
                for _ in taken:
                    pass
        except ValueError:
            pass
        del items
        assert alive() is None
    finally:
        gc.enable()


def test_a_cancelled_pass_skips_the_blocks_it_had_queued(monkeypatch):
    """A cancel (an exception from on_progress) ends the pass without profiling the blocks still
    queued for the columns: only what a profiling thread had started finishes."""
    from jobs.inspection import scan
    from jobs.inspection.profile import ColumnProfiler

    data = b"a,b,c,d\n" + b"".join(b"%d,x%d,%d.5,y\n" % (n, n % 7, n) for n in range(3000))
    cancelled = threading.Event()
    started_after = []
    add_array = ColumnProfiler.add_array

    def slow(self, values, lines):
        started_after.append(cancelled.is_set())
        time.sleep(0.2)  # the main thread runs ahead and queues blocks
        return add_array(self, values, lines)

    progress_calls = []

    def on_progress(rows, end):
        progress_calls.append(rows)
        if len(progress_calls) == 2:  # two blocks of 4 columns queued, 2 of them started
            cancelled.set()
            raise RuntimeError("cancelled")

    stream = io.BytesIO(data)
    inspection = inspect_sample(stream, size=len(data))
    monkeypatch.setattr(ColumnProfiler, "add_array", slow)
    with pytest.raises(RuntimeError, match="cancelled"):
        confirm_with_arrow(
            stream,
            inspection=inspection,
            options=InspectOptions(),
            chunk_bytes=4096,
            progress_every=1,
            on_progress=on_progress,
        )
    # Only what the profiling threads had started went on (without the stop: all 8).
    assert started_after.count(True) <= scan.PROFILING_THREADS
    assert len(started_after) <= 2 * scan.PROFILING_THREADS


def test_a_profiling_error_ends_the_pass_instead_of_hanging_it(monkeypatch):
    """Columns are profiled on the pool's threads, each at its own pace: an error in one of them
    (here on the third block of the second column) comes out of the pass, the other columns stop
    too, and nothing waits forever."""
    from jobs.inspection.profile import ColumnProfiler

    data = b"a,b,c\n" + b"".join(b"%d,x%d,%d.5\n" % (n, n % 7, n) for n in range(3000))
    calls = {}
    add_array = ColumnProfiler.add_array

    def failing(self, values, lines):
        calls[id(self)] = calls.get(id(self), 0) + 1
        if self is profilers[1] and calls[id(self)] == 3:
            raise RuntimeError("profiling broke on block 3")
        return add_array(self, values, lines)

    stream = io.BytesIO(data)
    inspection = inspect_sample(stream, size=len(data))
    profilers = []
    monkeypatch.setattr(ColumnProfiler, "add_array", failing)
    init = ColumnProfiler.__init__
    monkeypatch.setattr(ColumnProfiler, "__init__", lambda self, **kw: (init(self, **kw), profilers.append(self))[0])
    with pytest.raises(RuntimeError, match="block 3"):
        confirm_with_arrow(stream, inspection=inspection, options=InspectOptions(), chunk_bytes=4096)
    blocks = sum(1 for _ in arrowscan.iter_blocks(io.BytesIO(data), inspection=inspection, chunk_bytes=4096))
    assert blocks >= 10
    assert calls[id(profilers[1])] == 3  # the failed column took no block after its error,
    assert max(calls.values()) < blocks  # and the pass stopped without profiling the rest


def test_profiling_lanes_give_each_column_its_blocks_in_file_order(monkeypatch):
    """The pass profiles several blocks at once on two threads; every column must still see its
    values in file order (first-met order settles ties, conflicts are the first lines): the same
    inspection as the Python reader's, and as one thread taking one block at a time."""
    from jobs.inspection import scan

    def rows(count):
        return b"id,code,when\n" + b"".join(
            b"%d,%s,%s\n" % (n, b"A%03d" % (n % 13) if n % 500 else b"oops", b"2021-01-%02d" % (n % 28 + 1))
            for n in range(count)
        )

    def both(data):
        inspection = inspect_sample(io.BytesIO(data), size=len(data))
        return inspection, confirm_with_arrow(
            io.BytesIO(data), inspection=inspection, options=InspectOptions(), chunk_bytes=8192
        )[0]

    data = rows(9_000)  # under the exact cap of distinct values: exact whatever the batches
    inspection, lanes = both(data)
    assert lanes["columns"] == confirm(io.BytesIO(data), inspection=inspection, fast=False)[0]["columns"]
    data = rows(30_000)  # past it: the same blocks must give the same summaries
    _, lanes = both(data)
    monkeypatch.setattr(scan, "PROFILING_THREADS", 1)
    monkeypatch.setattr(scan, "BLOCKS_IN_FLIGHT", 1)
    _, serial = both(data)
    assert lanes["columns"] == serial["columns"]
    assert lanes["row_count"] == serial["row_count"] == 30_000
