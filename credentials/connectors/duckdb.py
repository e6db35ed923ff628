"""DuckDB: an embedded database file on the worker's disk.

`database` is the absolute path of the file, which the credential service has already
confined to DUCKDB_DIR: users must not be able to point the server at arbitrary paths.

A load runs in two steps on one connection:

1. Staging, outside any transaction on the file: rows arrive in batches of BATCH_ROWS, are
   turned into text columns of a pandas DataFrame (row-by-row executemany is very slow in
   DuckDB) and cast by DuckDB into a TEMPORARY table with the target's column types. Temporary
   tables live in memory (spilling to DuckDB's temp directory), never in the file, so a bad
   value found here leaves the file untouched, and the batch is still at hand to name its line.
2. One transaction on the file: create the schema/table if asked, then INSERT, UPSERT or
   TRUNCATE_INSERT from the staging table, the commit gate, COMMIT. Anything failing rolls back.

Column types: the mapping uses PostgreSQL's names (jobs.coltypes); a created table gets
text/varchar(n) -> VARCHAR (DuckDB keeps no length; the converter enforces it), smallint,
integer, bigint -> SMALLINT, INTEGER, BIGINT; numeric(p,s) -> DECIMAL(p,s) with p <= 38
(DuckDB's limit: a wider mapping is refused); numeric without precision -> DECIMAL(38,10),
and a value needing more than 10 decimal places is refused with its line rather than rounded;
double precision -> DOUBLE; real -> FLOAT; boolean, date, timestamp -> BOOLEAN, DATE,
TIMESTAMP; timestamptz -> TIMESTAMPTZ (the session time zone is UTC); uuid -> UUID;
json/jsonb -> JSON.

DuckDB lets one process at a time write a file: a load waits up to the plan's lock timeout for
another process to let go of it, then fails with a retryable error.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Context, Decimal
from itertools import islice
from pathlib import Path

from credentials.connectors.base import (
    CheckResult,
    CommitGate,
    ConnectionParams,
    ConnectorError,
    EventCallback,
    LoadPlan,
    LoadResult,
    RegisterCancel,
    Rows,
    TargetColumn,
    TestResult,
)

STAGE_TABLE = "etlportal_stage"
STAGE = f"temp.main.{STAGE_TABLE}"
BATCH_VIEW = "etlportal_batch"  # a registered DataFrame: a view in temp.main
BATCH_ROWS = 50_000
MAX_DECIMAL_WIDTH = 38
DEFAULT_NUMERIC = (38, 10)  # numeric without a precision; DuckDB has no unbounded decimal
LOCK_RETRY_SECONDS = 0.2
MAX_VALUE_CHARS = 200

_DECIMAL_TYPE = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
_ERROR_PREFIX = re.compile(r"^[A-Za-z ]*Error:\s*")
_WIDE = Context(prec=200)  # quantize without the default context's 28-digit limit

# What a mapping's values may go into, by the kind of the existing column (see _kind).
_COMPATIBLE = {
    "text": {"text", "json"},
    "varchar": {"text", "json"},
    "smallint": {"int", "decimal", "float", "text"},
    "integer": {"int", "decimal", "float", "text"},
    "bigint": {"int", "decimal", "float", "text"},
    "numeric": {"decimal", "float", "text"},
    "double precision": {"float", "decimal", "text"},
    "real": {"float", "decimal", "text"},
    "boolean": {"bool", "text"},
    "date": {"date", "timestamp", "timestamptz", "text"},
    "timestamp": {"timestamp", "timestamptz", "text"},
    "timestamptz": {"timestamptz", "text"},
    "uuid": {"uuid", "text"},
    "json": {"json", "text"},
    "jsonb": {"json", "text"},
}
_INTEGER_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
}


def quote(name: str) -> str:
    """A DuckDB identifier: always quoted, embedded double quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def duckdb_type(sql_type: str, column: str) -> str:
    """The DuckDB type a created table gets for a mapping type (module docstring)."""
    from jobs.coltypes import parse_type

    try:
        parsed = parse_type(sql_type)
    except ValueError as exc:
        raise ConnectorError(f"Column {column} has an unusable type: {exc}.", column=column) from None
    name, params = parsed.name, parsed.params
    if name == "numeric":
        if not params:
            return "DECIMAL({},{})".format(*DEFAULT_NUMERIC)
        precision, scale = params[0], params[1] if len(params) > 1 else 0
        if precision > MAX_DECIMAL_WIDTH:
            raise ConnectorError(
                f"Column {column} is {parsed.sql}, but DuckDB decimals hold at most {MAX_DECIMAL_WIDTH} digits; "
                f"map it to numeric({MAX_DECIMAL_WIDTH},{min(scale, MAX_DECIMAL_WIDTH)}) or less, "
                "or to double precision.",
                column=column,
            )
        return f"DECIMAL({precision},{scale})"
    return {
        "text": "VARCHAR",
        "varchar": "VARCHAR",
        "smallint": "SMALLINT",
        "integer": "INTEGER",
        "bigint": "BIGINT",
        "double precision": "DOUBLE",
        "real": "FLOAT",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMP",
        "timestamptz": "TIMESTAMPTZ",
        "uuid": "UUID",
        "json": "JSON",
        "jsonb": "JSON",
    }[name]


