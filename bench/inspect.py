"""File inspection speed and memory on a ~1 GB CSV, against DuckDB and pandas on the same file.

    .venv/bin/python bench/inspect.py [--size-mb 1000] [--file existing.csv] [--keep] [--repeat 3]

Generates the CSV with bench/_gen.py (unless --file is given), then measures, each method
in its own process so peak memory is its own:

- time to the first preview page (50 records),
- time for a full pass over every record,
- peak resident memory of the process,

for this code base's reader (jobs.inspection.records), DuckDB
(`SELECT count(*) FROM read_csv_auto(...)`), pandas (`read_csv(..., chunksize=...)`) and,
for reference, Python's csv.reader over a TextIOWrapper. Ratios are against DuckDB measured
in the same run. Nothing here is a test: no thresholds, just figures to compare.
"""

# ruff: noqa: I001 (bench/_path must be imported first)
from __future__ import annotations

import _path  # noqa: F401 (this file's own name shadows the standard library's inspect)
import sys
from pathlib import Path
import argparse
import csv
import io
import json
import statistics
import subprocess
import tempfile
import time
from itertools import islice

from bench._gen import peak_rss_mb, write_csv

PAGE = 50
METHODS = ["inspect", "duckdb-types", "pandas-types", "records", "rows", "duckdb", "pandas", "csv"]
LABELS = {
    "inspect": "ETL Portal inspection",
    "duckdb-types": "DuckDB sniff + typed read",
    "pandas-types": "pandas read_csv (typed)",
    "records": "jobs.inspection iter_records",
    "rows": "jobs.inspection iter_rows",
    "duckdb": "DuckDB read_csv_auto",
    "pandas": "pandas read_csv chunks",
    "csv": "csv.reader (reference)",
}


# -- one measurement, in its own process ------------------------------------------------------------
def measure(method: str, path: str) -> dict:
    _import(method)  # not timed: a long-running worker has imported them already
    started = time.perf_counter()
    first_page = _first_page(method, path)
    first_page_seconds = time.perf_counter() - started
    started = time.perf_counter()
    records = _full_pass(method, path)
    full_pass_seconds = time.perf_counter() - started
    # For "inspect", "duckdb-types" and "pandas-types" the first page is the first answer a
    # user gets (types from a sample, with the page) and the full pass is full type
    # confirmation over every value (ours also computes statistics, conflicts and the row index).
    return {
        "method": method,
        "first_page_seconds": first_page_seconds,
        "first_page_records": first_page,
        "full_pass_seconds": full_pass_seconds,
        "records": records,
        "peak_rss_mb": peak_rss_mb(),
    }


def _import(method: str) -> None:
    if method == "inspect":
        import jobs.inspection.scan
    elif method.startswith("duckdb"):
        import duckdb  # noqa: F401
    elif method.startswith("pandas"):
        import pandas  # noqa: F401
    else:
        import jobs.inspection.records  # noqa: F401


_INSPECTION: dict = {}


def _first_page(method: str, path: str) -> int:
    if method == "inspect":
        from jobs.inspection.scan import inspect_sample

        with open(path, "rb") as stream:
            _INSPECTION.update(inspect_sample(stream, size=Path(path).stat().st_size))
        return len(_INSPECTION["preview"]["rows"])
    if method == "duckdb-types":
        import duckdb

        duckdb.sql(f"SELECT * FROM sniff_csv('{path}')").fetchall()
        return len(duckdb.sql(f"SELECT * FROM read_csv('{path}') LIMIT {PAGE}").fetchall())
    if method == "pandas-types":
        import pandas

        return len(pandas.read_csv(path, nrows=PAGE))
    if method in {"records", "rows"}:
        from jobs.inspection.records import read_page

        with open(path, "rb") as stream:
            return len(read_page(stream, index=None, first_record=0, count=PAGE, encoding="utf-8"))
    if method == "duckdb":
        import duckdb

        return len(duckdb.sql(f"SELECT * FROM read_csv_auto('{path}') LIMIT {PAGE}").fetchall())
    if method == "pandas":
        import pandas

        return len(pandas.read_csv(path, nrows=PAGE))
    with open(path, "rb") as stream:
        return len(list(islice(csv.reader(io.TextIOWrapper(stream, encoding="utf-8", newline="")), 1, PAGE + 1)))


def _full_pass(method: str, path: str) -> int:
    """Data records read (the header excluded)."""
    if method == "inspect":
        from jobs.inspection.scan import confirm

        with open(path, "rb") as stream:
            confirmed, _index = confirm(stream, inspection=_INSPECTION)
        return confirmed["row_count"]
    if method == "duckdb-types":
        import duckdb

        # Types detected from every row, then every column read with them (max() touches each).
        return duckdb.sql(f"SELECT count(*), max(COLUMNS(*)) FROM read_csv('{path}', sample_size=-1)").fetchall()[0][0]
    if method == "pandas-types":
        import pandas

        return len(pandas.read_csv(path))
    if method in {"records", "rows", "csv"}:
        from jobs.inspection.records import iter_records, iter_rows

        with open(path, "rb") as stream:
            if method == "records":
                records = iter_records(stream, encoding="utf-8")
            elif method == "rows":
                records = iter_rows(stream, encoding="utf-8")
            else:
                records = csv.reader(io.TextIOWrapper(stream, encoding="utf-8", newline=""))
            return sum(1 for _record in records) - 1
    if method == "duckdb":
        import duckdb

        return duckdb.sql(f"SELECT count(*) FROM read_csv_auto('{path}')").fetchall()[0][0]
    import pandas

    return sum(len(chunk) for chunk in pandas.read_csv(path, chunksize=100_000))


