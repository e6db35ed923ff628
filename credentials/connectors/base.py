"""What every destination connector takes and gives: plain values, no models."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConnectionParams:
    kind: str
    host: str = ""
    port: int | None = None
    database: str = ""
    username: str = ""
    password: str = field(default="", repr=False)  # never in a repr, so never in a log
    sslmode: str = "prefer"
    options: dict = field(default_factory=dict)
    secret_options: dict = field(default_factory=dict, repr=False)

    def scrub(self, text: str) -> str:
        """Drivers do not echo secrets, but a message must never carry one by accident."""
        for secret in (self.password, *(str(v) for v in self.secret_options.values())):
            if secret and len(secret) >= 3:
                text = text.replace(secret, "********")
        return text


class ConnectorError(Exception):
    """A destination problem told in one sentence (no secrets). `retryable` for network trouble."""

    def __init__(
        self, message: str, *, retryable: bool = False, line: int | None = None, column: str = "", value: str = ""
    ):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.line = line
        self.column = column
        self.value = value


@dataclass(frozen=True)
class TestResult:
    ok: bool
    message: str
    server_version: str = ""


@dataclass(frozen=True)
class TargetColumn:
    name: str
    sql_type: str
    nullable: bool = True


@dataclass(frozen=True)
class LoadPlan:
    schema: str
    table: str
    columns: list[TargetColumn]
    strategy: str = "INSERT"
    create_table: bool = False
    key_columns: tuple[str, ...] = ()
    # Waiting longer than this for a lock on the target fails the load instead of hanging.
    lock_timeout_seconds: int = 60
    # "values": rows are tuples of Python values. "copy_text": each row is one line of
    # PostgreSQL's COPY text format (only for connectors with accepts_copy_text).
    # "arrow_tables": items are (rows, converted Arrow table) (accepts_arrow_tables).
    row_format: str = "values"


@dataclass
class LoadResult:
    rows_written: int
    table_created: bool
    # UPSERT splits rows_written (inserted + updated); unchanged rows matched a key with equal
    # values and were not written. INSERT and TRUNCATE_INSERT: inserted == rows_written.
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class CheckResult:
    """What a load would find at the destination (dry runs): nothing is written."""

    table_exists: bool
    message: str  # one sentence: "Table public.t exists with the 5 mapped columns." / "would be created"


Rows = Iterable[tuple[int, tuple]]  # (source line, destination values)
EventCallback = Callable[[str, str], None]  # (phase, message)
# Called just before COMMIT; raising from it rolls the load back (the run was reaped or cancelled).
CommitGate = Callable[[], None]
# Connectors call it once connected with a thread-safe function that aborts the statement in
# flight (PostgreSQL: a cancel request; DuckDB: interrupt), so a cancel need not wait for it.
RegisterCancel = Callable[[Callable[[], None]], None]


# Type families, for checking a mapping against an existing table's column before any write.
_FAMILIES = {
    "text": "text",
    "character varying": "text",
    "varchar": "text",
    "character": "text",
    "char": "text",
    "bpchar": "text",
    "citext": "text",
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "hugeint": "integer",
    "tinyint": "integer",
    "numeric": "numeric",
    "decimal": "numeric",
    "real": "float",
    "double precision": "float",
    "double": "float",
    "float": "float",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "timestamp without time zone": "timestamp",
    "timestamptz": "timestamptz",
    "timestamp with time zone": "timestamptz",
    "uuid": "uuid",
    "json": "json",
    "jsonb": "json",
}
# Mapping family -> table column families its values go into without loss or guessing.
_ACCEPTS = {
    "text": {"text"},
    "integer": {"integer", "numeric", "float", "text"},
    "numeric": {"numeric", "float", "text"},
    "float": {"float", "numeric", "text"},
    "boolean": {"boolean", "text"},
    "date": {"date", "timestamp", "timestamptz", "text"},
    "timestamp": {"timestamp", "timestamptz", "text"},
    "timestamptz": {"timestamptz", "text"},
    "uuid": {"uuid", "text"},
    "json": {"json", "text"},
}


def type_family(sql_type: str) -> str | None:
    """ "numeric(12,2)" -> "numeric", "character varying" -> "text"; None for types not known here."""
    base = sql_type.lower().split("(")[0].strip()
    return _FAMILIES.get(base)


def column_type_problem(column: TargetColumn, table_type: str) -> str | None:
    """Why values mapped as column.sql_type cannot go into a column of table_type, or None.

    Unknown table types (arrays, enums, user-defined) are left to the database, which names the
    line of any value it refuses.
    """
    mapped, existing = type_family(column.sql_type), type_family(table_type)
    if mapped is None or existing is None or existing in _ACCEPTS[mapped]:
        return None
    return (
        f"column {column.name!r} is {table_type} in the table but the mapping produces {column.sql_type}; "
        f"change the mapping's type to {table_type}"
    )


def duplicate_key_error(plan: LoadPlan, values, count: int, lines: list[int]) -> ConnectorError:
    """An UPSERT key found `count` times in the file; `lines` holds the first few source lines (at least 2)."""
    where = ", ".join(str(line) for line in lines[:5]) + (" …" if count > 5 else "")
    key = ", ".join(f"{name}={value}" for name, value in zip(plan.key_columns, values, strict=True))
    return ConnectorError(
        f"The key ({key}) appears {count} times in the file (lines {where}); an UPSERT needs each key once. "
        "Nothing was written.",
        line=lines[1],
        column=plan.key_columns[0],
        value=str(values[0]),
    )
