"""The medallion dbt project of the test fixtures, and what its tests need around it.

tests/fixtures/dbt/medallion is a small bronze -> silver -> gold project (its README says what it
holds and what each selection yields); tests/fixtures/dbt/medallion_data holds the two CSVs the
product loads into the bronze schema.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import duckdb
import psycopg

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "dbt"
MEDALLION = FIXTURES / "medallion"
MEDALLION_DATA = FIXTURES / "medallion_data"
CANARY_PASSWORD = "canary-pw-7Qx!z9"

BRONZE_TABLES = {
    "customers": "customer_id integer, name text, country text, signed_up_on date",
    "orders": "order_id integer, customer_id integer, amount numeric(12,2), quantity integer, ordered_on date",
}
# The jobs that load them through the product (tests.factories / the API's mapping format).
BRONZE_MAPPINGS = {
    "customers": [
        {"source_column": "customer_id", "destination_column": "customer_id", "destination_type": "integer"},
        {"source_column": "name", "destination_column": "name", "destination_type": "text"},
        {"source_column": "country", "destination_column": "country", "destination_type": "text"},
        {"source_column": "signed_up_on", "destination_column": "signed_up_on", "destination_type": "date"},
    ],
    "orders": [
        {"source_column": "order_id", "destination_column": "order_id", "destination_type": "integer"},
        {"source_column": "customer_id", "destination_column": "customer_id", "destination_type": "integer"},
        {"source_column": "amount", "destination_column": "amount", "destination_type": "numeric(12,2)"},
        {"source_column": "quantity", "destination_column": "quantity", "destination_type": "integer"},
        {"source_column": "ordered_on", "destination_column": "ordered_on", "destination_type": "date"},
    ],
}
# customer_id -> (orders, revenue), from the fixture's README.
EXPECTED_REVENUE = {
    1: (3, "121.98"),
    2: (2, "149.70"),
    3: (4, "103.85"),
    4: (3, "411.99"),
    5: (3, "277.40"),
    6: (0, "0.00"),
    7: (0, "0.00"),
    8: (0, "0.00"),
}
SILVER_NODES = 8  # 2 models + 6 tests
GOLD_NODES = 3  # 1 model + 2 tests
FAILING_TEST = "revenue_is_positive_when_failing"


def csv_text(table: str) -> str:
    return (MEDALLION_DATA / f"{table}.csv").read_text()


def load_bronze_postgres(conn: psycopg.Connection, schema: str) -> None:
    """The bronze tables, loaded with COPY (for tests of the dbt runner alone)."""
    for table, columns in BRONZE_TABLES.items():
        conn.execute(f'CREATE TABLE "{schema}".{table} ({columns})')
        with conn.cursor().copy(f'COPY "{schema}".{table} FROM STDIN WITH (FORMAT csv, HEADER true)') as copy:
            copy.write(csv_text(table))


def load_bronze_duckdb(path: Path, schema: str) -> None:
    with duckdb.connect(str(path)) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        for table, columns in BRONZE_TABLES.items():
            conn.execute(f'CREATE TABLE "{schema}".{table} ({columns})')
            conn.execute(f"INSERT INTO \"{schema}\".{table} SELECT * FROM read_csv('{MEDALLION_DATA / table}.csv')")


def revenue_rows(rows) -> dict:
    return {int(customer): (int(orders), f"{revenue:.2f}") for customer, orders, revenue in rows}


@contextmanager
def read_only_copy(source: Path, destination: Path):
    """A copy of the project nobody can write into: a read-only bind mount as root (root writes
    through file modes), the write bits removed otherwise. Proven read-only before it is used."""
    writable = destination.with_name(destination.name + "-files")
    shutil.copytree(source, writable)
    destination.mkdir()
    mounted = False
    if os.geteuid() == 0:
        subprocess.run(["mount", "--bind", str(writable), str(destination)], check=True)
        mounted = True
        subprocess.run(["mount", "-o", "remount,ro,bind", str(destination)], check=True)
    else:
        destination.rmdir()
        writable.rename(destination)
        for path in [destination, *destination.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
    try:
        try:
            (destination / "probe").write_text("x")
        except OSError:
            pass
        else:
            raise AssertionError(f"{destination} is writable: the test would prove nothing")
        yield destination
    finally:
        if mounted:
            subprocess.run(["umount", str(destination)], check=True)
        else:
            for path in [destination, *destination.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)
