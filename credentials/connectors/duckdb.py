"""DuckDB: an embedded database file on the worker's disk.

`database` is the absolute path of the file, which the credential service has already
confined to DUCKDB_DIR: users must not be able to point the server at arbitrary paths.
"""

from __future__ import annotations

from pathlib import Path

from credentials.connectors.base import ConnectionParams, ConnectorError, TestResult


class DuckDBConnector:
    label = "DuckDB"
    supports_load = False  # loads arrive with the load engine

    def __init__(self, params: ConnectionParams):
        self.params = params

    def test(self) -> TestResult:
        import duckdb

        path = Path(self.params.database)
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

    def load(self, plan, rows, on_event, before_commit=None):
        raise ConnectorError("Loading into DuckDB is not available yet; choose a PostgreSQL destination.")
