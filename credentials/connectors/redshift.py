"""Amazon Redshift: the PostgreSQL connector's load plan in statements Redshift accepts.

Redshift speaks the PostgreSQL protocol but has no COPY FROM STDIN (only from S3), no advisory
locks, no ON CONFLICT, no array_agg, no `GENERATED ... AS IDENTITY` (and IDENTITY values are not
in insertion order), no ON COMMIT DROP, and its TRUNCATE commits the transaction. Every statement
here is also valid on PostgreSQL 15+ (MERGE), which is how the tests run it; the one exception is
a session setting sent only when the server says it is Redshift (`connect`).

A load runs in two transactions on one connection:

1. Staging. A TEMP table with the target's column types, read from the catalog (reading the
   table would wait for a load holding its lock), or the mapping's when the load creates it,
   plus `etlportal_row bigint`, filled by multi-row `INSERT ... VALUES` with bound
   parameters (text format, which Redshift takes for every type) in statements of at most
   `batch_rows` rows, 32,767 parameters (the protocol's limit on Redshift) and `batch_chars`
   characters of text (Redshift refuses statements over 16 MB). `etlportal_row` is numbered
   1, 2, 3 ... here, in file order, so row n is entry n-1 of `lines`. Empty UPSERT keys and
   NULLs for NOT NULL columns are refused as the rows go by, with their line; a value the
   server refuses (too long, out of range) is found by re-sending the failed statement's rows in
   halves in throwaway transactions (Redshift has no savepoints), so the error names its line.
   Duplicate UPSERT keys are refused from the staging table. Only the session's temporary table
   changes, so this transaction commits: nobody waits for the upload, however long it takes.
2. Applying. `LOCK TABLE target` first (Redshift's only explicit lock: exclusive, held to COMMIT;
   on PostgreSQL it is ACCESS EXCLUSIVE), waiting at most the plan's lock timeout (Redshift has
   no lock_timeout: a statement_timeout bounds the LOCK alone). Taking it first, before the
   transaction reads the table, is what Redshift asks for to avoid serializable-isolation
   failures (error 1023) between concurrent writers, and it makes loads into one table run one
   at a time; readers wait only while the strategy runs, not during the upload. Then the table is
   created (or its columns checked again), the strategy runs, the commit gate, COMMIT.

Strategies: INSERT = `INSERT ... SELECT` from staging in file order; TRUNCATE_INSERT = `DELETE`
(never TRUNCATE: it would commit half a load) then the same INSERT; UPSERT = one query counting
staged rows whose key matches with all values equal (unchanged), matches with some value
different (updated) and the rest (inserted), comparing column by column with NULLs equal
(Redshift has no `ROW() IS DISTINCT FROM ROW()`); the unchanged rows are deleted from staging
(Redshift's MERGE takes a table as its source, not a subquery), then `MERGE INTO target USING
staging`. Redshift does not enforce keys, so MERGE matches on the key columns whatever the table
declares (`_has_unique_key` is not used).

Column types of a created table (one mapping, valid on both servers): text, json and jsonb ->
VARCHAR(65535) (Redshift's TEXT is VARCHAR(256); JSON stays text, SUPER would need JSON_PARSE);
varchar(n) -> VARCHAR(n), at most 65535 (Redshift counts bytes, not characters: a non-ASCII value
may be refused, with its line); uuid -> CHAR(36); numeric(p,s) with p <= 38 as is (wider is
refused); numeric without precision -> NUMERIC(38,10) (Redshift's default is (18,0)), and a value
with more decimal places than the column keeps is refused with its line rather than rounded;
timestamptz -> TIMESTAMPTZ; the other types keep their names. Identifiers are case-sensitive on
Redshift sessions (enable_case_sensitive_identifier), so names load into exactly the named table.
"""

from __future__ import annotations

import re
import time
import uuid
from array import array
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from datetime import time as clock
from decimal import Context, Decimal
from functools import lru_cache

import psycopg
from psycopg import sql
from psycopg.adapt import Dumper, PyFormat

from credentials.connectors.base import (
    CommitGate,
    ConnectorError,
    EventCallback,
    LoadPlan,
    LoadResult,
    RegisterCancel,
    Rows,
    TargetColumn,
    duplicate_key_error,
)
from credentials.connectors.postgresql import STAGE_ROW, STAGE_TABLE, PostgresConnector
from jobs.coltypes import parse_type

