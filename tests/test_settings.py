"""Settings come from the environment, with safe local defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from etlportal import localsecrets
from tests.test_make_run import BASE_DIR, launcher_env


def django_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    script = "import django; django.setup()\n" + code
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "etlportal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_debug_the_secrets_are_required_and_never_defaulted(tmp_path):
    result = django_python("", launcher_env(tmp_path / "data"))

    assert result.returncode != 0
    assert "SECRET_KEY is not set." in result.stderr
    assert not (tmp_path / "data" / "secrets.env").exists()


def test_with_debug_local_secrets_are_generated_once_with_mode_0600(tmp_path):
    env = launcher_env(tmp_path / "data", DEBUG="1")
    code = "from django.conf import settings; print(settings.SECRET_KEY, settings.FIELD_ENCRYPTION_KEY[0])"

    first = django_python(code, env)
    second = django_python(code, env)

    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    secrets_file = tmp_path / "data" / "secrets.env"
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    assert first.stdout.split()[0] in secrets_file.read_text()


def test_environment_values_win_over_the_local_file(tmp_path):
    new_key, old_key = (localsecrets._generate()["FIELD_ENCRYPTION_KEY"] for _ in range(2))
    env = launcher_env(
        tmp_path / "data", DEBUG="1", SECRET_KEY="from-env", FIELD_ENCRYPTION_KEY=f"{new_key}, {old_key}"
    )

    result = django_python(
        "from django.conf import settings; print(settings.SECRET_KEY, settings.FIELD_ENCRYPTION_KEY)", env
    )

    assert result.stdout.strip() == f"from-env {[new_key, old_key]}"  # a list rotates keys: first encrypts
    assert not (tmp_path / "data" / "secrets.env").exists()


def test_default_database_is_sqlite_in_wal_mode_with_a_busy_timeout(tmp_path):
    env = launcher_env(
        tmp_path / "data", SECRET_KEY="k", FIELD_ENCRYPTION_KEY=localsecrets._generate()["FIELD_ENCRYPTION_KEY"]
    )
    code = (
        "from django.db import connection\n"
        "cursor = connection.cursor()\n"
        "cursor.execute('PRAGMA journal_mode'); print(cursor.fetchone()[0])\n"
        "cursor.execute('PRAGMA busy_timeout'); print(cursor.fetchone()[0])\n"
        "print(connection.settings_dict['NAME'])\n"
    )

    result = django_python(code, env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "30000", str(tmp_path / "data" / "db.sqlite3")]


def test_celery_accepts_json_only_and_acks_late(settings):
    from etlportal.celery import app

    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert app.conf.task_acks_late is True


def test_a_worker_process_left_large_by_a_task_is_replaced(tmp_path):
    """WORKER_MAX_MEMORY_MB reaches Celery, in the KiB it counts; 0 turns the replacement off."""
    show = "from etlportal.celery import app; print(app.conf.worker_max_memory_per_child)"
    env = {k: v for k, v in launcher_env(tmp_path / "data", DEBUG="1").items() if k != "WORKER_MAX_MEMORY_MB"}
    for value, expected in ((None, "204800"), ("512", "524288"), ("0", "None")):
        result = django_python(show, env if value is None else {**env, "WORKER_MAX_MEMORY_MB": value})
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[-1] == expected, (value, result.stdout)


def test_local_secrets_file_is_tightened_when_its_mode_is_loose(tmp_path):
    path = tmp_path / "secrets.env"
    values = localsecrets.load_or_create(path)
    os.chmod(path, 0o644)

    assert localsecrets.load_or_create(path) == values
    assert Path(path).stat().st_mode & 0o777 == 0o600
