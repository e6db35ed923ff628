"""A file of more than 1 GB is inspected (first look, then the full pass over every row) and paged
near its end with bounded memory.

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
from jobs.inspection.records import RowIndex, read_page
from jobs.inspection.scan import confirm, inspect_sample, reader_options

path, size, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(path, "rb") as stream:
    started = time.perf_counter()
    sample = inspect_sample(stream, size=size)
    first_page = time.perf_counter() - started
    started = time.perf_counter()
    inspection, stored_index = confirm(stream, inspection=sample)
    full_pass = time.perf_counter() - started
    stored = json.dumps(stored_index)
    started = time.perf_counter()
    index = RowIndex.from_json(json.loads(stored))
    page = read_page(stream, index=index, first_record=first, count=count, **reader_options(inspection))
    late_page = time.perf_counter() - started
print(json.dumps({
    "peak_rss_mb": peak_rss_mb(),
    "record_count": index.record_count,
    "row_count": inspection["row_count"],
    "index_entries": len(index),
    "index_json_bytes": len(stored),
    "first_page_ids": [row["fields"][0] for row in sample["preview"]["rows"]],
    "columns": {column["name"]: column for column in inspection["columns"]},
    "problems": inspection["problems"],
    "page": [[record.line, record.offset, record.fields] for record in page],
    "seconds": {"first_page": first_page, "full_pass": full_pass, "late_page": late_page},
}))
"""


@pytest.mark.large
@pytest.mark.timeout(600)
def test_1_gb_file_is_inspected_and_paged_near_its_end_within_the_memory_budget(tmp_path):
    path = tmp_path / "large.csv"
    try:
        rows = write_csv(path, min_bytes=1_000_000_000)
        size = path.stat().st_size
        first = rows - 1234  # near the end, between two indexed records
        result = subprocess.run(
            [sys.executable, "-c", PASS, str(path), str(size), str(first), "50"],
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
        assert report["record_count"] == report["row_count"] == rows
        assert report["first_page_ids"] == [str(n) for n in range(50)]
        # Every value of the file typed and counted (bench/_gen.py says what each column holds).
        columns = report["columns"]
        types = {name: column["type"] for name, column in columns.items()}
        assert types == {
            "id": "integer",
            "customer": "text",
            "email": "text",
            "country": "text",
            "amount": "numeric(6,2)",
            "quantity": "smallint",
            "ordered_on": "date",
            "shipped_at": "timestamp",
            "address": "text",
            "note": "text",
        }
        assert (columns["id"]["min"], columns["id"]["max"]) == ("0", str(rows - 1))
        assert columns["note"]["null_count"] == rows // 10  # every 10th note is empty
        assert columns["country"]["top_values"][0]["value"] in ("US", "DE", "FR", "NA", "JP")
        assert report["problems"] == []
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