MAX_PARAMETERS = 32_767  # bind parameters per statement on Redshift (a signed 16-bit count)
MAX_VARCHAR = 65_535  # bytes
MAX_NUMERIC_PRECISION = 38
DEFAULT_NUMERIC = (38, 10)  # numeric without a precision; Redshift would make it numeric(18,0)
_NUMERIC_SCALE = re.compile(r"numeric\(\d+,(\d+)\)")  # format_type's spelling
_WIDE = Context(prec=2_000)  # quantize any numeric the converter lets through without overflowing


def redshift_type(column: TargetColumn) -> str:
    """The type a created table gets for a mapping type (module docstring)."""
    try:
        parsed = parse_type(column.sql_type)
    except ValueError as exc:
        raise ConnectorError(f"Column {column.name} has an unusable type: {exc}.", column=column.name) from None
    name, params = parsed.name, parsed.params
    if name in {"text", "json", "jsonb"}:
        return f"varchar({MAX_VARCHAR})"
    if name == "varchar" and params[0] > MAX_VARCHAR:
        raise ConnectorError(
            f"Column {column.name} is {parsed.sql}, but Amazon Redshift strings hold at most {MAX_VARCHAR:,} bytes; "
            f"map it to varchar({MAX_VARCHAR}) or text.",
            column=column.name,
        )
    if name == "uuid":
        return "char(36)"
    if name == "numeric":
        if not params:
            return "numeric({},{})".format(*DEFAULT_NUMERIC)
        precision, scale = params[0], params[1] if len(params) > 1 else 0
        if precision > MAX_NUMERIC_PRECISION:
            raise ConnectorError(
                f"Column {column.name} is {parsed.sql}, but Amazon Redshift numbers hold at most "
                f"{MAX_NUMERIC_PRECISION} digits; map it to numeric({MAX_NUMERIC_PRECISION},"
                f"{min(scale, MAX_NUMERIC_PRECISION)}) or less, or to double precision.",
                column=column.name,
            )
    return parsed.sql


def _unscaled_numeric(sql_type: str) -> bool:
    try:
        return parse_type(sql_type) == parse_type("numeric")
    except ValueError:
        return False


@lru_cache(maxsize=16)
def _placeholders(width: int, count: int) -> str:
    """ "($1, $2), ($3, $4)" for width 2, count 2."""
    return ", ".join(
        "(" + ", ".join(f"${row * width + column}" for column in range(1, width + 1)) + ")" for row in range(count)
    )


@dataclass(frozen=True)
class _Staging:
    types: list[str]  # the staging table's column types, in the plan's order
    not_null: list[str]  # columns refused empty as rows are sent
    exact: dict[int, int]  # column position -> scale, for numeric mappings without a scale


class _UUIDAsText(Dumper):
    """Redshift has no uuid type: send UUIDs as untyped text, which the server casts to the column's type."""

    oid = 0

    def dump(self, obj: uuid.UUID) -> bytes:
        return str(obj).encode()


