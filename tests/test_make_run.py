"""`make run`'s launcher, started as a user would: embedded Redis, SQLite, web + worker + beat."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from etlportal.embedded import free_port

BASE_DIR = Path(__file__).resolve().parent.parent
# What the test session set for itself; a fresh `make run` has none of it.
SESSION_VARIABLES = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "FIELD_ENCRYPTION_KEY", "CELERY_QUEUE", "DATA_DIR",
                     "RUN_HEARTBEAT_INTERVAL", "RUN_HEARTBEAT_TIMEOUT", "DJANGO_SETTINGS_MODULE", "DEBUG")  # fmt: skip


def launcher_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SESSION_VARIABLES}
    return {**env, "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra}


class Launcher:
    def __init__(self, env: dict[str, str], log: Path):
        self.log = log
        with log.open("w") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "etlportal.launcher"], cwd=BASE_DIR, env=env, stdout=handle,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 180.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output())
            if match:
                return match
            if self.process.poll() is not None:
                break
            time.sleep(0.25)
        self.process.kill()
        raise AssertionError(f"launcher never printed {pattern!r}:\n{self.output()[-5000:]}")

    def stop(self, timeout: float = 60.0) -> int:
        self.process.send_signal(signal.SIGINT)  # Ctrl-C
        return self.process.wait(timeout)


def log_in(base_url: str, username: str, password: str) -> requests.Response:
    session = requests.Session()
    session.get(base_url + "admin/login/", timeout=10)
    return session.post(
        base_url + "admin/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"Referer": base_url + "admin/login/"},
        timeout=10,
    )


def test_make_run_starts_everything_serves_admin_and_stops_on_ctrl_c(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    env = launcher_env(data_dir, PORT=str(port), ADMIN_USERNAME="boss", ADMIN_PASSWORD="boss-password-42")
    launcher = Launcher(env, tmp_path / "first.log")
    url = launcher.wait_for(r"ETL Portal is running at (http://\S+)").group(1)
    try:
        assert url == f"http://127.0.0.1:{port}/"
        assert "Created admin user 'boss' with the password from ADMIN_PASSWORD." in launcher.output()
        assert "Embedded Redis on redis://127.0.0.1:" in launcher.output()
        health = requests.get(url + "healthz", timeout=10)
        assert health.status_code == 200 and health.json() == {"status": "ok", "database": "ok", "redis": "ok"}
        dashboard = log_in(url, "boss", "boss-password-42")
        assert dashboard.status_code == 200
        assert "Site administration" in dashboard.text
        launcher.wait_for(r"worker \| .*ready\.")
        launcher.wait_for(r"beat \| .*beat: Starting")
        children = psutil.Process(launcher.process.pid).children(recursive=True)
        names = " ".join(" ".join(child.cmdline()) for child in children)
        assert "daphne" in names and "worker" in names and "beat" in names and "redis-server" in names
    finally:
        exit_code = launcher.stop()
    assert exit_code == 0, launcher.output()[-3000:]
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"left running: {[p.cmdline() for p in alive]}"

    secrets_file = data_dir / "secrets.env"
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    keys = secrets_file.read_text()
    assert (data_dir / "db.sqlite3").exists()

    # Again: same keys and database, no new admin, no second password printed.
    again = Launcher(env, tmp_path / "second.log")
    again.wait_for(r"ETL Portal is running at")
    assert again.stop() == 0
    assert secrets_file.read_text() == keys
    assert "Created admin user" not in again.output()


@pytest.mark.parametrize(
    ("variable", "url", "sentence"),
    [
        (
            "REDIS_URL",
            "redis://127.0.0.1:1/0",
            "Cannot connect to Redis at 127.0.0.1:1 (REDIS_URL): connection refused.",
        ),
        (
            "DATABASE_URL",
            "postgresql://etl@127.0.0.1:1/etl",
            "Cannot connect to PostgreSQL at 127.0.0.1:1 (DATABASE_URL): connection refused.",
        ),
    ],
)
def test_unreachable_service_is_one_clear_sentence(tmp_path, variable, url, sentence):
    env = launcher_env(tmp_path / "data", PORT=str(free_port()), **{variable: url})

    result = subprocess.run(
        [sys.executable, "-m", "etlportal.launcher"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 1
    assert result.stderr.strip() == f"[make run] {sentence}"
    assert "Traceback" not in result.stdout + result.stderr


def test_busy_port_is_reported_with_a_way_out(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = launcher_env(tmp_path / "data", PORT=str(port))
        result = subprocess.run(
            [sys.executable, "-m", "etlportal.launcher"], cwd=BASE_DIR, env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip

    assert result.returncode == 1
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert f"PORT={port + 1} make run" in result.stderr
