"""The dbt runner (runs/dbt.py) with the real dbt against real PostgreSQL and DuckDB, no worker."""

from __future__ import annotations

import os
import threading
import time
import uuid
import zipfile
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import psutil
import pytest
import yaml
from django.core.exceptions import ValidationError

from jobs.dbt_projects import check_archive, extract_archive
from runs.dbt import PASSWORD_VARIABLE, DbtCommandSpec, DbtTarget, profile, run_command
from tests import services
from tests.conftest import wait_until
from tests.dbt_fixtures import (
    CANARY_PASSWORD,
    EXPECTED_REVENUE,
    FAILING_TEST,
    GOLD_NODES,
    MEDALLION,
    SILVER_NODES,
    load_bronze_duckdb,
    load_bronze_postgres,
    read_only_copy,
    revenue_rows,
)


def pg_target(schema: str, password: str = CANARY_PASSWORD) -> DbtTarget:
    # The test server trusts local connections: any password is accepted, so a canary can be used.
    parts = urlsplit(services.DEST_URL)
    return DbtTarget(
        kind="postgresql",
        schema=schema,
        database=parts.path.lstrip("/"),
        host=parts.hostname,
        port=parts.port or 5432,
        username=parts.username or "postgres",
        password=password,
        sslmode="disable",
    )


@pytest.fixture
def bronze(dest):
    load_bronze_postgres(dest, dest.schema)
    return dest


@pytest.fixture
def analytics(dest):
    schema = f"a_{uuid.uuid4().hex[:10]}"
    yield schema
    dest.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class Watch:
    """on_line for run_command, looking around while dbt runs: what is on disk under the run's
    directory, and the dbt process's environment."""

    def __init__(self, work_root: Path):
        self.work_root = work_root
        self.lines: list[str] = []
        self.files_seen: set[str] = set()
        self.files_with_canary: set[str] = set()
        self.dbt_environment: dict | None = None

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        if "START" in line or "Concurrency" in line:
            self._look()

    def _look(self) -> None:
        for path in self.work_root.rglob("*"):
            if path.is_file():
                self.files_seen.add("/".join(path.relative_to(self.work_root).parts[1:]))  # under the run's dir
                try:
                    if CANARY_PASSWORD.encode() in path.read_bytes():
                        self.files_with_canary.add(str(path))
                except OSError:
                    pass
        if self.dbt_environment is None:
            for child in psutil.Process().children(recursive=True):
                try:
                    if "dbt.cli.main" in " ".join(child.cmdline()):
                        self.dbt_environment = child.environ()
                        break
                except psutil.Error:
                    continue


def test_profile_holds_no_password_only_a_reference_to_the_secret_variable():
    text = yaml.safe_dump(profile(pg_target("analytics")))
    assert CANARY_PASSWORD not in text
    output = yaml.safe_load(text)["etlportal"]["outputs"]["prod"]
    assert output["password"] == "{{ env_var('DBT_ENV_SECRET_PASSWORD', '') }}"
    assert output["type"] == "postgres" and output["schema"] == "analytics" and output["sslmode"] == "disable"
    redshift = profile(DbtTarget(kind="redshift", schema="s", database="dev", host="h", username="u"))
    assert redshift["etlportal"]["outputs"]["prod"]["port"] == 5439  # dbt-postgres speaks to Redshift


