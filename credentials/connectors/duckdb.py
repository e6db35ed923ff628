"""DuckDB: an embedded database file on the worker's disk (`database` is its path)."""

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

        path = Path(self.params.database).expanduser()
        if not path.exists():
            if not path.parent.is_dir():
                return TestResult(ok=False, message=f"DuckDB file {path}: folder {path.parent} does not exist.")
            return TestResult(
                ok=True,
                message=f"DuckDB {duckdb.__version__}: {path} does not exist yet and will be created on first load.",
                server_version=duckdb.__version__,
            )
        try:
            with duckdb.connect(str(path), read_only=True) as conn:
                version = conn.execute("SELECT version()").fetchone()[0]
        except duckdb.Error as exc:
            return TestResult(ok=False, message=f"Cannot open DuckDB file {path}: {str(exc).splitlines()[0]}")
        return TestResult(ok=True, message=f"Opened DuckDB file {path} (DuckDB {version}).", server_version=version)

    def load(self, plan, rows, on_event):
        raise ConnectorError("Loading into DuckDB is not available yet")