def _kind(duckdb_type_name: str) -> str:
    """Group an existing column's DuckDB type for the compatibility check."""
    upper = duckdb_type_name.upper()
    if upper in _INTEGER_TYPES:
        return "int"
    if upper.startswith("DECIMAL"):
        return "decimal"
    if upper in {"FLOAT", "REAL", "DOUBLE"}:
        return "float"
    if upper in {"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"}:
        return "timestamptz"
    if upper.startswith("TIMESTAMP"):  # TIMESTAMP, TIMESTAMP_S, _MS, _NS
        return "timestamp"
    return {"VARCHAR": "text", "JSON": "json", "BOOLEAN": "bool", "DATE": "date", "UUID": "uuid"}.get(upper, upper)


# Results are read with fetchall(): DuckDB 2 keeps a result that fetchone() did not read to its
# end open, and some calls on the connection (unregister) refuse to run until it is finished.


# -- Python values as text: DuckDB casts them into the staging table's types ----------------
def _json_text(value) -> str:
    return json.dumps(value, ensure_ascii=False)


_TEXT = {
    bool: lambda value: "true" if value else "false",
    int: int.__repr__,
    float: float.__repr__,  # round-trips exactly; inf, -inf and nan are understood by DuckDB
    Decimal: lambda value: format(value, "f"),  # never exponent notation: exact in any column
    date: date.isoformat,
    datetime: datetime.isoformat,  # an aware timestamp keeps its offset
    uuid.UUID: str,
    dict: _json_text,
    list: _json_text,
}


def _to_text(value) -> str:
    convert = _TEXT.get(value.__class__)
    if convert is not None:
        return convert(value)
    for cls in (bool, int, float, Decimal, datetime, date, uuid.UUID, dict, list):  # subclasses
        if isinstance(value, cls):
            return _TEXT[cls](value)
    return str(value)


def _text_column(values: tuple) -> tuple | list:
    classes = set(map(type, values))
    classes.discard(type(None))
    if not classes or classes == {str}:
        return values
    if len(classes) == 1:  # the usual case: one converter for the whole column, no lookup per value
        convert = _TEXT.get(classes.pop())
        if convert is not None:
            return [None if value is None else convert(value) for value in values]
    return [value if value is None or value.__class__ is str else _to_text(value) for value in values]


