"""A file of more than 1 GB is indexed in one pass and paged near its end with bounded memory.

The pass runs in a subprocess so that the peak memory measured is its own, not the test session's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench._gen import expected_fields, expected_line, write_csv

BASE_DIR = Path(__file__).resolve().parent.parent
MEMORY_BUDGET_MB = 300

PASS = """
import json, sys, time
from bench._gen import peak_rss_mb
from jobs.inspection.records import RowIndex, iter_records, read_page

path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "rb") as stream:
    started = time.perf_counter()
    preview = read_page(stream, index=None, first_record=0, count=count, encoding="utf-8")
    first_page = time.perf_counter() - started
    started = time.perf_counter()
    index = RowIndex()
    records = iter_records(stream, encoding="utf-8")
    next(records)  # the header
    for number, record in enumerate(records):
        index.add(number, record.line, record.offset)
    index.finish(number + 1)
    full_pass = time.perf_counter() - started
    stored = json.dumps(index.to_json())
    started = time.perf_counter()
    index = RowIndex.from_json(json.loads(stored))
    page = read_page(stream, index=index, first_record=first, count=count, encoding="utf-8")
    late_page = time.perf_counter() - started
print(json.dumps({
    "peak_rss_mb": peak_rss_mb(),
    "record_count": index.record_count,
    "index_entries": len(index),
    "index_json_bytes": len(stored),
    "first_page_ids": [record.fields[0] for record in preview],
    "page": [[record.line, record.offset, record.fields] for record in page],
    "seconds": {"first_page": first_page, "full_pass": full_pass, "late_page": late_page},
}))
"""


@pytest.mark.large
@pytest.mark.timeout(600)
def test_1_gb_file_is_indexed_and_paged_near_its_end_within_the_memory_budget(tmp_path):
    path = tmp_path / "large.csv"
    try:
        rows = write_csv(path, min_bytes=1_000_000_000)
        size = path.stat().st_size
        first = rows - 1234  # near the end, between two indexed records
        result = subprocess.run(
            [sys.executable, "-c", PASS, str(path), str(first), "50"],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        seconds = report["seconds"]
        print(f"{size / 1e6:.0f} MB, {rows} records, peak RSS {report['peak_rss_mb']:.0f} MB, {seconds}")

        assert size >= 1_000_000_000
        assert report["peak_rss_mb"] < MEMORY_BUDGET_MB
        assert report["record_count"] == rows
        assert report["first_page_ids"] == [str(n) for n in range(50)]
        assert len(report["page"]) == 50
        with path.open("rb") as stream:
            for n, (line, offset, fields) in enumerate(report["page"], start=first):
                assert (line, fields) == (expected_line(n), expected_fields(n))
                start = f"{n},{fields[1]},".encode()
                stream.seek(offset)
                assert stream.read(len(start)) == start
        assert report["index_json_bytes"] < 100_000
    finally:
        path.unlink(missing_ok=True)  # pytest keeps recent tmp dirs: do not leave a gigabyte behind
