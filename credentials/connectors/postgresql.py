"""PostgreSQL: COPY into a temporary staging table, then the strategy, in one transaction."""

from __future__ import annotations

import itertools
import json
import queue
import re
import threading
from array import array
from contextlib import contextmanager

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql

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
    column_type_problem,
    duplicate_key_error,
)
from jobs import pgbinary
from jobs.arrowload import as_csv
from jobs.coltypes import parse_type
from jobs.keyset import ExistingKeys, RepeatedKey

_COPY_CONTEXT = re.compile(r"COPY \S+, line (\d+)(?:, column ([^:]+))?(?:: \"(.*)\")?", re.S)
STAGE_TABLE = "etlportal_stage"
RAW_TABLE = "etlportal_raw"  # the fast path's fields as text
COPY_TEXT_BATCH = 2000  # rendered rows sent per write
STAGE_ROW = "etlportal_row"  # the staged row's position in the file (1 = first data row)
_INTEGER_KEYS = ("smallint", "integer", "bigint")


class PushdownRefused(Exception):
    """The fast path cannot load this file (a value its SQL refuses): nothing was written; use the row path."""


class PostgresConnector:
    label = "PostgreSQL"
    default_port = 5432
    supports_load = True
    accepts_copy_text = True  # rows may come pre-rendered in COPY's text format (LoadPlan.row_format)
    accepts_arrow_tables = True  # ... or as blocks of Arrow tables converted by the Arrow path
    copy_into_target = True  # INSERT COPYs straight into the target (no staging table)
    split_upsert_max_keys = 2_000_000  # an Arrow-path UPSERT into a table this big or smaller fetches its keys
    split_upsert_batch_bytes = 4 << 20  # ... and COPYs (and MERGEs) its rows in batches of this much data

    def __init__(self, params: ConnectionParams):
        self.params = params

    # -- connecting ---------------------------------------------------------------
    @property
    def where(self) -> str:
        return f"{self.params.host or 'localhost'}:{self.params.port or self.default_port}"

    def _connect_kwargs(self) -> dict:
        # TCP keepalives: a connection that died silently fails within minutes instead of hanging.
        options = {
            "connect_timeout": 10,
            "application_name": "etlportal",
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 6,
        }
        options.update(self.params.options or {})
        return {
            "host": self.params.host or None,
            "port": self.params.port or self.default_port,
            "dbname": self.params.database,
            "user": self.params.username or None,
            "password": self.params.password or None,
            "sslmode": self.params.sslmode or "prefer",
            **options,
        }

    def connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(**self._connect_kwargs())
        except psycopg.OperationalError as exc:
            reason, retryable = connection_reason(str(exc))
            raise ConnectorError(
                self.params.scrub(
                    f"Cannot connect to {self.label} at {self.where} (database {self.params.database!r}): {reason}"
                ),
                retryable=retryable,
            ) from None
        except psycopg.ProgrammingError as exc:  # e.g. an invalid option in extra options
            raise ConnectorError(
                self.params.scrub(f"Invalid connection settings for {self.label} at {self.where}: {exc}")
            ) from None

    def test(self) -> TestResult:
        try:
            with self.connect() as conn:
                version = conn.execute("SHOW server_version").fetchone()[0]
        except ConnectorError as exc:
            return TestResult(ok=False, message=exc.message)
        return TestResult(
            ok=True,
            message=f"Connected to {self.label} {version} at {self.where}, database {self.params.database!r}.",
            server_version=version,
        )

    # -- introspection and DDL -------------------------------------------------------
    def existing_columns(self, conn: psycopg.Connection, schema: str, table: str) -> dict[str, tuple[str, bool]] | None:
        """Column name -> (data type, nullable), or None when the table does not exist."""
        exists = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (schema, table),
        ).fetchone()
        if not exists:
            return None
        rows = conn.execute(
            "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        ).fetchall()
        return {name: (data_type, nullable) for name, data_type, nullable in rows}

    def browse(self, schema: str | None = None) -> list[str]:
        """The schemas a user may load into (schema None), or the tables of one schema."""
        with self.connect() as conn:
            try:
                if schema is None:
                    rows = conn.execute(
                        "SELECT schema_name FROM information_schema.schemata WHERE schema_name "
                        "NOT IN ('information_schema', 'pg_catalog', 'pg_toast') AND schema_name NOT LIKE 'pg\\_%' "
                        "ORDER BY 1"
                    ).fetchall()
                else:
                    rows = conn.execute(
                        "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = %s AND table_type = 'BASE TABLE' ORDER BY 1",
                        (schema,),
                    ).fetchall()
            except psycopg.Error as exc:
                raise ConnectorError(self.params.scrub(f"Cannot list what {self.where} holds: {_clip(str(exc))}"))
        return [name for (name,) in rows]

    def describe_table(self, schema: str, table: str) -> list[TargetColumn] | None:
        """The table's columns (name, type, nullable) in order, or None when it does not exist."""
        with self.connect() as conn:
            try:
                existing = self.existing_columns(conn, schema, table)
            except psycopg.Error as exc:
                raise ConnectorError(self.params.scrub(f"Cannot read {schema}.{table} at {self.where}: {exc}"))
        if existing is None:
            return None
        return [TargetColumn(name, data_type, nullable) for name, (data_type, nullable) in existing.items()]

    def ddl(self, plan: LoadPlan) -> str:
        """The CREATE TABLE a load would run, as text to show."""
        return self.create_table_sql(plan).as_string(None)

    def create_table_sql(self, plan: LoadPlan) -> sql.Composed:
        definitions = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(column.name),
                sql.SQL(column.sql_type),  # from coltypes.parse_type: a known name and integer sizes only
                sql.SQL("") if column.nullable else sql.SQL(" NOT NULL"),
            )
            for column in plan.columns
        ]
        if plan.key_columns and plan.strategy == "UPSERT":
            definitions.append(
                sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, plan.key_columns)))
            )
        return sql.SQL("CREATE TABLE {} ({})").format(
            sql.Identifier(plan.schema, plan.table), sql.SQL(", ").join(definitions)
        )

    # -- loading ----------------------------------------------------------------------
    def check(self, plan: LoadPlan) -> CheckResult:
        """What a load would find (dry runs): the table and its columns, checked; nothing written."""
        with self.connect() as conn:
            try:
                existing = self.existing_columns(conn, plan.schema, plan.table)
                if existing is None:
                    self._require_create(plan)
                    self._check_creatable(plan)
                    return CheckResult(
                        table_exists=False,
                        message=f"Table {plan.schema}.{plan.table} does not exist; the load would create it "
                        f"with {len(plan.columns)} columns.",
                    )
                self._check_columns(plan, existing)
                how = self._method(conn, plan)
                return CheckResult(
                    table_exists=True,
                    message=f"Table {plan.schema}.{plan.table} exists with the {len(plan.columns)} mapped "
                    f"columns; the load would use {how}.",
                )
            except psycopg.Error as exc:
                raise self._translate(exc, plan, array("q")) from None

    def _check_creatable(self, plan: LoadPlan) -> None:
        """Raise ConnectorError when the table the load would create cannot exist here (dry runs)."""

    def _method(self, conn: psycopg.Connection, plan: LoadPlan) -> str:
        """How the strategy would run against the existing table, for a dry run's message."""
        if plan.strategy != "UPSERT":
            return plan.strategy
        if not self._has_unique_key(conn, plan):
            return "UPDATE then INSERT (no unique key)"
        if self._may_split(conn, plan):
            return (
                "ON CONFLICT on its unique key, or for a clean UTF-8 file a COPY of the rows with new keys "
                "and a MERGE of the others"
            )
        return "ON CONFLICT on its unique key"

    @contextmanager
    def _loading(self, plan: LoadPlan, lines: array, register_cancel: RegisterCancel | None, *, refuse_data: bool):
        """A connection for one load, rolled back on any error, its errors told in one sentence.

        refuse_data: a value the database refuses comes from a fast path's conversion, and
        raises PushdownRefused so the caller converts row by row instead (which names the row).
        """
        with self.connect() as conn:
            if register_cancel is not None:
                register_cancel(conn.cancel_safe)
            try:
                yield conn
            except psycopg.errors.QueryCanceled as exc:
                # PostgreSQL: "... due to user request"; Redshift: "... cancelled on user's request".
                if "user request" not in str(exc) and "user's request" not in str(exc):
                    raise self._translate(exc, plan, lines) from None  # a server statement_timeout
                raise ConnectorError(
                    f"The load into {plan.schema}.{plan.table} was cancelled; nothing was written."
                ) from None
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                if refuse_data:
                    told = exc.diag.message_primary or str(exc)
                    if isinstance(exc, psycopg.errors.UniqueViolation) and exc.diag.message_detail:
                        told += f" ({exc.diag.message_detail})"  # "Key (id)=(150) already exists."
                    raise PushdownRefused(_clip(told)) from None
                raise self._translate(exc, plan, lines) from None
            except psycopg.Error as exc:
                raise self._translate(exc, plan, lines) from None

    def _start(self, conn: psycopg.Connection, plan: LoadPlan, on_event: EventCallback) -> tuple[bool, list[str]]:
        """Session settings, the table's lock, the table itself: (created, its NOT NULL columns)."""
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{plan.lock_timeout_seconds}s",))
        # Dates and naive timestamps going into timestamptz columns are UTC, whatever the server's zone.
        conn.execute("SET TIME ZONE 'UTC'")
        self._lock_target(conn, plan, on_event)
        return self._prepare_table(conn, plan, on_event)

    def _refuse_other_types(self, conn: psycopg.Connection, plan: LoadPlan) -> None:
        """A fast path writes the mapping's values; the server's casts into another column type
        (boolean into text, double into numeric) are not the row path's: let the row path convert."""
        mismatched = self._types_differ(conn, plan)
        if mismatched:
            raise PushdownRefused(f"column {mismatched!r} of the table is not of the mapping's type")

    def _finish(
        self,
        conn: psycopg.Connection,
        plan: LoadPlan,
        result: LoadResult,
        created: bool,
        before_commit: CommitGate | None,
        on_event: EventCallback,
    ) -> LoadResult:
        result.table_created = created
        if before_commit is not None:
            before_commit()
        on_event("commit", "Committing")
        self._commit(conn, plan)
        return result

    def load(
        self,
        plan: LoadPlan,
        rows: Rows,
        on_event: EventCallback,
        before_commit: CommitGate | None = None,
        register_cancel: RegisterCancel | None = None,
    ) -> LoadResult:
        lines = array("q")  # source line of each staged row, to point database errors at the file
        arrow = plan.row_format == "arrow_tables"  # converted by Arrow: the row path names a bad row
        with self._loading(plan, lines, register_cancel, refuse_data=arrow) as conn:
            created, not_null = self._start(conn, plan, on_event)
            if arrow:
                self._refuse_other_types(conn, plan)
            if plan.strategy == "INSERT" and self.copy_into_target:
                # Appending needs no staging: COPY straight into the target, in the same
                # transaction, so a failure still leaves nothing behind.
                on_event("load", f"Copying rows into {plan.schema}.{plan.table}")
                copied = self._copy_rows(conn, plan, sql.Identifier(plan.schema, plan.table), rows, lines)
                result = LoadResult(rows_written=copied, table_created=False, inserted=copied)
            elif arrow and plan.strategy == "UPSERT" and (keys := self._existing_keys(conn, plan)) is not None:
                result = self._upsert_split(conn, plan, rows, keys, not_null, on_event)
            else:
                # Rows staged by Arrow have no lines to point at, and an UPSERT on a unique key
                # writes them in any order: such a stage needs no row numbers (COPY is faster).
                numbered = not (arrow and plan.strategy == "UPSERT" and self._has_unique_key(conn, plan))
                self._create_stage(conn, plan, not_null, numbered=numbered)
                on_event("load", f"Copying rows into staging for {plan.schema}.{plan.table}")
                staged = self._write_stage(conn, plan, rows, lines)
                if plan.strategy == "UPSERT":
                    result = self._upsert_checked(conn, plan, staged, on_event, lines, named=not arrow)
                else:
                    result = self._apply(conn, plan, staged, on_event)
            return self._finish(conn, plan, result, created, before_commit, on_event)

    def load_pushdown(
        self,
        plan: LoadPlan,
        pushdown,
        raw_lines,
        on_event: EventCallback,
        before_commit: CommitGate | None = None,
        register_cancel: RegisterCancel | None = None,
    ) -> LoadResult:
        """The fast path (jobs.pushdown): raw text into a temporary table, converted by the server.

        `raw_lines` yields the records as lines of COPY text (Pushdown.render). Raises
        PushdownRefused, with everything rolled back, when a value does not pass the SQL
        conversions (or a raw line cannot be sent): the caller then loads on the row path, which
        names the bad rows. Other failures (connection, locks, cancel) are ConnectorErrors as in load().
        """
        raw = sql.Identifier(RAW_TABLE)
        with self._loading(plan, array("q"), register_cancel, refuse_data=True) as conn:
            pushdown = pushdown.for_server(conn.info.server_version)
            created, _ = self._start(conn, plan, on_event)
            self._refuse_other_types(conn, plan)
            columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in pushdown.raw_columns)
            conn.execute(sql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP").format(raw, columns))
            on_event("load", f"Copying the file's fields for {plan.schema}.{plan.table} (converted by the server)")
            copy_sql = sql.SQL("COPY {} FROM STDIN (DELIMITER E'\\x1f')").format(raw)
            with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
                staged = _send_lines(copy, raw_lines)
            converted = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(pushdown.select), raw)
            try:
                result = self._apply_pushdown(conn, plan, converted, staged, on_event)
            except psycopg.ProgrammingError as exc:  # e.g. an operator the column types lack
                raise PushdownRefused(_clip(exc.diag.message_primary or str(exc))) from None
            return self._finish(conn, plan, result, created, before_commit, on_event)

    def _commit(self, conn: psycopg.Connection, plan: LoadPlan) -> None:
        """COMMIT inside the load's error handling: a deferred constraint fails here, with a message.

        A connection lost during COMMIT leaves the outcome unknown, and the message says so.
        """
        try:
            conn.commit()
        except psycopg.OperationalError as exc:
            if exc.diag.sqlstate and not exc.diag.sqlstate.startswith(("08", "57P0")):
                raise
            raise ConnectorError(
                self.params.scrub(
                    f"Lost the connection to {self.label} at {self.where} while committing the load into "
                    f"{plan.schema}.{plan.table}: it may or may not have been written. Check the table before "
                    "running the job again."
                )
            ) from None

    def _types_differ(self, conn: psycopg.Connection, plan: LoadPlan) -> str | None:
        """The first mapped column whose type in the table is not exactly the mapping's type, or None."""
        found = dict(
            conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (sql.Identifier(plan.schema, plan.table).as_string(conn),),
            ).fetchall()
        )
        for column in plan.columns:
            try:
                same = parse_type(found[column.name]).sql == parse_type(column.sql_type).sql
            except (KeyError, ValueError):  # a type the portal does not know (arrays, enums, domains)
                same = False
            if not same:
                return column.name
        return None

    def _apply_pushdown(
        self, conn: psycopg.Connection, plan: LoadPlan, converted: sql.Composed, staged: int, on_event: EventCallback
    ) -> LoadResult:
        target = sql.Identifier(plan.schema, plan.table)
        names = self._names(plan)
        if plan.strategy in ("INSERT", "TRUNCATE_INSERT"):
            if plan.strategy == "TRUNCATE_INSERT":
                on_event("load", f"Replacing all rows of {plan.schema}.{plan.table}")
                conn.execute(sql.SQL("TRUNCATE {}").format(target))
            on_event("load", f"Converting and inserting {staged:,} rows")
            written = conn.execute(sql.SQL("INSERT INTO {} ({}) {}").format(target, names, converted)).rowcount
            return LoadResult(rows_written=written, table_created=False, inserted=written)
        # UPSERT: the converted rows become the usual staging table, numbered in file order.
        on_event("load", f"Converting {staged:,} rows")
        conn.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT *, row_number() OVER () AS {} FROM ({}) AS c ({})"
            ).format(sql.Identifier(STAGE_TABLE), sql.Identifier(STAGE_ROW), converted, names)
        )
        return self._upsert_checked(conn, plan, staged, on_event, None, named=False)

    def _lock_target(self, conn: psycopg.Connection, plan: LoadPlan, on_event: EventCallback) -> None:
        """One load at a time per destination table: a transaction-level advisory lock on its name.

        Another run (of this job or another one) loading the same table holds it until it commits;
        this one waits up to the lock timeout, then is refused with a message saying so.
        """
        key = f"etlportal:{plan.schema}.{plan.table}"
        locked = "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))"
        if conn.execute(locked, (key,)).fetchone()[0]:
            return
        on_event("prepare", f"Waiting for another load into {plan.schema}.{plan.table} to finish")
        try:
            # Waiting in the server (not polling here), so a cancel request interrupts the wait;
            # lock_timeout bounds it.
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
        except psycopg.errors.LockNotAvailable:
            raise ConnectorError(
                f"Another load into {plan.schema}.{plan.table} is in progress (waited "
                f"{plan.lock_timeout_seconds} s for it to finish). Loads into one table never interleave; "
                "run this one again when the other has finished. Nothing was written.",
                retryable=True,
            ) from None

    def _create_stage(
        self, conn: psycopg.Connection, plan: LoadPlan, not_null: list[str], *, numbered: bool = True
    ) -> None:
        """A temporary table shaped like the target, plus (numbered) the row's position in the file."""
        stage = sql.Identifier(STAGE_TABLE)
        conn.execute(
            sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                stage, self._names(plan), sql.Identifier(plan.schema, plan.table)
            )
        )
        if numbered:
            # COPY assigns these in file order: row n of the stage is entry n-1 of `lines`.
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN {} bigint GENERATED ALWAYS AS IDENTITY").format(
                    stage, sql.Identifier(STAGE_ROW)
                )
            )
        for name in not_null:  # so COPY reports a NULL in a NOT NULL column with its line
            conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL").format(stage, sql.Identifier(name)))

    def _write_stage(self, conn: psycopg.Connection, plan: LoadPlan, rows: Rows, lines: array) -> int:
        return self._copy_rows(conn, plan, sql.Identifier(STAGE_TABLE), rows, lines)

    def _copy_rows(
        self, conn: psycopg.Connection, plan: LoadPlan, table: sql.Identifier, rows: Rows, lines: array
    ) -> int:
        """COPY the rows into `table`, keeping each one's source line in `lines`.

        Rows come as tuples of Python values (psycopg formats them), or, when the plan says
        row_format="copy_text", as lines of COPY's text format that the transform rendered itself,
        which are sent in batches (the fast path: no Python object per value).
        """
        if plan.row_format == "arrow_tables":
            return self._copy_arrow(conn, plan, table, rows)
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(table, self._names(plan))
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            if plan.row_format == "copy_text":
                return _send_lines(copy, _keeping_lines(rows, lines))
            for line, values in rows:
                lines.append(line)
                try:
                    copy.write_row(values)
                except psycopg.DataError as exc:  # refused by the driver, before the server
                    raise ConnectorError(
                        self.params.scrub(f"Cannot send this row to {self.label}: {exc}. Nothing was written."),
                        line=line,
                    ) from None
        return len(lines)

    def _copy_arrow(self, conn: psycopg.Connection, plan: LoadPlan, table: sql.Identifier, blocks) -> int:
        """The Arrow path's blocks, (rows, converted table) each (jobs.arrowload), COPYed in
        binary when every column has an exact binary form (jobs.pgbinary), else as CSV.

        In binary the server parses no text: about half of its COPY time. A block is encoded
        here while the Arrow path's thread converts the next one. The columns' types are the
        mapping's: load() refused the Arrow path (_refuse_other_types) unless the table has
        exactly those, and a staging table is made from the table.
        """
        blocks = iter(blocks)
        first = next(blocks, None)
        if first is None:
            return 0
        column_types = [parse_type(column.sql_type).name for column in plan.columns]
        binary = pgbinary.encoder(first[1].schema.types, column_types)
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
            table, self._names(plan), sql.SQL("binary" if binary else "csv")
        )
        encode = binary or as_csv
        copied = 0
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            if binary:
                copy.write(pgbinary.HEADER)
            for count, data in itertools.chain([first], blocks):
                copied += count
                try:
                    chunk = encode(data)
                except pgbinary.BlockTypesChanged as exc:
                    raise PushdownRefused(str(exc)) from None
                copy.write(chunk)
            if binary:
                copy.write(pgbinary.TRAILER)
        return copied

    def _existing_keys(self, conn: psycopg.Connection, plan: LoadPlan) -> ExistingKeys | None:
        """The target's keys, when an Arrow-path UPSERT can split its rows by them (jobs.keyset).

        That needs MERGE (PostgreSQL 15), one integer key column with a unique index on it, and
        at most split_upsert_max_keys rows in the table (a bigger table keeps the staged
        ON CONFLICT: its keys would cost the worker's memory, and their fetch the time saved).
        """
        if not self._may_split(conn, plan) or not self._has_unique_key(conn, plan):
            return None
        (key,) = plan.key_columns
        target = sql.Identifier(plan.schema, plan.table)
        # More keys than allowed (the estimate was stale, or there was none): nothing is sent.
        fetch = sql.SQL(
            "SELECT CASE WHEN cardinality(k) <= %(most)s THEN array_send(k) END "
            "FROM (SELECT ARRAY(SELECT {}::bigint FROM {} WHERE {} IS NOT NULL LIMIT %(most)s + 1) AS k) AS keys"
        ).format(sql.Identifier(key), target, sql.Identifier(key))
        with conn.cursor(binary=True) as cursor:
            (data,) = cursor.execute(fetch, {"most": self.split_upsert_max_keys}).fetchone()
        return None if data is None else ExistingKeys.from_array_send(data)

    def _may_split(self, conn: psycopg.Connection, plan: LoadPlan) -> bool:
        """MERGE (PostgreSQL 15), one integer key column, and a table of at most
        split_upsert_max_keys rows by the planner's estimate (the unique key is checked apart).

        Not for a table with triggers of its own (ON CONFLICT runs BEFORE INSERT triggers on the
        incoming row before comparing it, MERGE compares the file's values, and statement
        triggers would fire once per batch), nor one under row-level security (no COPY into
        it), nor a key GENERATED ALWAYS AS IDENTITY (COPY would write it, ON CONFLICT refuses).
        """
        if conn.info.server_version < 150000 or len(plan.key_columns) != 1:
            return False
        (key,) = plan.key_columns
        if next(parse_type(c.sql_type).name for c in plan.columns if c.name == key) not in _INTEGER_KEYS:
            return False
        estimate, triggers, secured, identity = conn.execute(
            "SELECT c.reltuples, "
            "EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal), "
            "row_security_active(c.oid), "
            "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = c.oid AND attname = %s AND attidentity = 'a') "
            "FROM pg_class c WHERE c.oid = %s::regclass",
            (key, sql.Identifier(plan.schema, plan.table).as_string(conn)),
        ).fetchone()
        return estimate <= self.split_upsert_max_keys and not (triggers or secured or identity)

    def _upsert_split(
        self, conn: psycopg.Connection, plan: LoadPlan, blocks, keys: ExistingKeys, not_null: list[str], on_event
    ) -> LoadResult:
        """The Arrow path's UPSERT, its rows split by whether the table holds their key.

        Rows with a new key are COPYed straight into the table: there is no conflict to look
        for, and its unique index refuses a key repeated in the file, or written meanwhile by
        another session (PushdownRefused then sends the load to the row path, which names the
        lines). Rows with an existing key are COPYed into a staging table, a batch of a few MiB
        at a time, and a MERGE applies each batch: it updates the rows that differ and inserts a
        row another session deleted meanwhile. A thread of its own does the writing
        (_SplitWriter), while this one looks the keys up and encodes the next blocks (which
        the Arrow path's own thread converts).
        """
        names = [column.name for column in plan.columns]
        (key,) = plan.key_columns
        key_at = names.index(key)
        others = [name for name in names if name != key]
        blocks = iter(blocks)
        first = next(blocks, None)
        if first is None:
            return LoadResult(rows_written=0, table_created=False)
        if not pa.types.is_integer(first[1].schema.types[key_at]):
            raise PushdownRefused(f"the key column {key!r} was not converted to integers")
        self._create_stage(conn, plan, not_null, numbered=False)
        # Each batch's MERGE looks its keys up in the table's unique index; a hash join would
        # read the whole table once per batch.
        conn.execute("SET LOCAL enable_hashjoin = off")
        conn.execute("SET LOCAL enable_mergejoin = off")
        on_event(
            "load",
            f"Copying rows with new keys into {plan.schema}.{plan.table}, and merging the rows with one of "
            f"its {len(keys):,} keys",
        )
        column_types = [parse_type(column.sql_type).name for column in plan.columns]
        binary = pgbinary.encoder(first[1].schema.types, column_types)
        encode = binary or as_csv
        writer = _SplitWriter(
            conn, plan, binary is not None, self._merge_sql(plan, others), limit=self.split_upsert_batch_bytes
        )
        try:
            for _, table in itertools.chain([first], blocks):
                column = table.column(key_at)
                if column.null_count:
                    raise PushdownRefused("an empty UPSERT key")
                try:
                    found = keys.existing(column)
                    old = int(np.count_nonzero(found))
                    if old < table.num_rows:
                        writer.add("target", encode(table if not old else table.filter(pa.array(~found))))
                    if old:
                        writer.add("stage", encode(table if old == table.num_rows else table.filter(pa.array(found))))
                except RepeatedKey as exc:
                    raise PushdownRefused(str(exc)) from None
                except pgbinary.BlockTypesChanged as exc:
                    raise PushdownRefused(str(exc)) from None
            writer.finish()
        except BaseException:
            writer.stop()
            # A cancel or a lost connection on the writing thread tells more than what this
            # thread tripped on meanwhile (a repeated key would send the load to the row path).
            if isinstance(writer.error, psycopg.OperationalError):
                raise writer.error from None
            raise
        return LoadResult(
            rows_written=writer.inserted + writer.updated,
            table_created=False,
            inserted=writer.inserted,
            updated=writer.updated,
            unchanged=writer.unchanged,
        )

    @staticmethod
    def _merge_sql(plan: LoadPlan, others: list[str]) -> sql.Composed:
        """MERGE the staging table into the target, counted: EXPLAIN ANALYZE runs it, and tells
        how many rows it inserted, updated and skipped (PostgreSQL 15 and 16 have no other way to
        tell them apart: MERGE ... RETURNING came in 17)."""
        t, s = sql.Identifier("t"), sql.Identifier("s")
        names = [sql.Identifier(column.name) for column in plan.columns]
        update = sql.SQL("")
        if others:  # a table of keys alone has nothing to update: a missing key is inserted
            update = sql.SQL(
                "WHEN MATCHED AND ROW({}) IS DISTINCT FROM ROW({}) THEN UPDATE SET ({}) = ROW({}) "
            ).format(
                _comparable(plan, others, t),
                _comparable(plan, others, s),
                sql.SQL(", ").join(map(sql.Identifier, others)),
                sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(name)) for name in others),
            )
        return sql.SQL(
            "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) "
            "MERGE INTO {target} AS t USING {stage} AS s ON t.{key} = s.{key} "
            "{update}WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})"
        ).format(
            target=sql.Identifier(plan.schema, plan.table),
            stage=sql.Identifier(STAGE_TABLE),
            key=sql.Identifier(plan.key_columns[0]),
            update=update,
            names=sql.SQL(", ").join(names),
            values=sql.SQL(", ").join(sql.SQL("s.{}").format(name) for name in names),
        )

    def _upsert_checked(
        self,
        conn: psycopg.Connection,
        plan: LoadPlan,
        staged: int,
        on_event: EventCallback,
        lines: array | None,
        *,
        named: bool,
    ) -> LoadResult:
        """The UPSERT, once its keys are known to be present and unique in the file.

        An empty key is looked for first (cheap). A repeated one too, unless the statement refuses
        it on its own: INSERT ... ON CONFLICT DO UPDATE fails with cardinality_violation when two
        staged rows share a key, so searching for one (a GROUP BY over the whole stage, a second
        or so a million rows) only runs when it did. named: the rows have lines (the row path),
        and a problem is told with them; else PushdownRefused sends the load to the row path.
        """
        others = [column.name for column in plan.columns if column.name not in set(plan.key_columns)]
        refused_by_statement = bool(others) and self._has_unique_key(conn, plan)
        self._verify_keys(conn, plan, lines, named=named, repeated=not refused_by_statement)
        if not refused_by_statement:
            return self._apply(conn, plan, staged, on_event)
        try:
            with conn.transaction():  # a savepoint: the search below needs the transaction alive
                return self._apply(conn, plan, staged, on_event)
        except psycopg.errors.CardinalityViolation:
            self._verify_keys(conn, plan, lines, named=named, repeated=True)  # raises, with the lines
            raise

    def _verify_keys(
        self, conn: psycopg.Connection, plan: LoadPlan, lines: array | None, *, named: bool, repeated: bool
    ) -> None:
        if named:
            self._check_keys(conn, plan, lines, repeated=repeated)
        elif self._keys_trouble(conn, plan, repeated=repeated):
            raise PushdownRefused("an empty or repeated UPSERT key")  # the row path names the lines

    def _keys_trouble(self, conn: psycopg.Connection, plan: LoadPlan, *, repeated: bool = True) -> bool:
        """Whether the staged rows have an empty (or a repeated) UPSERT key: the fast paths, which have no lines."""
        stage = sql.Identifier(STAGE_TABLE)
        keys = [sql.Identifier(key) for key in plan.key_columns]
        empty = sql.SQL("SELECT 1 FROM {} WHERE {} LIMIT 1").format(
            stage, sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(k) for k in keys)
        )
        if conn.execute(empty).fetchone():
            return True
        if not repeated:
            return False
        twice = sql.SQL("SELECT 1 FROM {} GROUP BY {} HAVING count(*) > 1 LIMIT 1").format(
            stage, sql.SQL(", ").join(keys)
        )
        return bool(conn.execute(twice).fetchone())

    def _check_keys(self, conn: psycopg.Connection, plan: LoadPlan, lines: array, *, repeated: bool = True) -> None:
        """UPSERT keys must be present and unique in the file, or the result would depend on row order."""
        stage = sql.Identifier(STAGE_TABLE)
        row = sql.Identifier(STAGE_ROW)
        keys = [sql.Identifier(key) for key in plan.key_columns]
        missing = conn.execute(
            sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT 1").format(
                row, stage, sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(k) for k in keys), row
            )
        ).fetchone()
        if missing:
            raise ConnectorError(
                f"An UPSERT key column ({', '.join(plan.key_columns)}) is empty; every row needs its key. "
                "Nothing was written.",
                line=lines[missing[0] - 1],
            )
        if not repeated:
            return
        duplicate = conn.execute(
            sql.SQL(
                "SELECT {keys_text}, array_agg({row} ORDER BY {row}) FROM {stage} GROUP BY {keys} "
                "HAVING count(*) > 1 ORDER BY min({row}) LIMIT 1"
            ).format(
                keys_text=sql.SQL(", ").join(sql.SQL("{}::text").format(k) for k in keys),
                row=row,
                stage=stage,
                keys=sql.SQL(", ").join(keys),
            )
        ).fetchone()
        if duplicate:
            *values, positions = duplicate
            raise duplicate_key_error(plan, values, len(positions), [lines[p - 1] for p in positions[:5]])

    def _apply(self, conn: psycopg.Connection, plan: LoadPlan, staged: int, on_event: EventCallback) -> LoadResult:
        """The strategy, from the staging table into the target."""
        target = sql.Identifier(plan.schema, plan.table)
        stage = sql.Identifier(STAGE_TABLE)
        names = self._names(plan)
        insert = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ORDER BY {}").format(
            target, names, names, stage, sql.Identifier(STAGE_ROW)
        )
        if plan.strategy == "TRUNCATE_INSERT":
            # TRUNCATE is transactional in PostgreSQL: readers see the old rows until COMMIT, and
            # the table, its grants, indexes and dependent views stay as they are.
            on_event("load", f"Replacing all rows of {plan.schema}.{plan.table}")
            conn.execute(sql.SQL("TRUNCATE {}").format(target))
        if plan.strategy != "UPSERT":
            on_event("load", f"Inserting {staged:,} rows from staging")
            written = conn.execute(insert).rowcount
            return LoadResult(rows_written=written, table_created=False, inserted=written)
        on_event("load", f"Upserting {staged:,} rows on ({', '.join(plan.key_columns)})")
        keys = set(plan.key_columns)
        others = [column.name for column in plan.columns if column.name not in keys]
        if self._has_unique_key(conn, plan):
            # Keys are unique in the stage (checked), so the order rows are written in is free:
            # no sort of the whole stage.
            unordered = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(target, names, names, stage)
            inserted, updated = self._upsert_on_conflict(conn, plan, unordered, others)
        else:
            inserted, updated = self._upsert_update_insert(conn, plan, others)
        return LoadResult(
            rows_written=inserted + updated,
            table_created=False,
            inserted=inserted,
            updated=updated,
            unchanged=staged - inserted - updated,
        )

    def _upsert_on_conflict(
        self, conn: psycopg.Connection, plan: LoadPlan, insert: sql.Composed, others: list[str]
    ) -> tuple[int, int]:
        keys = sql.SQL(", ").join(map(sql.Identifier, plan.key_columns))
        if others:
            incoming = sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in others)
            action = sql.SQL("DO UPDATE SET ({}) = ROW({}) WHERE ROW({}) IS DISTINCT FROM ROW({})").format(
                sql.SQL(", ").join(map(sql.Identifier, others)),
                incoming,
                _comparable(plan, others, sql.Identifier(plan.table)),
                _comparable(plan, others, sql.SQL("EXCLUDED")),
            )
        else:
            action = sql.SQL("DO NOTHING")
        # xmax is 0 on a freshly inserted row version and set on an updated one.
        statement = sql.SQL(
            "WITH written AS ({} ON CONFLICT ({}) {} RETURNING (xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written"
        ).format(insert, keys, action)
        inserted, updated = conn.execute(statement).fetchone()
        return inserted, updated

    def _upsert_update_insert(self, conn: psycopg.Connection, plan: LoadPlan, others: list[str]) -> tuple[int, int]:
        """No unique key on the target: UPDATE the matching rows, then INSERT the others.

        Safe against concurrent runs of the portal (the advisory lock), not against other writers
        inserting the same keys meanwhile: give the table a primary key for that.
        """
        target = sql.Identifier(plan.schema, plan.table)
        stage = sql.Identifier(STAGE_TABLE)
        t, s = sql.Identifier("t"), sql.Identifier("s")
        match = sql.SQL(" AND ").join(
            sql.SQL("{}.{} = {}.{}").format(t, sql.Identifier(k), s, sql.Identifier(k)) for k in plan.key_columns
        )
        updated = 0
        if others:
            columns = sql.SQL(", ").join(map(sql.Identifier, others))
            incoming = sql.SQL(", ").join(sql.SQL("{}.{}").format(s, sql.Identifier(c)) for c in others)
            updated = conn.execute(
                sql.SQL(
                    "UPDATE {} AS t SET ({}) = ROW({}) FROM {} AS s WHERE {} AND ROW({}) IS DISTINCT FROM ROW({})"
                ).format(
                    target, columns, incoming, stage, match, _comparable(plan, others, t), _comparable(plan, others, s)
                )
            ).rowcount
        names = self._names(plan)
        inserted = conn.execute(
            sql.SQL(
                "INSERT INTO {} ({}) SELECT {} FROM {} AS s "
                "WHERE NOT EXISTS (SELECT 1 FROM {} AS t WHERE {}) ORDER BY {}"
            ).format(
                target,
                names,
                sql.SQL(", ").join(sql.SQL("{}.{}").format(s, sql.Identifier(c.name)) for c in plan.columns),
                stage,
                target,
                match,
                sql.SQL("{}.{}").format(s, sql.Identifier(STAGE_ROW)),
            )
        ).rowcount
        return inserted, updated

    def _has_unique_key(self, conn: psycopg.Connection, plan: LoadPlan) -> bool:
        """Whether the target has a primary key or unique index on exactly the key columns."""
        indexes = conn.execute(
            "SELECT array_agg(a.attname::text) FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indisvalid AND i.indimmediate "
            "AND i.indpred IS NULL AND i.indexprs IS NULL "
            "GROUP BY i.indexrelid",
            (sql.Identifier(plan.schema, plan.table).as_string(conn),),
        ).fetchall()
        return any(set(columns) == set(plan.key_columns) for (columns,) in indexes)

    @staticmethod
    def _names(plan: LoadPlan) -> sql.Composed:
        return sql.SQL(", ").join(sql.Identifier(column.name) for column in plan.columns)

    def _require_create(self, plan: LoadPlan) -> None:
        if not plan.create_table:
            raise ConnectorError(
                f"Table {plan.schema}.{plan.table} does not exist in database {self.params.database!r} at "
                f"{self.where}; create it, or turn on 'create table' for this job."
            )

    def _check_columns(self, plan: LoadPlan, existing: dict[str, tuple[str, bool]]) -> None:
        missing = [column.name for column in plan.columns if column.name not in existing]
        if missing:
            raise ConnectorError(
                f"Table {plan.schema}.{plan.table} has no column(s) {', '.join(missing)}; "
                f"its columns are {', '.join(existing) or '(none)'}."
            )
        problems = [
            problem
            for column in plan.columns
            if (problem := column_type_problem(column, existing[column.name][0])) is not None
        ]
        if problems:
            raise ConnectorError(f"Table {plan.schema}.{plan.table}: {'; '.join(problems)}. Nothing was written.")

    def _prepare_table(
        self, conn: psycopg.Connection, plan: LoadPlan, on_event: EventCallback
    ) -> tuple[bool, list[str]]:
        """Create the table when asked, or check the existing one. Returns (created, NOT NULL columns)."""
        existing = self.existing_columns(conn, plan.schema, plan.table)
        if existing is None:
            self._require_create(plan)
            schema_exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (plan.schema,)).fetchone()
            if not schema_exists:
                on_event("prepare", f"Creating schema {plan.schema}")
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(plan.schema)))
            on_event("prepare", f"Creating table {plan.schema}.{plan.table} with {len(plan.columns)} columns")
            conn.execute(self.create_table_sql(plan))
            return True, [column.name for column in plan.columns if not column.nullable]
        self._check_columns(plan, existing)
        return False, [column.name for column in plan.columns if not existing[column.name][1]]

    def _translate(self, exc: psycopg.Error, plan: LoadPlan, lines: array) -> ConnectorError:
        diag = exc.diag
        primary = diag.message_primary or str(exc).splitlines()[0]
        # 08xxx: connection exceptions; 57P01-57P03: the server terminated the session (a restart,
        # pg_terminate_backend, a failover). Either way the transaction is gone: try again.
        lost = not diag.sqlstate or diag.sqlstate.startswith("08") or diag.sqlstate in ("57P01", "57P02", "57P03")
        if isinstance(exc, psycopg.OperationalError) and lost:
            return ConnectorError(
                self.params.scrub(
                    f"Lost the connection to {self.label} at {self.where}: {primary}. Nothing was written."
                ),
                retryable=True,
            )
        if diag.sqlstate == "55P03":  # lock_not_available: lock_timeout expired
            return ConnectorError(
                f"Waited more than {plan.lock_timeout_seconds} s for a lock on {plan.schema}.{plan.table}: another "
                "session is holding it (a long query, an open transaction, a migration). Nothing was written.",
                retryable=True,
            )
        primary = primary.replace(f'relation "{STAGE_TABLE}"', f"table {plan.schema}.{plan.table}")
        message = f"{self.label} rejected the load into {plan.schema}.{plan.table}: {primary}"
        if diag.message_detail:
            message += f" ({diag.message_detail})"
        line = column = value = None
        match = _COPY_CONTEXT.search(diag.context or "")
        if match:
            copy_line = int(match.group(1))
            if 0 < copy_line <= len(lines):
                line = lines[copy_line - 1]
            column = match.group(2)
            value = match.group(3)
        return ConnectorError(
            self.params.scrub(message + ". Nothing was written."),
            line=line,
            column=column or diag.column_name or "",
            value=value or "",
        )