def _reason(exc: Exception) -> str:
    """The first line of a DuckDB message without its "Conversion Error: " prefix or final period."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return _ERROR_PREFIX.sub("", first).rstrip(". ") or type(exc).__name__


def _shorten(value: str) -> str:
    return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "..."


@dataclass(frozen=True)
class ExistingColumn:
    name: str
    sql_type: str  # as DuckDB names it: INTEGER, DECIMAL(12,2), TIMESTAMP WITH TIME ZONE, ...
    nullable: bool
    has_default: bool


@dataclass(frozen=True)
class ExistingTable:
    columns: dict[str, ExistingColumn]  # lower-cased name -> column (DuckDB names are case-insensitive)
    unique_keys: list[frozenset[str]]  # lower-cased column sets of the PRIMARY KEY and UNIQUE constraints

    def column(self, name: str) -> ExistingColumn | None:
        return self.columns.get(name.lower())


class _Interrupt:
    """The cancel function handed to register_cancel: safe to call from another thread, any time."""

    def __init__(self, conn):
        self.conn = conn
        self.requested = False
        self._lock = threading.Lock()
        self._open = True

    def __call__(self) -> None:
        # interrupt() only stops a statement in flight; the flag covers the time between statements.
        self.requested = True
        with self._lock:
            if self._open:
                self.conn.interrupt()

    def close(self) -> None:
        with self._lock:
            self._open = False


class _Cancelled(Exception):
    pass


class DuckDBConnector:
    label = "DuckDB"
    supports_load = True

    def __init__(self, params: ConnectionParams):
        self.params = params

    @property
    def path(self) -> Path:
        return Path(self.params.database)

    def test(self) -> TestResult:
        import duckdb

        path = self.path
        try:
            if not path.exists():
                return TestResult(
                    ok=True,
                    message=f"DuckDB {duckdb.__version__}: {path.name} does not exist yet; the first load creates it.",
                    server_version=duckdb.__version__,
                )
            with duckdb.connect(str(path), read_only=True) as conn:
                version = conn.execute("SELECT version()").fetchone()[0]
        except (duckdb.Error, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return TestResult(ok=False, message=f"Cannot open DuckDB file {path.name}: {reason}")
        return TestResult(
            ok=True, message=f"Opened DuckDB file {path.name} (DuckDB {version}).", server_version=version
        )

    # -- connecting ---------------------------------------------------------------------
    def connect(self, *, read_only: bool = False, lock_timeout_seconds: float = 60):
        """Open the file, waiting up to lock_timeout_seconds while another process holds it."""
        import duckdb

        if not read_only:
            # DUCKDB_DIR (the only place credentials may point at) is created with the first file.
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + max(lock_timeout_seconds, 0)
        while True:
            try:
                conn = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.ConnectionException as exc:
                # This process already has the file open read-write (another connection or thread):
                # DuckDB shares that instance, and reading through it writes nothing.
                if read_only and "different configuration" in str(exc):
                    read_only = False
                    continue
                raise self._cannot_open(exc) from None
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise self._cannot_open(exc) from None
                if time.monotonic() >= deadline:
                    raise ConnectorError(
                        f"Another load or process holds the DuckDB file {self.path.name} (waited "
                        f"{lock_timeout_seconds:g} s): DuckDB lets one process at a time write a file. "
                        "Try again when it has finished. Nothing was written.",
                        retryable=True,
                    ) from None
                time.sleep(min(LOCK_RETRY_SECONDS, max(deadline - time.monotonic(), 0.01)))
            except duckdb.Error as exc:
                raise self._cannot_open(exc) from None
        try:
            conn.execute("SET SESSION TimeZone = 'UTC'")  # dates and naive text into TIMESTAMPTZ: UTC
        except duckdb.Error:
            conn.close()
            raise
        return conn

    def _cannot_open(self, exc: Exception) -> ConnectorError:
        return ConnectorError(self.params.scrub(f"Cannot open DuckDB file {self.path.name}: {_reason(exc)}."))

    # -- introspection ------------------------------------------------------------------
    def existing_table(self, conn, schema: str, table: str) -> ExistingTable | None:
        """The table's columns and unique keys, or None when it does not exist (names match as DuckDB does)."""
        where = "database_name = current_database() AND lower(schema_name) = lower(?) AND lower(table_name) = lower(?)"
        table_exists = conn.execute(f"SELECT 1 FROM duckdb_tables() WHERE {where}", [schema, table]).fetchall()
        if not table_exists:
            view = conn.execute(
                "SELECT 1 FROM duckdb_views() WHERE database_name = current_database() "
                "AND lower(schema_name) = lower(?) AND lower(view_name) = lower(?)",
                [schema, table],
            ).fetchall()
            if view:
                raise ConnectorError(
                    f"{schema}.{table} in DuckDB file {self.path.name} is a view, not a table; load into its table."
                )
            return None
        columns = conn.execute(
            f"SELECT column_name, data_type, is_nullable, column_default IS NOT NULL FROM duckdb_columns() "
            f"WHERE {where} ORDER BY column_index",
            [schema, table],
        ).fetchall()
        keys = conn.execute(
            f"SELECT constraint_column_names FROM duckdb_constraints() WHERE {where} "
            "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
            [schema, table],
        ).fetchall()
        return ExistingTable(
            columns={
                name.lower(): ExistingColumn(name, data_type, nullable, has_default)
                for name, data_type, nullable, has_default in columns
            },
            unique_keys=[frozenset(name.lower() for name in names) for (names,) in keys],
        )

    def browse(self, schema: str | None = None) -> list[str]:
        """The schemas of the file (schema None), or the tables of one schema."""
        import duckdb

        if not self.path.exists():
            return [] if schema is not None else ["main"]  # the first load creates the file
        with self.connect(read_only=True, lock_timeout_seconds=5) as conn:
            try:
                if schema is None:
                    rows = conn.execute(
                        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() "
                        "AND NOT internal ORDER BY 1"
                    ).fetchall()
                else:
                    rows = conn.execute(
                        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                        "AND lower(schema_name) = lower(?) ORDER BY 1",
                        [schema],
                    ).fetchall()
            except duckdb.Error as exc:
                raise self._cannot_open(exc) from None
        return [name for (name,) in rows]

    def describe_table(self, schema: str, table: str) -> list[TargetColumn] | None:
        """The table's columns (name, type, nullable) in order, or None when it does not exist."""
        if not self.path.exists():
            return None
        with self.connect(read_only=True, lock_timeout_seconds=5) as conn:
            existing = self.existing_table(conn, schema, table)
        if existing is None:
            return None
        return [TargetColumn(c.name, c.sql_type, c.nullable) for c in existing.columns.values()]

    def ddl(self, plan: LoadPlan) -> str:
        """The CREATE TABLE a load would run, as text to show."""
        return self.create_table_sql(plan, self.path.stem)

    def verify_table(self, plan: LoadPlan, existing: ExistingTable) -> None:
        """Raise when the mapped columns do not fit the existing table (what load would refuse)."""
        from jobs.coltypes import parse_type

        where = f"{plan.schema}.{plan.table}"
        missing = [column.name for column in plan.columns if existing.column(column.name) is None]
        if missing:
            raise ConnectorError(
                f"Table {where} in DuckDB file {self.path.name} has no column(s) {', '.join(missing)}; "
                f"its columns are {', '.join(c.name for c in existing.columns.values())}."
            )
        problems = []
        problem_columns = []
        for column in plan.columns:
            target = existing.column(column.name)
            try:
                mapping = parse_type(column.sql_type)
            except ValueError:
                problems.append(f"{column.name} has an unknown mapping type {column.sql_type}")
                problem_columns.append(column.name)
                continue
            kind = _kind(target.sql_type)
            allowed = set(_COMPATIBLE[mapping.name])
            if mapping.name == "numeric" and mapping.params and (len(mapping.params) == 1 or mapping.params[1] == 0):
                allowed.add("int")  # whole numbers only
            if kind not in allowed:
                problems.append(f"column {target.name} is {target.sql_type} but the mapping gives it {mapping.sql}")
                problem_columns.append(column.name)
        if problems:
            raise ConnectorError(
                f"Table {where} in DuckDB file {self.path.name} cannot take the mapped values: "
                f"{'; '.join(problems)}. Change the mapping's type or the column.",
                column=problem_columns[0] if len(problem_columns) == 1 else "",
            )
        mapped = {column.name.lower() for column in plan.columns}
        required = [
            c.name for key, c in existing.columns.items() if key not in mapped and not c.nullable and not c.has_default
        ]
        if required:
            raise ConnectorError(
                f"Table {where} in DuckDB file {self.path.name} has NOT NULL column(s) {', '.join(required)} "
                "without a default that the job does not map; map them or give them a default."
            )

    def _validate_plan(self, plan: LoadPlan) -> None:
        if plan.strategy not in {"INSERT", "UPSERT", "TRUNCATE_INSERT"}:
            raise ConnectorError(f"Unknown load strategy {plan.strategy}; use INSERT, UPSERT or TRUNCATE_INSERT.")
        if not plan.columns:
            raise ConnectorError(f"The load into {plan.schema}.{plan.table} maps no columns.")
        if plan.strategy == "UPSERT":
            names = {column.name for column in plan.columns}
            if not plan.key_columns:
                raise ConnectorError("UPSERT needs key columns to match rows; choose them in the job.")
            unknown = [key for key in plan.key_columns if key not in names]
            if unknown:
                raise ConnectorError(f"UPSERT key column(s) {', '.join(unknown)} are not among the mapped columns.")

    def _missing_table(self, plan: LoadPlan) -> ConnectorError:
        return ConnectorError(
            f"Table {plan.schema}.{plan.table} does not exist in DuckDB file {self.path.name}; "
            "create it, or turn on 'create table' for this job."
        )

    def create_table_sql(self, plan: LoadPlan, catalog: str) -> str:
        keys = set(plan.key_columns) if plan.strategy == "UPSERT" else set()
        definitions = [
            f"{quote(column.name)} {duckdb_type(column.sql_type, column.name)}"
            + ("" if column.nullable and column.name not in keys else " NOT NULL")
            for column in plan.columns
        ]
        if keys:
            definitions.append(f"PRIMARY KEY ({', '.join(quote(key) for key in plan.key_columns)})")
        target = f"{quote(catalog)}.{quote(plan.schema)}.{quote(plan.table)}"
        return f"CREATE TABLE {target} ({', '.join(definitions)})"

    # -- dry run --------------------------------------------------------------------------
    def check(self, plan: LoadPlan) -> CheckResult:
        import duckdb

        self._validate_plan(plan)
        where = f"{plan.schema}.{plan.table}"
        creating = f"the load would create it with {len(plan.columns)} columns"
        if not self.path.exists():
            if not plan.create_table:
                raise self._missing_table(plan)
            for column in plan.columns:
                duckdb_type(column.sql_type, column.name)
            return CheckResult(
                table_exists=False,
                message=f"DuckDB file {self.path.name} does not exist yet: table {where} would be created "
                f"({creating}).",
            )
        conn = self.connect(read_only=True, lock_timeout_seconds=plan.lock_timeout_seconds)
        try:
            existing = self.existing_table(conn, plan.schema, plan.table)
        except duckdb.Error as exc:
            raise ConnectorError(f"Cannot read DuckDB file {self.path.name}: {_reason(exc)}.") from None
        finally:
            conn.close()
        if existing is None:
            if not plan.create_table:
                raise self._missing_table(plan)
            for column in plan.columns:
                duckdb_type(column.sql_type, column.name)
            return CheckResult(
                table_exists=False,
                message=f"Table {where} does not exist in DuckDB file {self.path.name}; it would be created "
                f"({creating}).",
            )
        self.verify_table(plan, existing)
        how = plan.strategy
        if plan.strategy == "UPSERT":
            unique = frozenset(key.lower() for key in plan.key_columns) in existing.unique_keys
            how = "ON CONFLICT on its unique key" if unique else "UPDATE then INSERT (no unique key)"
        return CheckResult(
            table_exists=True,
            message=f"Table {where} exists in DuckDB file {self.path.name} with the {len(plan.columns)} mapped "
            f"columns; the load would use {how}.",
        )

    # -- loading --------------------------------------------------------------------------
    def load(
        self,
        plan: LoadPlan,
        rows: Rows,
        on_event: EventCallback,
        before_commit: CommitGate | None = None,
        register_cancel: RegisterCancel | None = None,
    ) -> LoadResult:
        import duckdb

        self._validate_plan(plan)
        new_file = not self.path.exists()
        if new_file and not plan.create_table:
            raise self._missing_table(plan)  # and do not create an empty file to say so
        on_event("prepare", f"Opening DuckDB file {self.path.name}")
        conn = self.connect(lock_timeout_seconds=plan.lock_timeout_seconds)
        interrupt = _Interrupt(conn)
        succeeded = created_file = False
        try:
            # Nothing of value in it: a failed load may remove the file it created (see below).
            created_file = (
                new_file
                and not conn.execute(
                    "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()"
                ).fetchall()[0][0]
            )
            if register_cancel is not None:
                register_cancel(interrupt)
            result = _Load(self, conn, plan, on_event, interrupt).run(rows, before_commit)
            succeeded = True
            return result
        except duckdb.Error as exc:  # outside a load step: reading the catalog
            raise ConnectorError(
                self.params.scrub(f"DuckDB rejected the load into {plan.schema}.{plan.table}: {_reason(exc)}. ")
                + "Nothing was written."
            ) from None
        finally:
            interrupt.close()
            if not succeeded and created_file:
                # Still holding the file's lock, so no other process can have opened it meanwhile.
                for leftover in (self.path, self.path.with_name(self.path.name + ".wal")):
                    try:
                        leftover.unlink(missing_ok=True)
                    except OSError:
                        pass
            conn.close()


