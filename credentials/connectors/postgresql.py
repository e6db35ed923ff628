"""PostgreSQL: COPY into a temporary staging table, then the strategy, in one transaction."""

from __future__ import annotations

import re
from array import array

import psycopg
from psycopg import sql

from credentials.connectors.base import (
    CommitGate,
    ConnectionParams,
    ConnectorError,
    EventCallback,
    LoadPlan,
    LoadResult,
    Rows,
    TestResult,
)

_COPY_CONTEXT = re.compile(r"COPY \S+, line (\d+)(?:, column ([^:]+))?(?:: \"(.*)\")?", re.S)
STAGE_TABLE = "etlportal_stage"


class PostgresConnector:
    label = "PostgreSQL"
    default_port = 5432
    supports_load = True

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
    def load(
        self, plan: LoadPlan, rows: Rows, on_event: EventCallback, before_commit: CommitGate | None = None
    ) -> LoadResult:
        if plan.strategy != "INSERT":
            raise ConnectorError(f"The {plan.strategy} strategy is not available yet; use INSERT.")
        target = sql.Identifier(plan.schema, plan.table)
        names = sql.SQL(", ").join(sql.Identifier(column.name) for column in plan.columns)
        stage = sql.Identifier(STAGE_TABLE)
        lines = array("q")  # source line of each COPY row, to point database errors at the file
        with self.connect() as conn:
            try:
                conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{plan.lock_timeout_seconds}s",))
                created, not_null = self._prepare_table(conn, plan, on_event)
                conn.execute(
                    sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                        stage, names, target
                    )
                )
                for name in not_null:  # so COPY reports a NULL in a NOT NULL column with its line
                    conn.execute(
                        sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET NOT NULL").format(stage, sql.Identifier(name))
                    )
                on_event("load", f"Copying rows into {plan.schema}.{plan.table}")
                with conn.cursor() as cursor:
                    with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, names)) as copy:
                        for line, values in rows:
                            lines.append(line)
                            try:
                                copy.write_row(values)
                            except psycopg.DataError as exc:  # refused by the driver, before the server
                                raise ConnectorError(
                                    self.params.scrub(
                                        f"Cannot send this row to {self.label}: {exc}. Nothing was written."
                                    ),
                                    line=line,
                                ) from None
                    on_event("load", f"Inserting {len(lines):,} rows from staging")
                    cursor.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(target, names, names, stage))
                    written = cursor.rowcount
                if before_commit is not None:
                    before_commit()
                on_event("commit", "Committing")
            except psycopg.Error as exc:
                raise self._translate(exc, plan, lines) from None
        return LoadResult(rows_written=written, table_created=created)

    def _prepare_table(
        self, conn: psycopg.Connection, plan: LoadPlan, on_event: EventCallback
    ) -> tuple[bool, list[str]]:
        """Create the table when asked, or check the existing one. Returns (created, NOT NULL columns)."""
        existing = self.existing_columns(conn, plan.schema, plan.table)
        if existing is None:
            if not plan.create_table:
                raise ConnectorError(
                    f"Table {plan.schema}.{plan.table} does not exist in database {self.params.database!r} at "
                    f"{self.where}; create it, or turn on 'create table' for this job."
                )
            schema_exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (plan.schema,)).fetchone()
            if not schema_exists:
                on_event("prepare", f"Creating schema {plan.schema}")
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(plan.schema)))
            on_event("prepare", f"Creating table {plan.schema}.{plan.table} with {len(plan.columns)} columns")
            conn.execute(self.create_table_sql(plan))
            return True, [column.name for column in plan.columns if not column.nullable]
        missing = [column.name for column in plan.columns if column.name not in existing]
        if missing:
            raise ConnectorError(
                f"Table {plan.schema}.{plan.table} has no column(s) {', '.join(missing)}; "
                f"its columns are {', '.join(existing) or '(none)'}."
            )
        return False, [column.name for column in plan.columns if not existing[column.name][1]]

    def _translate(self, exc: psycopg.Error, plan: LoadPlan, lines: array) -> ConnectorError:
        diag = exc.diag
        primary = diag.message_primary or str(exc).splitlines()[0]
        if isinstance(exc, psycopg.OperationalError) and (not diag.sqlstate or diag.sqlstate.startswith("08")):
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


def connection_reason(text: str) -> tuple[str, bool]:
    """The reason in a libpq connection error, and whether trying again may help."""
    first = text.strip().splitlines()[0] if text.strip() else "unknown error"
    reason = first.rsplit(" failed: ", 1)[-1]
    reason = re.sub(r"^(FATAL|ERROR):\s+", "", reason).strip()
    permanent = any(word in reason for word in ("password authentication", "does not exist", "no pg_hba.conf", "role"))
    return reason, not permanent
