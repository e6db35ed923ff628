"""Reachability checks that end in one clear sentence naming host and port, not a traceback."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


def host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def scheme_and_host(url: str) -> str:
    """A URL shown by scheme and host only: its user, path or query may carry a token."""
    parts = urlsplit(str(url or ""))
    return f"{parts.scheme}://{parts.hostname}" if parts.hostname else ""


def describe_redis_url(url: str) -> str:
    host, port = host_port(url, 6379)
    return f"{host}:{port}"


def tcp_error(host: str, port: int, timeout: float = 3.0) -> str | None:
    """None when a TCP connection to host:port opens, else why it did not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror:
        return "the host name does not resolve"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except ConnectionRefusedError:
        return "connection refused"
    except OSError as exc:
        return exc.strerror or str(exc)


def redis_problem(url: str) -> str | None:
    import redis

    host, port = host_port(url, 6379)
    reason = tcp_error(host, port)
    if reason is None:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
        except redis.AuthenticationError:
            reason = "authentication failed (check the password in REDIS_URL)"
        except redis.RedisError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if reason is None:
        return None
    return f"Cannot connect to Redis at {host}:{port} (REDIS_URL): {reason}."


def database_problem(url: str) -> str | None:
    """Only network databases are checked; SQLite needs nothing reachable."""
    scheme = urlsplit(url).scheme
    if not scheme.startswith("postgres"):
        return None
    import psycopg

    host, port = host_port(url, 5432)
    reason = tcp_error(host, port)
    if reason is None:
        try:
            psycopg.connect(url.replace("postgis://", "postgresql://", 1), connect_timeout=5).close()
        except psycopg.Error as exc:
            from credentials.connectors.postgresql import connection_reason

            reason, _retryable = connection_reason(str(exc))
    if reason is None:
        return None
    return f"Cannot connect to PostgreSQL at {host}:{port} (DATABASE_URL): {reason}."