class _SplitWriter:
    """The split UPSERT's writing (PostgresConnector._upsert_split), on a thread of its own.

    Encoded blocks are gathered per destination ("target" or "stage") and handed over once they
    pass `limit` bytes; the thread COPYs each batch, and MERGEs and empties the staging table
    after a staged one. Meanwhile the caller converts and encodes the next blocks: one
    connection runs one statement at a time, and the caller would otherwise wait for each. At
    most `depth` batches wait (memory). The connection is the thread's until finish() or stop().
    """

    def __init__(
        self,
        conn: psycopg.Connection,
        plan: LoadPlan,
        binary: bool,
        merge: sql.Composed,
        limit: int,
        depth: int = 2,
    ):
        self.conn, self.binary, self.merge, self.limit = conn, binary, merge, limit
        names = sql.SQL(", ").join(sql.Identifier(column.name) for column in plan.columns)
        tables = {"target": sql.Identifier(plan.schema, plan.table), "stage": sql.Identifier(STAGE_TABLE)}
        fmt = sql.SQL("binary" if binary else "csv")
        self.copy_sql = {
            which: sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(table, names, fmt)
            for which, table in tables.items()
        }
        self.pending: dict[str, list] = {"target": [], "stage": []}
        self.size = {"target": 0, "stage": 0}
        self.inserted = self.updated = self.unchanged = 0
        self.error: BaseException | None = None
        self.handoff: queue.Queue = queue.Queue(maxsize=depth)
        self.thread = threading.Thread(target=self._run, name="upsert-writer", daemon=True)
        self.thread.start()

    def add(self, which: str, chunk) -> None:
        self.pending[which].append(chunk)
        self.size[which] += len(chunk)
        if self.size[which] >= self.limit:
            self._hand_over(which)

    def finish(self) -> None:
        """Write what is left, wait for the thread; its error, if any, is raised here."""
        self._hand_over("target")
        self._hand_over("stage")
        self._put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Leave (after finish(), or on the caller's error): the statement in flight ends first."""
        if not self.thread.is_alive():
            return
        while True:  # make room for the sentinel: what waits is not written
            try:
                self.handoff.get_nowait()
            except queue.Empty:
                break
        self.handoff.put(None)
        self.thread.join()

    def _hand_over(self, which: str) -> None:
        if self.pending[which]:
            self._put((which, self.pending[which]))
            self.pending[which], self.size[which] = [], 0

    def _put(self, item) -> None:
        while True:
            if self.error is not None:
                raise self.error
            try:
                self.handoff.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            while (item := self.handoff.get()) is not None:
                which, chunks = item
                rows = self._copy(which, chunks)
                if which == "target":
                    self.inserted += rows
                else:
                    self._merge()
        except BaseException as exc:  # raised on the caller's thread
            self.error = exc

    def _copy(self, which: str, chunks: list) -> int:
        with self.conn.cursor() as cursor:
            with cursor.copy(self.copy_sql[which]) as copy:
                if self.binary:
                    copy.write(pgbinary.HEADER)
                for chunk in chunks:
                    copy.write(chunk)
                if self.binary:
                    copy.write(pgbinary.TRAILER)
            return cursor.rowcount

    def _merge(self) -> None:
        (explained,) = self.conn.execute(self.merge).fetchone()
        if isinstance(explained, str):
            explained = json.loads(explained)
        node = explained[0]["Plan"]
        self.inserted += int(node["Tuples Inserted"])
        self.updated += int(node["Tuples Updated"])
        self.unchanged += int(node["Tuples Skipped"])
        self.conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(STAGE_TABLE)))