def test_medallion_on_postgres_with_a_canary_password_nowhere_but_in_the_secret_variable(
    bronze, analytics, tmp_path, monkeypatch
):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret-that-dbt-must-not-get")
    monkeypatch.setenv("DATABASE_URL", os.environ["DATABASE_URL"])
    vars_ = {"bronze_schema": bronze.schema}
    results = {}
    watches = []
    for selection in ("silver", "gold"):
        watch = Watch(tmp_path)
        outcome = run_command(
            DbtCommandSpec("build", select=selection, vars=vars_),
            project_dir=MEDALLION,
            target=pg_target(analytics),
            on_line=watch,
            work_root=str(tmp_path),
        )
        assert outcome.ok, "\n".join(watch.lines)
        results[selection] = outcome.results
        watches.append(watch)

    assert len(results["silver"]) == SILVER_NODES and len(results["gold"]) == GOLD_NODES
    by_name = {r.name: r for r in results["silver"] + results["gold"]}
    assert by_name["stg_customers"].resource_type == "model" and by_name["stg_customers"].rows_affected == 8
    assert by_name["stg_orders"].rows_affected == 15 and by_name["customer_revenue"].rows_affected == 8
    assert {r.status for r in results["silver"] if r.resource_type == "test"} == {"pass"}
    assert by_name[FAILING_TEST].status == "pass" and by_name[FAILING_TEST].failures == 0
    rows = bronze.execute(f'SELECT customer_id, orders, revenue FROM "{analytics}".customer_revenue').fetchall()
    assert revenue_rows(rows) == EXPECTED_REVENUE

    for watch in watches:
        # While dbt ran: the profile and dbt's own files were on disk, none with the password.
        assert "profiles/profiles.yml" in watch.files_seen and "logs/dbt.log" in watch.files_seen
        assert watch.files_with_canary == set()
        assert not any(CANARY_PASSWORD in line for line in watch.lines)
        # dbt's environment: what it needs, and nothing of the worker's.
        env = watch.dbt_environment
        assert env is not None, "dbt's process was not seen"
        assert env[PASSWORD_VARIABLE] == CANARY_PASSWORD
        assert "AWS_SECRET_ACCESS_KEY" not in env and "DATABASE_URL" not in env
        assert "SECRET_KEY" not in env and "FIELD_ENCRYPTION_KEY" not in env
        assert set(env) <= {
            "PATH", "HOME", "LANG", "LC_ALL", "PYTHONUNBUFFERED", "DBT_PROFILES_DIR",
            "DBT_SEND_ANONYMOUS_USAGE_STATS", "DBT_USE_COLORS", "DBT_PARTIAL_PARSE", PASSWORD_VARIABLE,
        } | {"LC_CTYPE", "PWD"}  # fmt: skip
    assert list(tmp_path.iterdir()) == []  # the run's directory is gone afterwards


def test_the_failing_variant_names_the_test_and_its_failure_count(bronze, analytics, tmp_path):
    lines = []
    vars_ = {"bronze_schema": bronze.schema}
    silver = run_command(
        DbtCommandSpec("build", select="silver", vars=vars_), project_dir=MEDALLION, target=pg_target(analytics),
        on_line=lines.append,
    )  # fmt: skip
    assert silver.ok
    outcome = run_command(
        DbtCommandSpec("build", select="gold", vars={**vars_, "fail_on_purpose": True}),
        project_dir=MEDALLION,
        target=pg_target(analytics),
        on_line=lines.append,
    )
    assert not outcome.ok and outcome.returncode == 1
    failing = [r for r in outcome.results if r.status == "fail"]
    assert [(r.name, r.resource_type, r.failures) for r in failing] == [(FAILING_TEST, "test", 3)]
    assert outcome.summary() == f"test {FAILING_TEST} failed with 3 failing row(s)"


def test_a_read_only_project_directory_runs_and_is_left_untouched(bronze, analytics, tmp_path):
    with read_only_copy(MEDALLION, tmp_path / "project") as project:
        before = sorted(str(p.relative_to(project)) for p in project.rglob("*"))
        lines = []
        outcome = run_command(
            DbtCommandSpec("build", select="silver", vars={"bronze_schema": bronze.schema}),
            project_dir=project,
            target=pg_target(analytics),
            on_line=lines.append,
        )
        assert outcome.ok, "\n".join(lines)
        assert len(outcome.results) == SILVER_NODES
        assert sorted(str(p.relative_to(project)) for p in project.rglob("*")) == before  # no target/, logs/


def test_medallion_on_duckdb(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    load_bronze_duckdb(database, "bronze")
    target = DbtTarget(kind="duckdb", schema="analytics", database=str(database), threads=1)
    lines = []
    for selection in ("silver", "gold"):
        outcome = run_command(
            DbtCommandSpec("build", select=selection), project_dir=MEDALLION, target=target, on_line=lines.append
        )
        assert outcome.ok, "\n".join(lines)
        assert {r.status for r in outcome.results} <= {"success", "pass"}
    with duckdb.connect(str(database), read_only=True) as conn:
        rows = conn.execute("SELECT customer_id, orders, revenue FROM analytics.customer_revenue").fetchall()
    assert revenue_rows(rows) == EXPECTED_REVENUE


def write_project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def sleepy_project(root: Path, seconds: int) -> Path:
    """A project whose one model sleeps on the server for `seconds`."""
    return write_project(
        root,
        {
            "dbt_project.yml": "name: sleepy\nversion: '1.0'\nconfig-version: 2\nprofile: etlportal\n",
            "models/slow.sql": "{{ config(materialized='table') }} "
            f"select 1 as one from (select pg_sleep({seconds})) as waiting",
        },
    )


def sleeping(conn, text: str) -> int:
    """How many statements containing `text` are running on the server (not counting ours)."""
    return conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
        [f"%{text}%"],
    ).fetchone()[0]