# -- the run -------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1000, help="size of the generated file (default 1000)")
    parser.add_argument("--file", help="measure this existing CSV instead of generating one (UTF-8, comma)")
    parser.add_argument("--keep", action="store_true", help="keep the generated file and print its path")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds over the methods, interleaved; medians are printed (default 1)"
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one measurement, as JSON
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.file)))
        return

    if args.file:
        path = Path(args.file)
    else:
        path = Path(tempfile.mkdtemp(prefix="inspect-bench-")) / "bench.csv"
        started = time.perf_counter()
        rows = write_csv(path, min_bytes=args.size_mb * 1_000_000)
        print(
            f"generated {path.stat().st_size / 1e6:.0f} MB, {rows:,} records in {time.perf_counter() - started:.1f} s"
        )
    size_mb = path.stat().st_size / 1e6
    try:
        rounds: dict[str, list[dict]] = {}
        # Rounds interleave the methods, so a busy moment of the machine does not fall on one alone.
        for _round in range(args.repeat):
            for method in args.methods.split(","):
                command = [sys.executable, str(Path(__file__).resolve()), "--measure", method, "--file", str(path)]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode:
                    sys.exit(f"{method} failed:\n{done.stderr}")
                rounds.setdefault(method, []).append(json.loads(done.stdout))
        results = {method: _median(measured) for method, measured in rounds.items()}
        if args.repeat > 1:
            print(f"medians of {args.repeat} interleaved rounds")
            if "inspect" in rounds and "pandas-types" in rounds:
                pairs = zip(rounds["inspect"], rounds["pandas-types"], strict=True)
                each = ", ".join(
                    f"{ours['full_pass_seconds'] / theirs['full_pass_seconds']:.2f}x" for ours, theirs in pairs
                )
                print(f"full type confirmation against pandas in each round: {each}")
        _print_table(results, size_mb)
    finally:
        if not args.file and not args.keep:
            path.unlink(missing_ok=True)
            path.parent.rmdir()
        elif args.keep:
            print(f"kept {path}")


def _median(measured: list[dict]) -> dict:
    """Each figure's median over the rounds (peak memory: the highest)."""
    merged = dict(measured[0])
    for key in ("first_page_seconds", "full_pass_seconds"):
        merged[key] = statistics.median(m[key] for m in measured)
    merged["peak_rss_mb"] = max(m["peak_rss_mb"] for m in measured)
    return merged


def _print_table(results: dict, size_mb: float) -> None:
    print(f"\n{size_mb:.0f} MB file; lower is better. Type detection and confirmation, against DuckDB's:\n")
    typed = {m: r for m, r in results.items() if m in ("inspect", "duckdb-types", "pandas-types")}
    if typed:
        _rows(typed, typed.get("duckdb-types"), size_mb)
        if "inspect" in typed and "pandas-types" in typed:
            ours, pandas = typed["inspect"]["full_pass_seconds"], typed["pandas-types"]["full_pass_seconds"]
            print(f"\nfull type confirmation against pandas read_csv: {ours / pandas:.2f}x")
        print("\nReading only (no types), against DuckDB's count(*):\n")
    _rows({m: r for m, r in results.items() if m not in typed}, results.get("duckdb"), size_mb)


def _rows(results: dict, base: dict | None, size_mb: float) -> None:
    header = f"{'method':30s} {'first page':>12s} {'ratio':>7s} {'full pass':>10s} {'MB/s':>7s} {'ratio':>7s}"
    print(header + f" {'peak RSS':>9s} {'ratio':>7s} {'records':>11s}")
    for method, r in results.items():
        first_ratio = _ratio(r["first_page_seconds"], base and base["first_page_seconds"])
        pass_ratio = _ratio(r["full_pass_seconds"], base and base["full_pass_seconds"])
        rss_ratio = _ratio(r["peak_rss_mb"], base and base["peak_rss_mb"])
        print(
            f"{LABELS[method]:30s} {r['first_page_seconds'] * 1000:10.1f}ms {first_ratio:>7s}"
            f" {r['full_pass_seconds']:9.1f}s {size_mb / r['full_pass_seconds']:7.1f} {pass_ratio:>7s}"
            f" {r['peak_rss_mb']:7.0f}MB {rss_ratio:>7s} {r['records']:11,d}"
        )


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}x" if base else "-"


if __name__ == "__main__":
    main()
