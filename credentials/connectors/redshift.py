"""Amazon Redshift speaks the PostgreSQL wire protocol: connect and test like PostgreSQL.

Its load plan (multi-row INSERT batches and MERGE, DELETE instead of TRUNCATE inside the
transaction) arrives with the load engine; until then jobs refuse Redshift destinations.
"""

from credentials.connectors.base import ConnectorError
from credentials.connectors.postgresql import PostgresConnector


class RedshiftConnector(PostgresConnector):
    label = "Amazon Redshift"
    default_port = 5439
    supports_load = False

    def load(self, plan, rows, on_event, before_commit=None):
        raise ConnectorError("Loading into Amazon Redshift is not available yet; choose a PostgreSQL destination.")
