"""Connectors per destination kind: connect, test, introspect, DDL, load."""

from credentials.connectors.base import ConnectionParams, ConnectorError, LoadPlan, LoadResult, TargetColumn, TestResult
from credentials.connectors.duckdb import DuckDBConnector
from credentials.connectors.postgresql import PostgresConnector
from credentials.connectors.redshift import RedshiftConnector

CONNECTORS = {
    "postgresql": PostgresConnector,
    "redshift": RedshiftConnector,
    "duckdb": DuckDBConnector,
}


def get_connector(params: ConnectionParams):
    return CONNECTORS[params.kind](params)


__all__ = [
    "ConnectionParams",
    "ConnectorError",
    "LoadPlan",
    "LoadResult",
    "TargetColumn",
    "TestResult",
    "get_connector",
]
