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


@dataclass
class LoadResult:
    rows_written: int
    table_created: bool


Rows = Iterable[tuple[int, tuple]]  # (source line, destination values)
EventCallback = Callable[[str, str], None]  # (phase, message)
# Called just before COMMIT; raising from it rolls the load back (the run was reaped or cancelled).
CommitGate = Callable[[], None]
