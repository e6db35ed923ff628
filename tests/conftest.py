from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg
import pytest
from rest_framework.test import APIClient

from tests import services

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed, tests only
    # The hashed-manifest storage needs `collectstatic`; pages under test only need URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


# -- people --------------------------------------------------------------------------
@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "alice-password-1")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", "bob-password-1")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("sam", "sam@example.com", "sam-password-1")


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)  # a real session, as a browser would have
    return client


# -- the destination warehouse ----------------------------------------------------------
@pytest.fixture
def dest():
    """A connection to the destination database and a fresh schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(services.DEST_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.schema = schema
        yield conn
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def existing(dest):
    """The destination schema with a table t (id primary key, name, qty) holding three rows."""
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id integer PRIMARY KEY, name text, qty integer)')
    dest.execute(f"INSERT INTO \"{dest.schema}\".t VALUES (1, 'one', 10), (2, 'two', 20), (3, 'three', 30)")
    return dest


def dest_credential_fields(password: str = "") -> dict:
    parts = urlsplit(services.DEST_URL)
    return {
        "kind": "postgresql",
        "host": parts.hostname,
        "port": parts.port or 5432,
        "database": parts.path.lstrip("/"),
        "username": parts.username or "postgres",
        "password": password or (parts.password or ""),
        "sslmode": "disable",
    }


# -- a real Celery worker -----------------------------------------------------------------
class Worker:
    def __init__(self, process: subprocess.Popen, log: Path):
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """`celery worker` in its own process, on the test database and the test Redis."""
    from django.db import connection

    settings_dict = connection.settings_dict
    password = f":{quote(settings_dict['PASSWORD'])}" if settings_dict.get("PASSWORD") else ""
    database_url = (
        f"postgresql://{quote(settings_dict['USER'])}{password}@{settings_dict['HOST']}:{settings_dict['PORT']}"
        f"/{settings_dict['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    name = f"test-{services.SESSION}@localhost"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "etlportal", "worker", "-l", "info", "-c", "2", "-n", name,
             "--without-gossip", "--without-mingle"],
            cwd=BASE_DIR, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    worker = Worker(process, log)
    deadline = time.monotonic() + 90
    while "ready." not in worker.output():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"Celery worker did not start:\n{worker.output()[-4000:]}")
        time.sleep(0.2)
    yield worker
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_run(run_id: int, timeout: float = 60.0):
    from runs.models import FINISHED_STATUSES, JobRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = JobRun.objects.get(pk=run_id)
        if run.status in FINISHED_STATUSES:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still {run.status} after {timeout:g} s")