class RedshiftConnector(PostgresConnector):
    label = "Amazon Redshift"
    default_port = 5439
    supports_load = True
    accepts_copy_text = False  # no COPY FROM STDIN: rows come as Python values
    accepts_arrow_tables = False
    batch_rows = 1_000  # rows per INSERT statement into staging (fewer when the table is wide)
    batch_chars = 2_000_000  # characters of text per statement: at most 8 MB in UTF-8, half the 16 MB limit

    # -- connecting ---------------------------------------------------------------
    def connect(self) -> psycopg.Connection:
        conn = super().connect()
        # Parameters in text format, which Redshift reads for every type (psycopg prefers binary).
        for kind in (int, float, Decimal, bool, date, datetime, clock, timedelta):
            conn.adapters.register_dumper(kind, conn.adapters.get_dumper(kind, PyFormat.TEXT))
        conn.adapters.register_dumper(uuid.UUID, _UUIDAsText)
        try:
            if "Redshift" in conn.execute("SELECT version()").fetchone()[0]:
                # Redshift folds quoted identifiers to lower case unless told not to.
                conn.execute("SET enable_case_sensitive_identifier TO true")
            conn.commit()
        except psycopg.Error as exc:
            conn.close()
            raise ConnectorError(
                self.params.scrub(f"Cannot set up the session on {self.label} at {self.where}: {exc}"),
                retryable=isinstance(exc, psycopg.OperationalError),
            ) from None
        return conn

    # -- DDL --------------------------------------------------------------------------
    def create_table_sql(self, plan: LoadPlan) -> sql.Composed:
        return super().create_table_sql(self._redshift_plan(plan))

    def _redshift_plan(self, plan: LoadPlan) -> LoadPlan:
        """The plan with the column types a created table gets (raises ConnectorError for impossible ones)."""
        return replace(plan, columns=[replace(column, sql_type=redshift_type(column)) for column in plan.columns])

    # -- loading ----------------------------------------------------------------------
    def _check_creatable(self, plan: LoadPlan) -> None:
        self._redshift_plan(plan)

    def _method(self, conn: psycopg.Connection, plan: LoadPlan) -> str:
        return {
            "UPSERT": f"MERGE on ({', '.join(plan.key_columns)})",
            "TRUNCATE_INSERT": "DELETE then INSERT",
        }.get(plan.strategy, plan.strategy)

    def load(
        self,
        plan: LoadPlan,
        rows: Rows,
        on_event: EventCallback,
        before_commit: CommitGate | None = None,
        register_cancel: RegisterCancel | None = None,
    ) -> LoadResult:
        """PostgresConnector.load in two transactions (module docstring); no lock_timeout on Redshift."""
        lines = array("q")  # source line of each staged row, to point database errors at the file
        with self._loading(plan, lines, register_cancel, refuse_data=False) as conn:
            conn.execute("SET TIME ZONE 'UTC'")  # dates and naive timestamps into timestamptz are UTC
            # 1. Staging: the target is only looked at, so nobody waits for the upload.
            staging = self._staging(conn, plan)
            self._create_stage(conn, plan, staging)
            on_event("load", f"Sending rows into staging for {plan.schema}.{plan.table}")
            self._write_stage(conn, plan, rows, lines, staging)
            if plan.strategy == "UPSERT":
                self._check_keys(conn, plan, lines)
            conn.commit()  # only the session's temporary table: nothing at the destination yet
            # 2. Applying, under the table's lock.
            self._lock_target(conn, plan, on_event)
            created, _ = self._prepare_table(conn, plan, on_event)
            result = self._apply(conn, plan, len(lines), on_event)
            return self._finish(conn, plan, result, created, before_commit, on_event)

    def _lock_target(self, conn: psycopg.Connection, plan: LoadPlan, on_event: EventCallback) -> None:
        """The first statement of the applying transaction: LOCK TABLE, waiting at most the lock timeout.

        A table that does not exist yet has nothing to lock; the load creates it, and CREATE TABLE
        keeps it to this transaction until COMMIT.
        """
        # Session-level and committed on its own, so that the LOCK opens the next transaction.
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(plan.lock_timeout_seconds * 1000),))
        conn.commit()
        on_event("prepare", f"Locking {plan.schema}.{plan.table}")
        started = time.monotonic()
        try:
            conn.execute(sql.SQL("LOCK TABLE {}").format(sql.Identifier(plan.schema, plan.table)))
        except psycopg.errors.UndefinedTable:
            conn.rollback()
        except psycopg.errors.QueryCanceled:
            if time.monotonic() - started < plan.lock_timeout_seconds - 0.5:
                raise  # a cancel, not the timeout
            raise ConnectorError(
                f"Another load or session is using {plan.schema}.{plan.table} (waited {plan.lock_timeout_seconds} s "
                "for its lock). Loads into one table never interleave; run this one again when the other has "
                "finished. Nothing was written.",
                retryable=True,
            ) from None
        conn.execute("RESET statement_timeout")

    def _staging(self, conn: psycopg.Connection, plan: LoadPlan) -> _Staging:
        """Check the target (or that it may be created) and describe the staging table; reads only the catalog.

        Reading the table itself would wait for a load holding its lock (LOCK TABLE stops readers).
        """
        existing = self.existing_columns(conn, plan.schema, plan.table)
        if existing is None:
            self._require_create(plan)
            types = [column.sql_type for column in self._redshift_plan(plan).columns]
            not_null = [column.name for column in plan.columns if not column.nullable]
        else:
            self._check_columns(plan, existing)
            table_types = dict(
                conn.execute(
                    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
                    (plan.schema, plan.table),
                ).fetchall()
            )
            types = [table_types[column.name] for column in plan.columns]
            not_null = [column.name for column in plan.columns if not existing[column.name][1]]
        # A numeric mapping without a scale means "keep the value as written": never round it silently.
        # (A PostgreSQL numeric without a scale keeps every digit: nothing to check there.)
        exact = {
            index: int(match.group(1))
            for index, (column, sql_type) in enumerate(zip(plan.columns, types, strict=True))
            if _unscaled_numeric(column.sql_type) and (match := _NUMERIC_SCALE.fullmatch(sql_type)) is not None
        }
        return _Staging(types, not_null, exact)

    def _create_stage(self, conn: psycopg.Connection, plan: LoadPlan, staging: _Staging) -> None:
        """A temporary table with the target's column types, plus the row's position in the file.

        NOT NULL is checked as rows are sent (`_write_stage`): Redshift cannot add it to a column.
        """
        definitions = [
            sql.SQL("{} {}").format(sql.Identifier(column.name), sql.SQL(sql_type))  # from the catalog or coltypes
            for column, sql_type in zip(plan.columns, staging.types, strict=True)
        ]
        conn.execute(
            sql.SQL("CREATE TEMP TABLE {} ({}, {} bigint)").format(
                sql.Identifier(STAGE_TABLE), sql.SQL(", ").join(definitions), sql.Identifier(STAGE_ROW)
            )
        )

    def _write_stage(
        self,
        conn: psycopg.Connection,
        plan: LoadPlan,
        rows: Rows,
        lines: array,
        staging: _Staging,
    ) -> None:
        """Multi-row INSERTs into staging, numbering the rows; refuses missing keys and NULLs for NOT NULL."""
        width = len(plan.columns) + 1
        per_statement = max(1, min(self.batch_rows, MAX_PARAMETERS // width))
        names = [column.name for column in plan.columns]
        keys = [(names.index(key), key) for key in plan.key_columns] if plan.strategy == "UPSERT" else []
        required = [(index, name) for index, name in enumerate(names) if name in set(staging.not_null)]
        batch: list[tuple] = []
        params: list = []
        chars = 0
        for line, values in rows:
            lines.append(line)
            for index, key in keys:
                if values[index] is None:
                    raise ConnectorError(
                        f"An UPSERT key column ({', '.join(plan.key_columns)}) is empty; every row needs its key. "
                        "Nothing was written.",
                        line=line,
                        column=key,
                    )
            for index, name in required:
                if values[index] is None:
                    raise ConnectorError(
                        f"Line {line} has no value for column {name}, which is NOT NULL in "
                        f"{plan.schema}.{plan.table}. Nothing was written.",
                        line=line,
                        column=name,
                    )
            for index, scale in staging.exact.items():
                self._check_scale(plan, line, index, scale, values[index])
            batch.append(values)
            params.extend(values)
            params.append(len(lines))
            for value in values:
                if value.__class__ is str:
                    chars += len(value)
            if len(batch) >= per_statement or chars >= self.batch_chars:
                self._insert_batch(conn, plan, staging, batch, params, len(lines) - len(batch) + 1, lines)
                batch, params, chars = [], [], 0
        if batch:
            self._insert_batch(conn, plan, staging, batch, params, len(lines) - len(batch) + 1, lines)

    @staticmethod
    def _check_scale(plan: LoadPlan, line: int, index: int, scale: int, value) -> None:
        """A numeric mapping without a scale means "keep the value as written": never round it silently."""
        if (
            isinstance(value, Decimal)
            and value.is_finite()
            and value.as_tuple().exponent < -scale
            and value != value.quantize(Decimal(1).scaleb(-scale), context=_WIDE)
        ):
            name = plan.columns[index].name
            raise ConnectorError(
                f"Line {line}: {value} in column {name} has more than {scale} decimal places, more than "
                f"{plan.schema}.{plan.table} keeps; give the mapping a scale (numeric(p,s)) to round it. "
                "Nothing was written.",
                line=line,
                column=name,
                value=str(value)[:200],
            )

    def _insert_sql(self, conn: psycopg.Connection, plan: LoadPlan, count: int) -> str:
        """`INSERT INTO staging (...) VALUES ($1, ..., $k), ...` for count rows.

        Numbered placeholders, sent through a raw cursor: psycopg would otherwise parse the %s of
        every (long, uncached) statement, which took most of the time of a load.
        """
        head = sql.SQL("INSERT INTO {} ({}, {}) VALUES ").format(
            sql.Identifier(STAGE_TABLE), self._names(plan), sql.Identifier(STAGE_ROW)
        )
        return head.as_string(conn) + _placeholders(len(plan.columns) + 1, count)

    def _insert_batch(
        self,
        conn: psycopg.Connection,
        plan: LoadPlan,
        staging: _Staging,
        batch: list[tuple],
        params: list,
        first: int,
        lines: array,
    ) -> None:
        """One INSERT of the batch (rows first, first + 1, ... of the stage); a refused value is located."""
        try:
            # Prepared once it repeats (psycopg's default): the statements of full batches are alike.
            psycopg.RawCursor(conn).execute(self._insert_sql(conn, plan, len(batch)), params)
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            raise self._locate(conn, plan, staging, batch, first, lines, exc) from None

    def _locate(
        self,
        conn: psycopg.Connection,
        plan: LoadPlan,
        staging: _Staging,
        batch: list[tuple],
        first: int,
        lines: array,
        exc: psycopg.Error,
    ) -> ConnectorError:
        """The first row of a refused batch that the server refuses on its own, as an error naming its line.

        No savepoints on Redshift: the transaction is lost, so each try re-creates the (temporary)
        staging table in a transaction of its own that is rolled back. Rows are independent (the
        staging table has no constraints), so halving the range finds the row in log2(batch) tries.
        """
        conn.rollback()

        def attempt(start: int, stop: int) -> psycopg.Error | None:
            try:
                self._create_stage(conn, plan, staging)
                params = [
                    value
                    for offset, values in enumerate(batch[start:stop])
                    for value in (*values, first + start + offset)
                ]
                psycopg.RawCursor(conn).execute(self._insert_sql(conn, plan, stop - start), params, prepare=False)
            except (psycopg.DataError, psycopg.IntegrityError) as error:
                return error
            finally:
                conn.rollback()
            return None

        low, high = 0, len(batch)  # the first refused row is in batch[low:high]
        while high - low > 1:
            middle = (low + high) // 2
            if attempt(low, middle) is not None:
                high = middle
            else:
                low = middle
        error = attempt(low, low + 1)
        if error is None:  # refused only together with other rows: name the statement's lines
            found = self._translate(exc, plan, lines)
            return ConnectorError(
                found.message.removesuffix(" Nothing was written.").removesuffix(".")
                + f" (a statement with the rows of lines {lines[first - 1]} to {lines[first + len(batch) - 2]})."
                " Nothing was written.",
                line=lines[first - 1],
                column=found.column,
            )
        found = self._translate(error, plan, lines)
        found.line = lines[first + low - 1]
        return found

    def _check_keys(self, conn: psycopg.Connection, plan: LoadPlan, lines: array) -> None:
        """UPSERT keys must be unique in the file (empty keys were refused while staging)."""
        stage, row = sql.Identifier(STAGE_TABLE), sql.Identifier(STAGE_ROW)
        keys = sql.SQL(", ").join(map(sql.Identifier, plan.key_columns))
        found = conn.execute(
            sql.SQL(
                "SELECT {keys}, {row}, d.etlportal_count, d.etlportal_first FROM (SELECT {keys}, {row}, "
                "COUNT(*) OVER (PARTITION BY {keys}) AS etlportal_count, "
                "MIN({row}) OVER (PARTITION BY {keys}) AS etlportal_first FROM {stage}) AS d "
                "WHERE d.etlportal_count > 1 ORDER BY d.etlportal_first, {row} LIMIT 6"
            ).format(keys=keys, row=row, stage=stage)
        ).fetchall()
        if not found:
            return
        width = len(plan.key_columns)
        values, count, group = found[0][:width], found[0][width + 1], found[0][width + 2]
        positions = [entry[width] for entry in found if entry[width + 2] == group]
        raise duplicate_key_error(plan, values, count, [lines[p - 1] for p in positions[:5]])

    def _apply(self, conn: psycopg.Connection, plan: LoadPlan, staged: int, on_event: EventCallback) -> LoadResult:
        """The strategy, from the staging table into the target."""
        target = sql.Identifier(plan.schema, plan.table)
        stage = sql.Identifier(STAGE_TABLE)
        names = self._names(plan)
        if plan.strategy == "UPSERT":
            return self._merge(conn, plan, staged, on_event)
        if plan.strategy == "TRUNCATE_INSERT":
            # Not TRUNCATE: on Redshift it commits at once, with the table empty and no new rows yet.
            on_event("load", f"Replacing all rows of {plan.schema}.{plan.table}")
            conn.execute(sql.SQL("DELETE FROM {}").format(target))
        on_event("load", f"Inserting {staged:,} rows from staging")
        written = conn.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ORDER BY {}").format(
                target, names, names, stage, sql.Identifier(STAGE_ROW)
            )
        ).rowcount
        return LoadResult(rows_written=written, table_created=False, inserted=written)

    def _merge(self, conn: psycopg.Connection, plan: LoadPlan, staged: int, on_event: EventCallback) -> LoadResult:
        """Count, drop the unchanged rows from staging, then MERGE the rest."""
        on_event("load", f"Upserting {staged:,} rows on ({', '.join(plan.key_columns)})")
        target = sql.Identifier(plan.schema, plan.table)
        stage, row = sql.Identifier(STAGE_TABLE), sql.Identifier(STAGE_ROW)
        keys = set(plan.key_columns)
        others = [column.name for column in plan.columns if column.name not in keys]
        s, t = sql.Identifier("s"), sql.Identifier("t")
        match = sql.SQL(" AND ").join(
            sql.SQL("{}.{} = {}.{}").format(t, sql.Identifier(k), s, sql.Identifier(k)) for k in plan.key_columns
        )
        # Equal, NULLs included; NULL (one side NULL) counts as different, like FALSE.
        equal = sql.SQL(" AND ").join(
            sql.SQL("({t}.{c} = {s}.{c} OR ({t}.{c} IS NULL AND {s}.{c} IS NULL))").format(
                t=t, s=s, c=sql.Identifier(c)
            )
            for c in others
        )
        differs = sql.SQL("CASE WHEN {} THEN 0 ELSE 1 END").format(equal) if others else sql.SQL("0")
        # Per staged row: how many target rows share its key, and how many of them differ.
        matched = sql.SQL(
            "SELECT {s}.{row}, SUM({differs}) AS etlportal_differing FROM {stage} AS s JOIN {target} AS t "
            "ON {match} GROUP BY {s}.{row}"
        ).format(s=s, row=row, differs=differs, stage=stage, target=target, match=match)
        unchanged, updated = conn.execute(
            sql.SQL(
                "SELECT COALESCE(SUM(CASE WHEN m.etlportal_differing = 0 THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN m.etlportal_differing > 0 THEN 1 ELSE 0 END), 0) FROM ({}) AS m"
            ).format(matched)
        ).fetchone()
        unchanged, updated = int(unchanged), int(updated)
        inserted = staged - unchanged - updated
        if unchanged and (inserted or updated):  # MERGE only what changed
            conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE {} IN (SELECT m.{} FROM ({}) AS m WHERE m.etlportal_differing = 0)"
                ).format(stage, row, row, matched)
            )
        if inserted or updated:
            # Redshift's MERGE takes no alias for the target: its columns are named schema.table.column.
            column = {c.name: sql.Identifier(plan.schema, plan.table, c.name) for c in plan.columns}
            source = {c.name: sql.Identifier(STAGE_TABLE, c.name) for c in plan.columns}
            conn.execute(
                sql.SQL(
                    "MERGE INTO {target} USING {stage} ON {match} WHEN MATCHED THEN UPDATE SET {assign} "
                    "WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})"
                ).format(
                    target=target,
                    stage=stage,
                    match=sql.SQL(" AND ").join(
                        sql.SQL("{} = {}").format(column[k], source[k]) for k in plan.key_columns
                    ),
                    # With no other columns every matched row is unchanged and left staging above.
                    assign=sql.SQL(", ").join(
                        sql.SQL("{} = {}").format(sql.Identifier(c), source[c]) for c in (others or plan.key_columns)
                    ),
                    names=self._names(plan),
                    values=sql.SQL(", ").join(source[c.name] for c in plan.columns),
                )
            )
        return LoadResult(
            rows_written=inserted + updated,
            table_created=False,
            inserted=inserted,
            updated=updated,
            unchanged=unchanged,
        )
