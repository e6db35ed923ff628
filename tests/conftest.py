from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
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
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "PYTHONUNBUFFERED": "1"}
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    name = f"test-{services.SESSION}@localhost"
    command = [sys.executable, "-m", "celery", "-A", "etlportal", "worker", "-l", "info", "-c", "2", "-n", name,
               "--without-gossip", "--without-mingle"]  # fmt: skip
    with _service("Celery worker", command, env, log, ready=lambda: "ready." in log.read_text(), timeout=90) as process:
        yield Worker(process, log)


@contextmanager
def _service(name: str, command: list[str], env: dict, log: Path, *, ready, timeout: float):
    """A process of the test session's: started, waited for until ready(), stopped afterwards."""
    with log.open("w") as handle:
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{name} did not start:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _test_database_url() -> str:
    """The test database as a URL, for processes of their own (worker, web server)."""
    from django.db import connection

    settings_dict = connection.settings_dict
    password = f":{quote(settings_dict['PASSWORD'])}" if settings_dict.get("PASSWORD") else ""
    return (
        f"postgresql://{quote(settings_dict['USER'])}{password}@{settings_dict['HOST']}:{settings_dict['PORT']}"
        f"/{settings_dict['NAME']}"
    )


# -- a real web server and a real browser ---------------------------------------------------------
class WebServer:
    def __init__(self, process: subprocess.Popen, url: str, log: Path):
        self.process = process
        self.url = url
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def web_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """daphne serving the ASGI application (pages, API, websockets) on the test database."""
    import urllib.request

    env = {**os.environ, "DATABASE_URL": _test_database_url(), "PYTHONUNBUFFERED": "1"}
    # The pages' static files, as a deployment serves them (WhiteNoise, hashed names).
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env, check=True
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("web") / "daphne.log"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "etlportal.asgi:application"]
    with _service("daphne", command, env, log, ready=answers, timeout=60) as process:
        yield WebServer(process, url, log)


CHROMIUM_HELP = "The browser tests drive Debian's Chromium: apt-get install chromium (make test installs it as root)."


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless, driven by Playwright (never a browser Playwright downloads).

    Per module: Playwright's sync API keeps an event loop running in this thread while it is
    open, which the other tests' async_to_sync cannot share.
    """
    import shutil

    from playwright.sync_api import sync_playwright

    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.fail(CHROMIUM_HELP)
    # Playwright's sync API runs an event loop in this thread; the tests' ORM calls are plain
    # synchronous code between its calls, which Django only allows with this flag.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
        )  # fmt: skip
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


SCREENSHOTS = BASE_DIR / "test-artifacts" / "screenshots"


@pytest.fixture
def page(chromium, web_server):
    """A browser tab on the live server; `page.errors` collects the JavaScript errors it met."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.base = web_server.url
    page.errors = errors
    yield page
    context.close()


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