class _Load:
    """One load on an open connection: staging, then the strategy in one transaction."""

    def __init__(self, connector: DuckDBConnector, conn, plan: LoadPlan, on_event: EventCallback, interrupt):
        self.connector = connector
        self.conn = conn
        self.plan = plan
        self.on_event = on_event
        self.interrupt = interrupt
        self.where = f"{plan.schema}.{plan.table}"
        self.file = connector.path.name
        catalog = conn.execute("SELECT current_database()").fetchall()[0][0]
        self.catalog = catalog
        self.target = f"{quote(catalog)}.{quote(plan.schema)}.{quote(plan.table)}"
        self.names = [column.name for column in plan.columns]
        self.stage_columns = [f"c{index}" for index in range(len(plan.columns))]
        self.existing: ExistingTable | None = None
        self.types: list[str] = []
        self.lines_staged = 0

    def run(self, rows: Rows, before_commit: CommitGate | None) -> LoadResult:
        import duckdb

        try:
            self._prepare()
            self._stage(rows)
            if self.plan.strategy == "UPSERT":
                self._check_duplicate_keys()
            self._check_cancelled()
        except duckdb.Error as exc:
            raise self._translate(exc) from None
        except _Cancelled:
            raise self._cancelled() from None
        try:
            self.conn.execute("BEGIN TRANSACTION")
            created = self._create_if_missing()
            result = self._apply()
            result.table_created = created
            self._check_cancelled()
            if before_commit is not None:
                before_commit()
            self.on_event("commit", "Committing")
            self.conn.execute("COMMIT")
            return result
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, _Cancelled):
                raise self._cancelled() from None
            if isinstance(exc, duckdb.Error):
                raise self._translate(exc, after_rollback=True) from None
            raise

    # -- before the transaction -----------------------------------------------------------
    def _prepare(self) -> None:
        plan = self.plan
        self.existing = self.connector.existing_table(self.conn, plan.schema, plan.table)
        if self.existing is None:
            if not plan.create_table:
                raise self.connector._missing_table(plan)
            self.types = [duckdb_type(column.sql_type, column.name) for column in plan.columns]
        else:
            self.connector.verify_table(plan, self.existing)
            self.types = [self.existing.column(column.name).sql_type for column in plan.columns]
            # The table's own spelling of each name (DuckDB matches names case-insensitively).
            self.names = [self.existing.column(column.name).name for column in plan.columns]

    def _stage(self, rows: Rows) -> None:
        definitions = ", ".join(
            f"{name} {sql_type}" for name, sql_type in zip(self.stage_columns, self.types, strict=True)
        )
        self.conn.execute(f"CREATE TEMPORARY TABLE {STAGE_TABLE} (line BIGINT, {definitions})")
        self.on_event("load", f"Staging rows for {self.where}")
        rows = iter(rows)
        while batch := list(islice(rows, BATCH_ROWS)):
            lines, values = zip(*batch, strict=True)
            self._stage_batch(lines, values)
            self._check_cancelled()

    def _stage_batch(self, lines: tuple[int, ...], values: tuple[tuple, ...]) -> None:
        import numpy as np
        import pandas as pd

        width = len(self.types)
        if set(map(len, values)) != {width}:
            index = next(i for i, row in enumerate(values) if len(row) != width)
            raise ConnectorError(
                f"Line {lines[index]} has {len(values[index])} values for the {width} mapped columns of "
                f"{self.where}. Nothing was written.",
                line=lines[index],
            )
        columns = list(zip(*values, strict=True))
        self._check_not_null(lines, columns)
        self._check_exact_decimals(lines, columns)
        texts = [_text_column(column) for column in columns]
        frame = pd.DataFrame(
            {
                "line": np.array(lines, dtype=np.int64),
                **{name: np.array(text, dtype=object) for name, text in zip(self.stage_columns, texts, strict=True)},
            },
            copy=False,
        )
        casts = ", ".join(
            f"CAST({name} AS {sql_type})" for name, sql_type in zip(self.stage_columns, self.types, strict=True)
        )
        self.conn.register(BATCH_VIEW, frame)
        try:
            self.conn.execute(f"INSERT INTO {STAGE} SELECT line, {casts} FROM temp.main.{BATCH_VIEW}")
        except Exception as exc:
            import duckdb

            if isinstance(exc, duckdb.InterruptException) or not isinstance(exc, duckdb.Error):
                raise
            located = self._locate_bad_value(exc) or self._locate_unencodable(lines, texts)
            if located is None:
                raise
            raise located from None
        finally:
            self.conn.unregister(BATCH_VIEW)
        self.lines_staged += len(lines)

    def _check_not_null(self, lines: tuple[int, ...], columns: list[tuple]) -> None:
        keys = set(self.plan.key_columns) if self.plan.strategy == "UPSERT" else set()
        for index, column in enumerate(self.plan.columns):
            existing = self.existing.column(column.name) if self.existing else None
            is_key = column.name in keys
            required = is_key or (not existing.nullable if existing else not column.nullable)
            if required and None in columns[index]:
                line = lines[columns[index].index(None)]
                why = (
                    "it is a key column of the UPSERT"
                    if is_key
                    else f"the column is NOT NULL in {self.where}"
                    if existing
                    else "the mapping makes the column NOT NULL"
                )
                raise ConnectorError(
                    f"Line {line} has no value for column {column.name}, but {why}. Nothing was written.",
                    line=line,
                    column=column.name,
                )

    def _check_exact_decimals(self, lines: tuple[int, ...], columns: list[tuple]) -> None:
        """A numeric mapping without a scale means "keep the value as written": never round it silently."""
        from jobs.coltypes import parse_type

        for index, column in enumerate(self.plan.columns):
            match = _DECIMAL_TYPE.fullmatch(self.types[index])
            if not match or parse_type(column.sql_type) != parse_type("numeric"):
                continue
            scale = int(match.group(2))
            step = Decimal(1).scaleb(-scale)
            for position, value in enumerate(columns[index]):
                if (
                    isinstance(value, Decimal)
                    and value.is_finite()
                    and value.as_tuple().exponent < -scale
                    and value != value.quantize(step, context=_WIDE)
                ):
                    raise ConnectorError(
                        f"Line {lines[position]}: {value} in column {column.name} has more than {scale} decimal "
                        f"places, more than its DuckDB type {self.types[index]} keeps; give the mapping a scale "
                        "(numeric(p,s)) to round it. Nothing was written.",
                        line=lines[position],
                        column=column.name,
                        value=_shorten(str(value)),
                    )

    def _locate_bad_value(self, exc: Exception) -> ConnectorError | None:
        """The first staged value DuckDB cannot cast (the failed batch is still registered)."""
        import duckdb

        found = None
        for name, sql_type, column in zip(self.stage_columns, self.types, self.names, strict=True):
            try:
                rows = self.conn.execute(
                    f"SELECT line, {name} FROM temp.main.{BATCH_VIEW} "
                    f"WHERE {name} IS NOT NULL AND TRY_CAST({name} AS {sql_type}) IS NULL ORDER BY line LIMIT 1"
                ).fetchall()
            except duckdb.Error:
                continue
            row = rows[0] if rows else None
            if row is not None and (found is None or row[0] < found[0]):
                found = (row[0], row[1], column, sql_type)
        if found is None:
            return None
        line, value, column, sql_type = found
        return ConnectorError(
            self.connector.params.scrub(
                f"DuckDB rejected the load into {self.where}: line {line}, column {column}: "
                f"{_shorten(value)!r} is not a valid {sql_type} ({_reason(exc)}). Nothing was written."
            ),
            line=line,
            column=column,
            value=_shorten(value),
        )

    def _locate_unencodable(self, lines: tuple[int, ...], texts: list) -> ConnectorError | None:
        """A string DuckDB cannot take as UTF-8 (a lone surrogate from a decoding error)."""
        for position in range(len(lines)):
            for column, text in zip(self.names, texts, strict=True):
                value = text[position]
                if value is None:
                    continue
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    shown = _shorten(value.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace"))
                    return ConnectorError(
                        f"DuckDB rejected the load into {self.where}: line {lines[position]}, column {column}: "
                        f"'{shown}' is not valid UTF-8 text (a character could not be encoded). Nothing was written.",
                        line=lines[position],
                        column=column,
                        value=shown,
                    )
        return None

    def _check_duplicate_keys(self) -> None:
        keys = [self.stage_columns[self.plan.columns.index(self._plan_column(key))] for key in self.plan.key_columns]
        key_list = ", ".join(keys)
        found = self.conn.execute(
            f"SELECT {key_list}, lines, count(*) OVER () FROM ("
            f"SELECT {key_list}, list(line ORDER BY line) AS lines FROM {STAGE} GROUP BY {key_list} "
            f"HAVING count(*) > 1) ORDER BY lines[2] LIMIT 3"
        ).fetchall()
        if not found:
            return
        described = []
        for row in found:
            key = ", ".join(
                f"{name}={_shorten(str(value))}" for name, value in zip(self.plan.key_columns, row, strict=False)
            )
            lines = row[len(keys)]
            shown = ", ".join(str(line) for line in lines[:5]) + (" ..." if len(lines) > 5 else "")
            described.append(f"{key} on lines {shown}")
        total = found[0][-1]
        raise ConnectorError(
            f"The file has {total} key(s) that appear more than once, so UPSERT into {self.where} cannot tell "
            f"which row wins: {'; '.join(described)}{'; ...' if total > len(found) else ''}. "
            "Nothing was written.",
            line=found[0][len(keys)][1],
            column=self.plan.key_columns[0],
            value=_shorten(str(found[0][0])),
        )

    def _plan_column(self, name: str):
        return next(column for column in self.plan.columns if column.name == name)

    def _check_cancelled(self) -> None:
        if self.interrupt.requested:
            raise _Cancelled

    # -- the transaction --------------------------------------------------------------------
    def _create_if_missing(self) -> bool:
        if self.existing is not None:
            return False
        schema_exists = self.conn.execute(
            "SELECT 1 FROM duckdb_schemas() WHERE database_name = current_database() AND lower(schema_name) = lower(?)",
            [self.plan.schema],
        ).fetchall()
        if not schema_exists:
            self.on_event("prepare", f"Creating schema {self.plan.schema}")
            self.conn.execute(f"CREATE SCHEMA {quote(self.catalog)}.{quote(self.plan.schema)}")
        self.on_event("prepare", f"Creating table {self.where} with {len(self.plan.columns)} columns")
        self.conn.execute(self.connector.create_table_sql(self.plan, self.catalog))
        self.existing = ExistingTable(
            columns={},
            unique_keys=[frozenset(key.lower() for key in self.plan.key_columns)]
            if self.plan.strategy == "UPSERT"
            else [],
        )
        return True

    def _insert_sql(self, where: str = "", conflict: str = "") -> str:
        names = ", ".join(quote(name) for name in self.names)
        return (
            f"INSERT INTO {self.target} AS t ({names}) SELECT {', '.join(self.stage_columns)} FROM {STAGE} AS s"
            f"{where}{conflict}"
        )

    def _apply(self) -> LoadResult:
        strategy = self.plan.strategy
        if strategy == "TRUNCATE_INSERT":
            # DELETE, not DROP: the table, its constraints and the views on it stay; all in this transaction.
            self.on_event("load", f"Removing the rows of {self.where}")
            self.conn.execute(f"DELETE FROM {self.target}")
        if strategy in {"INSERT", "TRUNCATE_INSERT"}:
            self.on_event("load", f"Inserting {self.lines_staged:,} rows into {self.where}")
            written = self.conn.execute(self._insert_sql()).fetchall()[0][0]
            return LoadResult(rows_written=written, table_created=False, inserted=written)
        return self._upsert()

    def _upsert(self) -> LoadResult:
        keys = [
            name
            for name, column in zip(self.names, self.plan.columns, strict=True)
            if column.name in self.plan.key_columns
        ]
        stage_of = dict(zip(self.names, self.stage_columns, strict=True))
        others = [name for name in self.names if name not in keys]
        match = " AND ".join(f"t.{quote(key)} = s.{stage_of[key]}" for key in keys)
        same = " AND ".join(f"t.{quote(name)} IS NOT DISTINCT FROM s.{stage_of[name]}" for name in others) or "TRUE"
        self.on_event("load", f"Comparing {self.lines_staged:,} rows with {self.where} on {', '.join(keys)}")
        inserted, updated, unchanged = self.conn.execute(
            "SELECT count(*) FILTER (WHERE NOT matched), count(*) FILTER (WHERE matched AND NOT same), "
            "count(*) FILTER (WHERE same) FROM ("
            f"SELECT EXISTS (SELECT 1 FROM {self.target} AS t WHERE {match}) AS matched, "
            f"EXISTS (SELECT 1 FROM {self.target} AS t WHERE {match} AND {same}) AS same FROM {STAGE} AS s)"
        ).fetchall()[0]
        self.on_event(
            "load", f"Upserting into {self.where}: {inserted:,} new, {updated:,} changed, {unchanged:,} unchanged"
        )
        if frozenset(key.lower() for key in keys) in self.existing.unique_keys:
            key_list = ", ".join(quote(key) for key in keys)
            if others:
                assignments = ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in others)
                changed = " AND ".join(
                    f"t.{quote(name)} IS NOT DISTINCT FROM excluded.{quote(name)}" for name in others
                )
                conflict = f" ON CONFLICT ({key_list}) DO UPDATE SET {assignments} WHERE NOT ({changed})"
            else:
                conflict = f" ON CONFLICT ({key_list}) DO NOTHING"
            self.conn.execute(self._insert_sql(conflict=conflict))
        else:
            # No constraint to conflict on: update the rows that differ, then insert the new keys.
            if others and updated:
                assignments = ", ".join(f"{quote(name)} = s.{stage_of[name]}" for name in others)
                self.conn.execute(
                    f"UPDATE {self.target} AS t SET {assignments} FROM {STAGE} AS s WHERE {match} AND NOT ({same})"
                )
            if inserted:
                self.conn.execute(
                    self._insert_sql(where=f" WHERE NOT EXISTS (SELECT 1 FROM {self.target} AS t WHERE {match})")
                )
        return LoadResult(
            rows_written=inserted + updated,
            table_created=False,
            inserted=inserted,
            updated=updated,
            unchanged=unchanged,
        )

    def _rollback(self) -> None:
        import duckdb

        try:
            self.conn.execute("ROLLBACK")
        except duckdb.Error:
            pass  # nothing to roll back (BEGIN failed) or the connection is gone: nothing was committed

    # -- errors -------------------------------------------------------------------------------
    def _cancelled(self) -> ConnectorError:
        return ConnectorError(f"The load into {self.where} was cancelled; nothing was written.")

    def _translate(self, exc: Exception, after_rollback: bool = False) -> ConnectorError:
        import duckdb

        if isinstance(exc, duckdb.InterruptException) or self.interrupt.requested:
            return self._cancelled()
        reason = _reason(exc)
        if isinstance(exc, duckdb.TransactionException) and "conflict" in reason.lower():
            return ConnectorError(
                f"Another load wrote to {self.where} in DuckDB file {self.file} at the same time ({reason}). "
                "Nothing was written.",
                retryable=True,
            )
        line = column = None
        if isinstance(exc, duckdb.ConstraintException) and after_rollback:
            line, column = self._locate_key_violation()
        if isinstance(exc, duckdb.OutOfMemoryException):
            reason += "; give the worker more memory or load a smaller file"
        where = f" (line {line}, column {column})" if line is not None else ""
        return ConnectorError(
            self.connector.params.scrub(
                f"DuckDB rejected the load into {self.where}{where}: {reason}. Nothing was written."
            ),
            line=line,
            column=column or "",
        )

    def _locate_key_violation(self) -> tuple[int | None, str | None]:
        """After a rollback: the first staged row whose key repeats in the file or, for INSERT, in the table."""
        import duckdb

        stage_of = {name.lower(): stage for name, stage in zip(self.names, self.stage_columns, strict=True)}
        for key in self.existing.unique_keys if self.existing else []:
            if not key <= stage_of.keys():
                continue
            stage_keys = [stage_of[name] for name in sorted(key)]
            key_list = ", ".join(stage_keys)
            queries = [
                f"SELECT min(line) FROM (SELECT line, row_number() OVER (PARTITION BY {key_list} ORDER BY line) AS n "
                f"FROM {STAGE}) WHERE n > 1"
            ]
            if self.plan.strategy == "INSERT":
                match = " AND ".join(f"t.{quote(name)} = s.{stage_of[name]}" for name in sorted(key))
                queries.append(
                    f"SELECT min(line) FROM {STAGE} AS s WHERE EXISTS (SELECT 1 FROM {self.target} AS t WHERE {match})"
                )
            lines = []
            for query in queries:
                try:
                    lines.append(self.conn.execute(query).fetchall()[0][0])
                except duckdb.Error:
                    continue
            lines = [line for line in lines if line is not None]
            if lines:
                names = [self.names[self.stage_columns.index(stage)] for stage in stage_keys]
                return min(lines), ", ".join(names)
        return None, None