def test_cancel_interrupts_dbt_and_leaves_no_query_running(dest, analytics, tmp_path):
    project = sleepy_project(tmp_path / "sleepy", 60)
    stop = threading.Event()
    lines = []

    def on_line(line):
        lines.append(line)
        if "START sql" in line:
            threading.Timer(1.0, stop.set).start()

    started = time.monotonic()
    outcome = run_command(
        DbtCommandSpec("run"), project_dir=project, target=pg_target(analytics), on_line=on_line,
        should_stop=stop.is_set,
    )  # fmt: skip
    assert outcome.cancelled and not outcome.ok
    assert time.monotonic() - started < 40, "\n".join(lines)  # not the model's 60 s
    assert any("SIGINT" in line for line in lines)
    # The server ends the cancelled statement asynchronously: gone within seconds, not 60 s.
    wait_until(lambda: sleeping(dest, "pg_sleep(60)") == 0, timeout=10, what="dbt's query to be cancelled")


def test_packages_are_installed_with_dbt_deps_first(dest, analytics, tmp_path):
    project = write_project(
        tmp_path / "withpackages",
        {
            "dbt_project.yml": "name: withpackages\nversion: '1.0'\nconfig-version: 2\nprofile: etlportal\n",
            "packages.yml": "packages:\n  - local: vendor/greetings\n",
            "vendor/greetings/dbt_project.yml": "name: greetings\nversion: '1.0'\nconfig-version: 2\n",
            "vendor/greetings/macros/hello.sql": "{% macro hello() %}'hello from a package'{% endmacro %}",
            "models/greeting.sql": "select {{ greetings.hello() }} as greeting",
        },
    )
    lines = []
    outcome = run_command(DbtCommandSpec("run"), project_dir=project, target=pg_target(analytics), on_line=lines.append)
    assert outcome.ok, "\n".join(lines)
    assert "The project has packages: running dbt deps first" in lines
    assert dest.execute(f'SELECT greeting FROM "{analytics}".greeting').fetchone() == ("hello from a package",)
    assert not (project / "dbt_packages").exists()  # installed into the run's copy only


def zip_of(files: dict[str, bytes | str], links: dict[str, str] | None = None) -> BytesIO:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16) | 0
            archive.writestr(info, target)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize(
    ("files", "links", "message"),
    [
        ({"../evil.sql": "x", "dbt_project.yml": "name: x"}, None, "'../evil.sql' points outside the archive."),
        ({"/etc/cron.d/evil": "x", "dbt_project.yml": "name: x"}, None, "'/etc/cron.d/evil' has an absolute path."),
        ({"dbt_project.yml": "name: x"}, {"models/link.sql": "/etc/passwd"}, "'models/link.sql' is a link"),
        ({"models/a.sql": "select 1"}, None, "The archive has no dbt_project.yml."),
        ({"a/b/dbt_project.yml": "name: x"}, None, "dbt_project.yml must be at the top of the archive"),
    ],
)
def test_unsafe_or_wrong_archives_are_refused_saying_why(files, links, message):
    with pytest.raises(ValidationError) as caught:
        check_archive(zip_of(files, links))
    assert message in caught.value.message_dict["archive"][0]


def test_an_archive_bigger_than_the_limit_unpacked_is_refused(settings):
    settings.DBT_ARCHIVE_MAX_BYTES = 1000
    with pytest.raises(ValidationError, match="unpacks to more than 1,000 bytes"):
        check_archive(zip_of({"dbt_project.yml": "name: x", "models/big.sql": "-- " + "x" * 2000}))


def test_an_archive_with_a_top_folder_is_extracted_there(tmp_path):
    root = extract_archive(
        zip_of({"medallion/dbt_project.yml": "name: m", "medallion/models/a.sql": "select 1"}), tmp_path
    )
    assert root == tmp_path / "medallion"
    assert (root / "models" / "a.sql").read_text() == "select 1"
