"""Load speed and memory of the engine against PostgreSQL's own COPY and the usual alternatives.

    .venv/bin/python bench/load.py [--rows 1000000] [--big] [--repeat 3] [--methods psql,engine,...]
                                   [--url postgresql://postgres@127.0.0.1:5432/postgres]

Generates a deterministic CSV (seed 42; 1,000,000 rows x 12 columns, about 134 MB; --big adds a
5,000,000-row file for the memory-flatness check) and, in one run, times each method loading it
into the same table of the same PostgreSQL:

- psql:           `psql \\copy` of the file (the limit, and the baseline of every ratio)
- engine:         our INSERT with a realistic mapping: UPPER on one column, TRIM on another, a
                  calculated column (amount * quantity), and a type conversion on every column,
                  on the path a clean UTF-8 file takes (Arrow's reader, converted a block at a time)
- engine-upsert:  our UPSERT on id into a table already holding half of the keys (a quarter of
                  them with changed values), on the same path
- psql-upsert:    the same UPSERT written by hand, the reference the issue measured at 2.65x:
                  `psql \\copy` into a text staging table, then one INSERT ... SELECT with the
                  same conversions ... ON CONFLICT (id) DO UPDATE of the rows that differ, in one
                  transaction (the server's share of our UPSERT, with no client of ours)
- engine-sql:     the same INSERT converted by PostgreSQL (the path of files Arrow does not take)
- engine-rows:    the same INSERT converting row by row in Python (the path a file with bad
                  values, or a mapping no fast path converts exactly, takes)
- to_sql:         pandas read_csv + DataFrame.to_sql (SQLAlchemy, method=None, chunks of 10k)
- executemany:    Python csv + psycopg executemany of INSERTs in batches of 1,000

Each measurement runs in its own process, so its peak RSS is its own (psql: the child's).
Rounds interleave the methods. Printed: median seconds, rows/s, peak RSS, the ratio to psql
and each round's ratio to that round's psql. No thresholds: the targets
(INSERT within 1.3x of psql, UPSERT within 2.5x, under 300 MB and flat from 1M to 5M rows, at
least 5x faster than to_sql) are judged by reading the figures.
"""

# ruff: noqa: I001 (bench/_path must be imported first)
from __future__ import annotations

import _path  # noqa: F401 (bench/inspect.py would shadow the standard library's inspect)
import argparse
import csv
import dataclasses
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
from urllib.parse import urlsplit


# (source column, destination column, type, transform, expression)
MAPPING = [
    ("id", "id", "bigint", "", ""),
    ("customer", "customer", "text", "upper", ""),
    ("email", "email", "text", "trim", ""),
    ("country", "country", "varchar(2)", "", ""),
    ("amount", "amount", "numeric(12,2)", "", ""),
    ("quantity", "quantity", "integer", "", ""),
    ("discount", "discount", "double precision", "", ""),
    ("paid", "paid", "boolean", "", ""),
    ("ordered_on", "ordered_on", "date", "", ""),
    ("shipped_at", "shipped_at", "timestamp", "", ""),
    ("status", "status", "text", "", ""),
    ("note", "note", "text", "", ""),
    ("", "total", "numeric(14,2)", "", "amount * quantity"),
]
SOURCE_COLUMNS = [source for source, *_ in MAPPING if source]
TABLE_COLUMNS = [(dest, type_name) for _, dest, type_name, _, _ in MAPPING]
PLAIN_COLUMNS = [(dest, type_name) for source, dest, type_name, _, _ in MAPPING if source]
METHODS = ("psql", "engine", "engine-upsert", "psql-upsert", "engine-sql", "engine-rows", "to_sql", "executemany")


