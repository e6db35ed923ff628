"""Load speed and memory of the engine against PostgreSQL's own COPY of the same file.

    .venv/bin/python bench/load_vs_copy.py [--rows 200000] [--repeat 3] [--url postgresql://postgres@127.0.0.1:5432/postgres]

Prints, for each method, the median wall time over --repeat runs, the ratio to the
baseline measured in the same run (`psql \\copy` when psql is on PATH, else a raw
psycopg COPY of the file), and the peak resident memory of the process that loaded.
Each measurement runs in its own process so peak memory is its own. Nothing here is a
test: no thresholds, just figures to compare.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

COLUMNS = [
    ("id", "bigint"),
    ("customer", "text"),
    ("email", "text"),
    ("country", "varchar(2)"),
    ("amount", "numeric(12,2)"),
    ("quantity", "integer"),
    ("discount", "double precision"),
    ("paid", "boolean"),
    ("ordered_on", "date"),
    ("shipped_at", "timestamp"),
    ("status", "text"),
    ("note", "text"),
]


def make_file(path: Path, rows: int) -> None:
    rng = random.Random(42)
    start = date(2020, 1, 1)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([name for name, _ in COLUMNS])
        for i in range(1, rows + 1):
            day = start + timedelta(days=rng.randrange(2000))
            writer.writerow(
                [
                    i,
                    f"Customer {rng.randrange(100000)}",
                    f"user{i}@example.com",
                    rng.choice(["US", "DE", "FR", "NA", "JP"]),
                    f"{rng.uniform(1, 5000):.2f}",
                    rng.randrange(1, 50),
                    f"{rng.random():.4f}",
                    rng.choice(["true", "false"]),
                    day.isoformat(),
                    f"{day.isoformat()} {rng.randrange(24):02d}:{rng.randrange(60):02d}:00",
                    rng.choice(["new", "shipped", "returned"]),
                    "" if rng.random() < 0.3 else f'note, with "quotes" {i}',
                ]
            )


def create_table(url: str, table: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} ({', '.join(f'{n} {t}' for n, t in COLUMNS)})")


def run_one(method: str, url: str, path: Path, table: str) -> None:
    """Runs in a child process: load once, print seconds and peak RSS (KiB)."""
    import psycopg

    create_table(url, table)
    started = time.perf_counter()
    if method == "psql":
        subprocess.run(
            [
                "psql",
                url,
                "-v",
                "ON_ERROR_STOP=1",
                "-qc",
                f"\\copy {table} FROM '{path}' WITH (FORMAT csv, HEADER true)",
            ],
            check=True,
        )
    elif method == "raw-copy":
        statement = f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)"
        with (
            psycopg.connect(url) as conn,
            conn.cursor() as cursor,
            cursor.copy(statement) as copy,
            path.open("rb") as f,
        ):
            while chunk := f.read(1 << 20):
                copy.write(chunk)
    elif method == "engine":
        from credentials.connectors import ConnectionParams, LoadPlan, TargetColumn, get_connector
        from jobs.reader import open_csv
        from jobs.transform import ColumnSpec, compile_transform, transformed

        specs = [ColumnSpec(name, type_name, name) for name, type_name in COLUMNS]
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        params = ConnectionParams(
            kind="postgresql", host=parts.hostname, port=parts.port or 5432, database=parts.path.lstrip("/"),
            username=parts.username or "postgres", password=parts.password or "", sslmode="disable",
        )  # fmt: skip
        plan = LoadPlan("public", table, [TargetColumn(s.destination_column, s.column_type.sql) for s in specs])
        with path.open("rb") as stream:
            source = open_csv(stream)
            rows = transformed(source.records, compile_transform(source.header, specs))
            get_connector(params).load(plan, rows, on_event=lambda phase, message: None)
    seconds = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if method == "psql":
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{seconds:.6f} {peak_kib} {count}")


def measure(method: str, url: str, path: Path, table: str) -> tuple[float, int, int]:
    output = subprocess.run(
        [sys.executable, __file__, "--one", method, "--url", url, "--file", str(path), "--table", table],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return float(output[0]), int(output[1]), int(output[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--url", default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--one")
    parser.add_argument("--file")
    parser.add_argument("--table", default="bench_load")
    args = parser.parse_args()
    if args.one:
        run_one(args.one, args.url, Path(args.file), args.table)
        return

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "etlportal.settings")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        make_file(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        baseline = "psql" if shutil.which("psql") else "raw-copy"
        print(f"{args.rows:,} rows x {len(COLUMNS)} columns, {size_mb:.1f} MB; median of {args.repeat} runs")
        print(f"baseline: {baseline}")
        results = {}
        for method in (baseline, "engine"):
            runs = [measure(method, args.url, path, args.table) for _ in range(args.repeat)]
            assert all(count == args.rows for _, _, count in runs), f"{method} loaded the wrong number of rows"
            results[method] = (statistics.median(s for s, _, _ in runs), max(k for _, k, _ in runs))
        base_seconds = results[baseline][0]
        for method, (seconds, peak_kib) in results.items():
            print(
                f"{method:>9}: {seconds:7.2f} s  {seconds / base_seconds:5.2f}x  "
                f"{args.rows / seconds:>9,.0f} rows/s  peak RSS {peak_kib / 1024:6.0f} MiB"
            )
        create_table(args.url, args.table)  # leave an empty table, not 3x the rows
        import psycopg

        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {args.table}")


if __name__ == "__main__":
    main()