def _keeping_lines(rows, lines: array):
    """The rendered rows of (source line, text) pairs, noting each source line in `lines`."""
    for line, text in rows:
        lines.append(line)
        yield text


def _send_lines(copy, texts) -> int:
    """Lines of COPY text, sent COPY_TEXT_BATCH at a time; returns how many."""
    sent = 0
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) >= COPY_TEXT_BATCH:
            sent += len(batch)
            batch.append("")  # the last line's newline
            copy.write("\n".join(batch))
            batch.clear()
    if batch:
        sent += len(batch)
        batch.append("")
        copy.write("\n".join(batch))
    return sent


def _comparable(plan: LoadPlan, names: list[str], table: sql.Composable) -> sql.Composed:
    """table.column, ... for an IS DISTINCT FROM test: json has no equality, so it is compared as text."""
    types = {column.name: column.sql_type for column in plan.columns}
    return sql.SQL(", ").join(
        sql.SQL("{}.{}::text" if types.get(name) == "json" else "{}.{}").format(table, sql.Identifier(name))
        for name in names
    )


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def connection_reason(text: str) -> tuple[str, bool]:
    """The reason in a libpq connection error, and whether trying again may help."""
    first = text.strip().splitlines()[0] if text.strip() else "unknown error"
    reason = first.rsplit(" failed: ", 1)[-1]
    reason = re.sub(r"^(FATAL|ERROR):\s+", "", reason).strip()
    permanent = any(word in reason for word in ("password authentication", "does not exist", "no pg_hba.conf", "role"))
    return reason, not permanent
