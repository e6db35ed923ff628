"""Pipelines on the real worker: the medallion project's loads and dbt builds, on PostgreSQL and
DuckDB; a failing dbt test; per-step retries; retry from the failed step; alerts by webhook and
e-mail; a canary password that must appear nowhere."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from credentials.services import credential_create
from jobs.dbt_projects import dbt_project_create
from jobs.models import StepKind
from jobs.pipelines import pipeline_create, pipeline_update
from jobs.services import job_create
from runs.models import DbtNodeResult, JobRun, RunEvent, RunKind, RunStatus
from runs.pipelines import pipeline_retry, pipeline_run_create, pipelines_time_out
from runs.services import run_cancel
from tests.conftest import dest_credential_fields, wait_for_run, wait_until
from tests.dbt_fixtures import (
    BRONZE_MAPPINGS,
    CANARY_PASSWORD,
    EXPECTED_REVENUE,
    FAILING_TEST,
    GOLD_NODES,
    MEDALLION,
    SILVER_NODES,
    csv_text,
    revenue_rows,
)
from tests.factories import make_upload
from tests.test_dbt_runner import sleeping, sleepy_project

pytestmark = pytest.mark.django_db(transaction=True)


def bronze_jobs(user, credential, schema: str) -> list:
    return [
        job_create(
            owner=user,
            name=f"load {table}",
            source=make_upload(user, csv_text(table), name=f"{table}.csv"),
            destination=credential,
            schema=schema,
            table=table,
            create_table=True,
            mappings=BRONZE_MAPPINGS[table],
        )
        for table in ("customers", "orders")
    ]


def medallion_steps(jobs, project, bronze_schema: str, **gold) -> list[dict]:
    vars_ = {"bronze_schema": bronze_schema}
    return [
        {"kind": StepKind.LOAD, "job": jobs[0]},
        {"kind": StepKind.LOAD, "job": jobs[1]},
        {"kind": StepKind.DBT, "dbt_project": project, "dbt_command": "build", "select": "silver", "dbt_vars": vars_},
        {
            "kind": StepKind.DBT,
            "dbt_project": project,
            "dbt_command": "build",
            "select": "gold",
            "dbt_vars": {**vars_, **gold.pop("vars", {})},
            **gold,
        },
    ]


@pytest.fixture
def analytics(dest):
    schema = f"a_{uuid.uuid4().hex[:10]}"
    yield schema
    dest.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_medallion(alice, dest, analytics):
    """Alice's PostgreSQL credential (with a canary password: the test server trusts local
    connections), the two bronze load jobs and the medallion dbt project."""
    credential = credential_create(owner=alice, name="warehouse", **dest_credential_fields(CANARY_PASSWORD))
    jobs = bronze_jobs(alice, credential, dest.schema)
    project = dbt_project_create(
        owner=alice, name="medallion", credential=credential, target_schema=analytics, path=str(MEDALLION)
    )
    return jobs, project


def start(pipeline, **kwargs) -> JobRun:
    with transaction.atomic():
        return pipeline_run_create(pipeline=pipeline, **kwargs)


def steps_of(run: JobRun) -> list[tuple[int, int, str]]:
    return list(run.steps.order_by("step_position", "attempt").values_list("step_position", "attempt", "status"))


def assert_no_canary(*runs: JobRun, worker=None) -> None:
    for run in runs:
        texts = [run.error_message, json.dumps(run.plan), json.dumps(run.sample)]
        texts += list(RunEvent.objects.filter(run__in=[run, *run.steps.all()]).values_list("message", flat=True))
        texts += list(DbtNodeResult.objects.filter(run__parent=run).values_list("message", flat=True))
        assert not any(CANARY_PASSWORD in (text or "") for text in texts)
    if worker is not None:
        assert CANARY_PASSWORD not in worker.output()


def test_medallion_pipeline_runs_green_on_postgresql(alice, dest, analytics, pg_medallion, celery_worker):
    jobs, project = pg_medallion
    pipeline = pipeline_create(owner=alice, name="medallion", steps=medallion_steps(jobs, project, dest.schema))

    run = wait_for_run(start(pipeline, user=alice).pk, timeout=180)

    assert run.status == RunStatus.SUCCEEDED, run.error_message
    assert run.kind == RunKind.PIPELINE and run.progress == 1.0
    assert steps_of(run) == [(1, 1, "SUCCEEDED"), (2, 1, "SUCCEEDED"), (3, 1, "SUCCEEDED"), (4, 1, "SUCCEEDED")]
    loads = run.steps.filter(kind=RunKind.LOAD).order_by("step_position")
    assert [step.rows_written for step in loads] == [8, 15]
    assert run.rows_written == 8 + 15 + (8 + 15) + 8  # loaded rows, then the rows dbt's models wrote
    silver, gold = run.steps.filter(kind=RunKind.DBT).order_by("step_position")
    assert silver.dbt_results.count() == SILVER_NODES and gold.dbt_results.count() == GOLD_NODES
    revenue = gold.dbt_results.get(name="customer_revenue")
    assert (revenue.resource_type, revenue.status, revenue.rows_affected) == ("model", "success", 8)
    assert set(silver.dbt_results.filter(resource_type="test").values_list("status", flat=True)) == {"pass"}
    rows = dest.execute(f'SELECT customer_id, orders, revenue FROM "{analytics}".customer_revenue').fetchall()
    assert revenue_rows(rows) == EXPECTED_REVENUE
    # dbt's output is in the step's log, line by line.
    assert RunEvent.objects.filter(run=silver, message__contains="Done. PASS=8").exists()
    assert_no_canary(run, worker=celery_worker)


class Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append({"path": self.path, "type": self.headers["Content-Type"], "body": json.loads(body)})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/etl?token=s3cret-token", Hook.received
    server.shutdown()


def test_a_failing_dbt_test_stops_the_pipeline_after_its_retries_and_alerts(
    alice, dest, pg_medallion, celery_worker, webhook
):
    jobs, project = pg_medallion
    url, received = webhook
    steps = medallion_steps(
        jobs, project, dest.schema, vars={"fail_on_purpose": True}, retries=1, retry_delay_seconds=1
    )
    steps.append({"kind": StepKind.DBT, "dbt_project": project, "dbt_command": "test", "select": "gold"})
    pipeline = pipeline_create(
        owner=alice, name="medallion", steps=steps, alert_webhook_url=url, alert_emails=["oncall@example.com"]
    )

    run = wait_for_run(start(pipeline, user=alice).pk, timeout=180)

    assert run.status == RunStatus.FAILED
    assert run.error_message == f"Step 4 (dbt build gold) failed: test {FAILING_TEST} failed with 3 failing row(s)"
    assert steps_of(run) == [
        (1, 1, "SUCCEEDED"), (2, 1, "SUCCEEDED"), (3, 1, "SUCCEEDED"), (4, 1, "FAILED"), (4, 2, "FAILED"),
        (5, 1, "SKIPPED"),
    ]  # fmt: skip
    failing = DbtNodeResult.objects.get(run__parent=run, run__attempt=2, name=FAILING_TEST)
    assert (failing.resource_type, failing.status, failing.failures) == ("test", "fail", 3)

    # The webhook: one POST with the documented payload, after the run failed.
    wait_until(lambda: len(received) == 1, timeout=30, what="the webhook")
    post = received[0]
    assert post["path"] == "/hooks/etl?token=s3cret-token" and post["type"] == "application/json"
    body = post["body"]
    assert body["event"] == "run.failed" and body["job"] is None
    assert body["pipeline"] == {"id": pipeline.pk, "name": "medallion"}
    assert body["run"]["id"] == run.pk and body["run"]["status"] == "FAILED" and body["run"]["kind"] == "pipeline"
    assert body["run"]["url"] == f"{settings.PORTAL_URL}/runs/{run.pk}/"
    assert body["run"]["error"]["message"] == run.error_message
    assert body["run"]["rows_written"] == run.rows_written
    assert [(s["position"], s["status"]) for s in body["steps"]] == [
        (1, "SUCCEEDED"), (2, "SUCCEEDED"), (3, "SUCCEEDED"), (4, "FAILED"), (4, "FAILED"), (5, "SKIPPED"),
    ]  # fmt: skip
    assert CANARY_PASSWORD not in json.dumps(body)
    # The e-mail (the file backend in tests), and the log saying both went, the token not in it.
    wait_until(lambda: RunEvent.objects.filter(run=run, phase="alert").count() == 2, what="the alerts' log")
    mail = "".join(path.read_text() for path in Path(settings.EMAIL_FILE_PATH).glob("*.log"))
    assert f"run {run.pk} failed" in mail and "oncall@example.com" in mail and FAILING_TEST in mail
    assert CANARY_PASSWORD not in mail
    logged = list(RunEvent.objects.filter(run=run, phase="alert").values_list("message", flat=True))
    assert "Alert webhook to http://127.0.0.1 answered 204" in logged
    assert not any("s3cret-token" in message for message in logged)
    assert_no_canary(run, worker=celery_worker)


def test_retry_from_the_failed_step_runs_only_what_did_not_succeed(
    alice, dest, analytics, pg_medallion, celery_worker, tmp_path
):
    jobs, _ = pg_medallion
    project_dir = tmp_path / "medallion"
    shutil.copytree(MEDALLION, project_dir)
    good_model = (project_dir / "models/silver/stg_orders.sql").read_text()
    (project_dir / "models/silver/stg_orders.sql").write_text("select nonsense from nowhere_at_all")
    project = dbt_project_create(
        owner=alice, name="medallion copy", credential=jobs[0].destination, target_schema=analytics,
        path=str(project_dir),
    )  # fmt: skip
    pipeline = pipeline_create(owner=alice, name="medallion", steps=medallion_steps(jobs, project, dest.schema))

    failed = wait_for_run(start(pipeline, user=alice).pk, timeout=180)
    assert failed.status == RunStatus.FAILED
    assert steps_of(failed) == [(1, 1, "SUCCEEDED"), (2, 1, "SUCCEEDED"), (3, 1, "FAILED"), (4, 1, "SKIPPED")]
    assert "stg_orders" in failed.error_message

    # The model is fixed; the retry loads nothing again and runs steps 3 and 4.
    (project_dir / "models/silver/stg_orders.sql").write_text(good_model)
    with transaction.atomic():
        retry = pipeline_retry(run=failed, user=alice)
    retry = wait_for_run(retry.pk, timeout=180)

    assert retry.status == RunStatus.SUCCEEDED, retry.error_message
    assert retry.retry_of_id == failed.pk
    assert steps_of(retry) == [(3, 1, "SUCCEEDED"), (4, 1, "SUCCEEDED")]
    assert [step.get("reuse") for step in retry.plan] == [
        failed.steps.get(step_position=1).pk, failed.steps.get(step_position=2).pk, None, None,
    ]  # fmt: skip
    assert dest.execute(f'SELECT count(*) FROM "{dest.schema}".customers').fetchone()[0] == 8  # loaded once
    rows = dest.execute(f'SELECT customer_id, orders, revenue FROM "{analytics}".customer_revenue').fetchall()
    assert revenue_rows(rows) == EXPECTED_REVENUE


def test_medallion_pipeline_runs_green_on_duckdb(alice, celery_worker):
    database = f"medallion_{uuid.uuid4().hex[:8]}.duckdb"
    credential = credential_create(owner=alice, name="local duckdb", kind="duckdb", database=database)
    jobs = bronze_jobs(alice, credential, "bronze")
    project = dbt_project_create(
        owner=alice, name="medallion", credential=credential, target_schema="analytics", path=str(MEDALLION)
    )
    pipeline = pipeline_create(owner=alice, name="medallion on duckdb", steps=medallion_steps(jobs, project, "bronze"))

    run = wait_for_run(start(pipeline, user=alice).pk, timeout=180)

    assert run.status == RunStatus.SUCCEEDED, run.error_message
    assert [status for _, _, status in steps_of(run)] == ["SUCCEEDED"] * 4
    assert DbtNodeResult.objects.filter(run__parent=run).count() == SILVER_NODES + GOLD_NODES
    path = Path(settings.DUCKDB_DIR) / database
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute("SELECT customer_id, orders, revenue FROM analytics.customer_revenue").fetchall()
    assert revenue_rows(rows) == EXPECTED_REVENUE


def test_cancelling_a_pipeline_stops_its_step_and_skips_the_rest(alice, dest, analytics, celery_worker, tmp_path):
    project_dir = sleepy_project(tmp_path / "sleepy", 120)
    credential = credential_create(owner=alice, name="warehouse", **dest_credential_fields())
    project = dbt_project_create(
        owner=alice, name="sleepy", credential=credential, target_schema=analytics, path=str(project_dir)
    )
    pipeline = pipeline_create(
        owner=alice,
        name="slow",
        steps=[
            {"kind": StepKind.DBT, "dbt_project": project, "dbt_command": "run"},
            {"kind": StepKind.DBT, "dbt_project": project, "dbt_command": "test"},
        ],
    )
    run = start(pipeline, user=alice)
    wait_until(lambda: sleeping(dest, "pg_sleep(120)") == 1, timeout=90, what="dbt's query to be running")
    run_cancel(run=JobRun.objects.get(pk=run.pk), user=alice)
    run = wait_for_run(run.pk, timeout=60)

    assert run.status == RunStatus.CANCELLED
    assert steps_of(run) == [(1, 1, "CANCELLED"), (2, 1, "SKIPPED")]
    # The server ends the cancelled statement asynchronously: gone within seconds, not 120 s.
    wait_until(lambda: sleeping(dest, "pg_sleep(120)") == 0, timeout=10, what="dbt's query to be cancelled")


def test_a_pipeline_past_its_timeout_is_stopped(alice, pg_medallion):
    jobs, project = pg_medallion
    pipeline = pipeline_create(owner=alice, name="slow", timeout_minutes=5, steps=medallion_steps(jobs, project, "b"))
    long_ago = timezone.now() - timedelta(minutes=6)
    run = JobRun.objects.create(
        kind=RunKind.PIPELINE, pipeline=pipeline, status=RunStatus.RUNNING, started_at=long_ago,
        heartbeat_at=timezone.now(), plan=[{"position": i, "kind": "load", "job": jobs[0].pk, "dbt_project": None,
                                            "name": "x"} for i in (1, 2)],
    )  # fmt: skip
    JobRun.objects.create(
        kind=RunKind.LOAD, job=jobs[0], parent=run, step_position=1, status=RunStatus.SUCCEEDED, finished_at=long_ago
    )
    running = JobRun.objects.create(
        kind=RunKind.LOAD, job=jobs[0], parent=run, step_position=2, status=RunStatus.RUNNING, started_at=long_ago
    )

    assert pipelines_time_out() == 1

    run.refresh_from_db()
    running.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error_message == "Stopped after the pipeline's timeout of 5 minutes."
    assert running.cancel_requested_at is not None  # its worker rolls it back and ends it CANCELLED


def test_steps_are_validated_when_saved(alice, bob, pg_medallion):
    from django.core.exceptions import ValidationError

    jobs, project = pg_medallion
    with pytest.raises(ValidationError) as caught:
        pipeline_create(
            owner=bob,
            name="not mine",
            steps=[
                {"kind": StepKind.LOAD, "job": jobs[0]},
                {"kind": StepKind.DBT, "dbt_project": project, "dbt_command": "explode"},
                {"kind": StepKind.LOAD, "job": None, "retries": 99},
            ],
            alert_emails=["not-an-address"],
            alert_webhook_url="ftp://example.com/hook",
        )
    errors = caught.value.message_dict
    assert errors["steps"] == [
        "Step 1: choose the job it loads.",
        "Step 2: choose the dbt project it runs.",
        "Step 2: the dbt command is one of build, run, test, seed, snapshot, deps.",
        "Step 3: choose the job it loads.",
        "Step 3: retries from 0 to 10.",
    ]
    assert errors["alert_emails"] == ["'not-an-address' is not an e-mail address."]
    assert errors["alert_webhook_url"] == ["An http:// or https:// address."]

    pipeline = pipeline_create(owner=alice, name="ok", steps=medallion_steps(jobs, project, "b"))
    pipeline_update(pipeline=pipeline, steps=[{"kind": StepKind.LOAD, "job": jobs[1]}])
    assert [str(step) for step in pipeline.steps.all()] == ["load load orders"]
