"""Real PostgreSQL and Redis for the test session.

Loaded as a pytest plugin (`-p tests.services` in pyproject.toml) so it runs before
pytest-django reads the settings. For each service, in order:

- TEST_POSTGRES_URL / TEST_REDIS_URL when set (a URL),
- else the local server on 127.0.0.1:5432 / 127.0.0.1:6379 when it answers,
- else an embedded server this session starts and stops itself.

Setting either variable to `embedded` forces the embedded server.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from cryptography.fernet import Fernet

from etlportal.embedded import EmbeddedPostgres, EmbeddedRedis

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
SESSION = f"{os.getpid()}_{secrets.token_hex(3)}"

_started: list = []


def _postgres_answers(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def _resolve(variable: str, local: str, answers, embedded_class) -> tuple[str, str]:
    wanted = os.environ.get(variable, "").strip()
    if wanted and wanted != "embedded":
        return wanted, variable
    if not wanted and answers(local):
        return local, "local"
    server = embedded_class()
    _started.append(server)
    return server.start(), "embedded"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


POSTGRES_URL, POSTGRES_SOURCE = _resolve("TEST_POSTGRES_URL", LOCAL_POSTGRES, _postgres_answers, EmbeddedPostgres)
REDIS_URL, REDIS_SOURCE = _resolve("TEST_REDIS_URL", LOCAL_REDIS, _redis_answers, EmbeddedRedis)

# The destination warehouse the tests load into: its own database on the same server.
DEST_DATABASE = f"etlportal_dest_{SESSION}"
DEST_URL = with_database(POSTGRES_URL, DEST_DATABASE)

DATA_DIR = tempfile.mkdtemp(prefix="etlportal-test-data-")
os.makedirs(os.path.join(DATA_DIR, "static"))  # STATIC_ROOT: whitenoise warns when it is missing

os.environ.update(
    {
        # pytest-django creates and drops test_<name>; the name is unique per session so
        # two sessions on one server (a developer and CI) never collide.
        "DATABASE_URL": with_database(POSTGRES_URL, f"etlportal_{SESSION}"),
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE": f"etlportal-test-{SESSION}",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATA_DIR": DATA_DIR,
        # dbt projects by directory: the fixtures, and copies the tests make in temporary folders.
        "DBT_PROJECTS_DIRS": f"{Path(__file__).resolve().parent / 'fixtures' / 'dbt'},{tempfile.gettempdir()}",
        "RUN_HEARTBEAT_INTERVAL": "1",
        "RUN_HEARTBEAT_TIMEOUT": "60",
        "LOAD_LOCK_TIMEOUT": "2",
        "DEBUG": "",
    }
)


def pytest_report_header(config):
    return [
        f"postgres: {urlsplit(POSTGRES_URL).netloc} ({POSTGRES_SOURCE}); destination database {DEST_DATABASE}",
        f"redis: {urlsplit(REDIS_URL).netloc} ({REDIS_SOURCE})",
    ]


def pytest_sessionstart(session):
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DEST_DATABASE}"')


def pytest_unconfigure(config):
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DEST_DATABASE}" WITH (FORCE)')
    except psycopg.Error:
        pass
    for server in reversed(_started):
        server.stop()
    import shutil

    shutil.rmtree(DATA_DIR, ignore_errors=True)