def make_file(path: Path, rows: int) -> None:
    rng = random.Random(42)
    start = date(2020, 1, 1)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SOURCE_COLUMNS)
        for i in range(1, rows + 1):
            day = start + timedelta(days=rng.randrange(2000))
            writer.writerow(
                [
                    i,
                    f"customer {rng.randrange(100000)}",
                    f" user{i}@example.com ",
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


def create_table(url: str, table: str, columns, primary_key: bool = False) -> None:
    import psycopg

    definitions = ", ".join(f"{name} {type_name}" for name, type_name in columns)
    if primary_key:
        definitions += ", PRIMARY KEY (id)"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} ({definitions})")


def prefill_half(url: str, table: str, path: Path, rows: int) -> None:
    """Half of the keys already there (every even id), a quarter of all rows with other values."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TEMP TABLE raw ({', '.join(f'{n} text' for n in SOURCE_COLUMNS)})")
        statement = "COPY raw FROM STDIN WITH (FORMAT csv, HEADER true)"
        with conn.cursor() as cursor, cursor.copy(statement) as copy, path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        conn.execute(
            f"INSERT INTO {table} SELECT id::bigint, upper(customer), trim(email), country, amount::numeric, "
            "quantity::int, discount::float8, paid::boolean, ordered_on::date, shipped_at::timestamp, "
            "CASE WHEN id::bigint % 4 = 0 THEN 'changed' ELSE status END, nullif(note, ''), "
            "amount::numeric * quantity::int FROM raw WHERE id::bigint % 2 = 0"
        )
    assert rows >= 2


def connection_params(url: str):
    from credentials.connectors import ConnectionParams

    parts = urlsplit(url)
    return ConnectionParams(
        kind="postgresql", host=parts.hostname, port=parts.port or 5432, database=parts.path.lstrip("/"),
        username=parts.username or "postgres", password=parts.password or "", sslmode="disable",
    )  # fmt: skip


def run_engine(url: str, path: Path, table: str, strategy: str, how: str = "arrow") -> None:
    """Our load as a run does it (runs/executor.py), by one of its three paths: arrow, sql or rows."""
    from credentials.connectors import LoadPlan, TargetColumn, get_connector
    from jobs.arrowload import compile_arrow
    from jobs.pushdown import compile_pushdown
    from jobs.reader import open_csv
    from jobs.transform import ColumnSpec, compile_transform, transformed

    specs = [
        ColumnSpec(dest, type_name, source, transform=transform, expression=expression, nullable=dest != "id")
        for source, dest, type_name, transform, expression in MAPPING
    ]
    plan = LoadPlan(
        "public",
        table,
        [TargetColumn(s.destination_column, s.column_type.sql, s.nullable) for s in specs],
        strategy,
        key_columns=("id",) if strategy == "UPSERT" else (),
    )
    connector = get_connector(connection_params(url))
    with path.open("rb") as stream:
        source = open_csv(stream)
        if how == "arrow":
            chunks = compile_arrow(source.header, specs).batches(stream, ",")
            stream.seek(0)
            result = connector.load(dataclasses.replace(plan, row_format="arrow_tables"), chunks, lambda *e: None)
        elif how == "sql":
            pushdown = compile_pushdown(source.header, specs)
            lines = (pushdown.render(fields) for _, fields in source.records)
            result = connector.load_pushdown(plan, pushdown, lines, on_event=lambda phase, message: None)
        else:
            transform = compile_transform(source.header, specs, output="copy_text")
            rows = transformed(source.records, transform)
            plan = dataclasses.replace(plan, row_format="copy_text")
            result = connector.load(plan, rows, on_event=lambda phase, message: None)
    if strategy == "UPSERT":
        print(f"# upsert: {result.inserted} inserted, {result.updated} updated, {result.unchanged} unchanged")


def run_psql_upsert(url: str, path: Path, table: str) -> None:
    """The staged UPSERT by hand: a text stage, then the conversions and ON CONFLICT in one statement."""
    others = [name for name, _ in TABLE_COLUMNS if name != "id"]
    converted = (
        "id::bigint, upper(customer), trim(email), country, amount::numeric, quantity::int, discount::float8, "
        "paid::boolean, ordered_on::date, shipped_at::timestamp, status, nullif(note, ''), "
        "amount::numeric * quantity::int"
    )
    script = "\n".join(
        [
            "BEGIN;",
            f"CREATE TEMP TABLE raw ({', '.join(f'{n} text' for n in SOURCE_COLUMNS)}) ON COMMIT DROP;",
            f"\\copy raw FROM '{path}' WITH (FORMAT csv, HEADER)",
            f"INSERT INTO {table} ({', '.join(name for name, _ in TABLE_COLUMNS)}) SELECT {converted} FROM raw "
            f"ON CONFLICT (id) DO UPDATE SET ({', '.join(others)}) = ROW({', '.join(f'EXCLUDED.{n}' for n in others)}) "
            f"WHERE ROW({', '.join(f'{table}.{n}' for n in others)}) "
            f"IS DISTINCT FROM ROW({', '.join(f'EXCLUDED.{n}' for n in others)});",
            "COMMIT;",
        ]
    )
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q"], input=script, text=True, check=True)


def run_to_sql(url: str, path: Path, table: str) -> None:
    import pandas
    import sqlalchemy

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    frame = pandas.read_csv(
        path, keep_default_na=False, na_values=[""], dtype={"note": "string"}, parse_dates=["ordered_on", "shipped_at"]
    )
    frame["ordered_on"] = frame["ordered_on"].dt.date
    frame["customer"] = frame["customer"].str.upper()
    frame["email"] = frame["email"].str.strip()
    frame["total"] = frame["amount"] * frame["quantity"]
    frame.to_sql(table, engine, if_exists="append", index=False, chunksize=10_000)


def run_executemany(url: str, path: Path, table: str) -> None:
    import psycopg

    names = ", ".join(name for name, _ in TABLE_COLUMNS)
    placeholders = ", ".join(["%s"] * len(TABLE_COLUMNS))
    statement = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"
    with psycopg.connect(url) as conn, conn.cursor() as cursor, path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        batch = []
        for row in reader:
            total = f"{float(row[4]) * int(row[5]):.2f}"
            batch.append([row[0], row[1].upper(), row[2].strip(), *row[3:11], row[11] or None, total])
            if len(batch) == 1000:
                cursor.executemany(statement, batch)
                batch = []
        if batch:
            cursor.executemany(statement, batch)


def run_one(method: str, url: str, path: Path, table: str, rows: int) -> None:
    """Runs in a child process: load once, print seconds, peak RSS (KiB) and the row count."""
    import psycopg

    if method == "psql":
        create_table(url, table, PLAIN_COLUMNS)
    else:
        create_table(url, table, TABLE_COLUMNS, primary_key=method.endswith("upsert"))
    if method.endswith("upsert"):
        prefill_half(url, table, path, rows)
    if method.startswith("engine"):
        # Not timed: a worker imports these once, when it starts, not once per load.
        import credentials.connectors  # noqa: F401
        import jobs.arrowload
        import jobs.pushdown
        import jobs.transform  # noqa: F401
    started = time.perf_counter()
    if method == "psql":
        subprocess.run(
            ["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", f"\\copy {table} FROM '{path}' WITH (FORMAT csv, HEADER)"],
            check=True,
        )
    elif method == "engine":
        run_engine(url, path, table, "INSERT")
    elif method == "engine-upsert":
        run_engine(url, path, table, "UPSERT")
    elif method == "psql-upsert":
        run_psql_upsert(url, path, table)
    elif method == "engine-sql":
        run_engine(url, path, table, "INSERT", how="sql")
    elif method == "engine-rows":
        run_engine(url, path, table, "INSERT", how="rows")
    elif method == "to_sql":
        run_to_sql(url, path, table)
    elif method == "executemany":
        run_executemany(url, path, table)
    seconds = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
    who = resource.RUSAGE_CHILDREN if method.startswith("psql") else resource.RUSAGE_SELF
    print(f"{seconds:.6f} {resource.getrusage(who).ru_maxrss} {count}")


def measure(method: str, url: str, path: Path, table: str, rows: int) -> tuple[float, int, int]:
    output = subprocess.run(
        [sys.executable, __file__, "--one", method, "--url", url, "--file", str(path), "--table", table,
         "--rows", str(rows)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    for line in output.splitlines():
        if line.startswith("#"):
            print("   ", line[2:])
    seconds, peak, count = output.splitlines()[-1].split()
    return float(seconds), int(peak), int(count)


def bench(args, rows: int, methods: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        make_file(path, rows)
        size_mb = path.stat().st_size / 1e6
        columns = len(SOURCE_COLUMNS)
        print(f"\n{rows:,} rows x {columns} columns, {size_mb:.0f} MB; medians of {args.repeat} interleaved rounds")
        runs: dict[str, list[tuple[float, int, int]]] = {method: [] for method in methods}
        # Rounds interleave the methods (psql first in each), so a busy moment of the machine or
        # of the server does not fall on one method alone.
        for number in range(args.repeat):
            for method in methods:
                if number and method in ("to_sql", "executemany") and rows > 1_000_000:
                    continue  # minutes each: once is enough
                run = measure(method, args.url, path, args.table, rows)
                assert run[2] == rows, f"{method} loaded {run[2]:,} rows instead of {rows:,}"
                runs[method].append(run)
        results = {}
        for method in methods:
            results[method] = (statistics.median(s for s, _, _ in runs[method]), max(k for _, k, _ in runs[method]))
            seconds, peak_kib = results[method]
            base = results["psql"][0]
            print(
                f"{method:>14}: {seconds:8.2f} s  {seconds / base:6.2f}x psql  "
                f"{rows / seconds:>10,.0f} rows/s  peak RSS {peak_kib / 1024:6.0f} MiB"
            )
            if method != "psql" and len(runs[method]) > 1:
                pairs = zip(runs[method], runs["psql"], strict=True)
                each = ", ".join(f"{ours[0] / theirs[0]:.2f}x" for ours, theirs in pairs)
                print(f"{'':>14}  each round against that round's psql: {each}")
        if "engine" in results and "to_sql" in results:
            print(f"{'':>14}  engine is {results['to_sql'][0] / results['engine'][0]:.1f}x faster than to_sql")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big", action="store_true", help="also 5,000,000 rows (psql and engine only)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--url", default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--one")
    parser.add_argument("--file")
    parser.add_argument("--table", default="bench_load")
    args = parser.parse_args()
    if args.one:
        run_one(args.one, args.url, Path(args.file), args.table, args.rows)
        return
    if not shutil.which("psql"):
        sys.exit("psql is needed for the baseline (Debian: apt-get install postgresql-client)")
    methods = ["psql", *(m for m in args.methods.split(",") if m != "psql")]
    unknown = set(methods) - set(METHODS)
    if unknown:
        sys.exit(f"unknown method(s): {', '.join(sorted(unknown))}; choose from {', '.join(METHODS)}")
    bench(args, args.rows, methods)
    if args.big:
        bench(args, 5_000_000, [m for m in methods if m in ("psql", "engine")])


if __name__ == "__main__":
    main()
