"""What a project or a pipeline must not be able to do, and the states a pipeline run must not be
left in: files outside the project, the worker's files from DuckDB, Python models, directories
outside DBT_PROJECTS_DIRS, a step delivered twice, a dbt process outliving its run, a cancel
while a step waits for its retry, a timeout in a retry, a retry of a deleted job."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import psutil
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from credentials.services import credential_create
from jobs.dbt_projects import dbt_project_create
from jobs.models import StepKind
from jobs.pipelines import pipeline_create, pipeline_update
from jobs.schedules import schedule_create
from jobs.services import job_delete
from runs.dbt import DbtCommandSpec, DbtError, DbtTarget, profile, read_results, run_command
from runs.models import JobRun, RunKind, RunStatus
from runs.pipelines import pipeline_retry, pipeline_step, pipelines_time_out
from runs.services import run_cancel, run_claim
from tests.conftest import dest_credential_fields, wait_until
from tests.dbt_fixtures import MEDALLION
from tests.factories import make_credential, make_job
from tests.test_dbt_runner import analytics as analytics  # a fixture
from tests.test_dbt_runner import pg_target, sleepy_project, write_project

pytestmark = pytest.mark.django_db(transaction=True)

PROJECT_YML = "name: p\nversion: '1.0'\nconfig-version: 2\nprofile: etlportal\n"


# -- what a project may reach ---------------------------------------------------------------------
def test_a_duckdb_model_cannot_read_the_workers_files(tmp_path):
    secret = tmp_path / "secrets.env"
    secret.write_text("FIELD_ENCRYPTION_KEY=topsecret-key-material\n")
    project = write_project(
        tmp_path / "thief",
        {
            "dbt_project.yml": PROJECT_YML,
            "models/steal.sql": "{{ config(materialized='table') }} "
            f"select cast(content as integer) as x from read_text('{secret}')",
        },
    )
    target = DbtTarget(kind="duckdb", schema="main", database=str(tmp_path / "w.duckdb"), threads=1)
    lines: list[str] = []

    outcome = run_command(DbtCommandSpec("run"), project_dir=project, target=target, on_line=lines.append)

    assert not outcome.ok
    (steal,) = outcome.results or [print("\n".join(lines))]
    assert steal.status == "error" and "file system operations are disabled" in steal.message
    assert not any("topsecret" in text for text in [*lines, steal.message])
    assert profile(target)["etlportal"]["outputs"]["prod"]["settings"] == {"enable_external_access": False}


@pytest.mark.parametrize(
    ("extra", "files", "message"),
    [
        ("seed-paths: ['/data/uploads']\n", {}, "seed-paths '/data/uploads' points outside the project"),
        ("model-paths: ['models', '../other']\n", {}, "model-paths '../other' points outside the project"),
        ("packages-install-path: '{{ env_var(\"HOME\") }}'\n", {}, "packages-install-path"),
        (
            "",
            {"models/py_model.py": "def model(dbt, session):\n    return None\n"},
            "Python files (models/py_model.py)",
        ),
    ],
)
def test_a_project_reaching_outside_itself_is_refused_when_registered_and_when_run(
    alice, tmp_path, extra, files, message
):
    project = write_project(
        tmp_path / "p", {"dbt_project.yml": PROJECT_YML + extra, "models/a.sql": "select 1", **files}
    )

    with pytest.raises(ValidationError) as refused:
        dbt_project_create(
            owner=alice, name="p", credential=make_credential(alice), target_schema="s", path=str(project)
        )
    assert message in " ".join(refused.value.messages)
    with pytest.raises(DbtError) as stopped:
        run_command(DbtCommandSpec("run"), project_dir=project, target=pg_target("s"), on_line=lambda line: None)
    assert message in str(stopped.value)


def test_only_directories_inside_dbt_projects_dirs_can_be_registered(alice, settings, tmp_path):
    credential = make_credential(alice)
    settings.DBT_PROJECTS_DIRS = [tmp_path / "projects"]
    inside = write_project(tmp_path / "projects" / "ok", {"dbt_project.yml": PROJECT_YML})

    def register(path: str) -> str:
        try:
            dbt_project_create(owner=alice, name="p", credential=credential, target_schema="s", path=path)
        except ValidationError as exc:
            return " ".join(exc.messages)
        return ""

    assert register(str(inside)) == ""
    # Outside: one answer whether the directory exists or not (no probing of the server's disk).
    for outside in ("/etc", "/nonexistent", str(tmp_path / "projects" / ".." / "elsewhere"), str(MEDALLION)):
        assert "only from inside" in register(outside) and "DBT_PROJECTS_DIRS" in register(outside), outside
    assert "is not a directory" in register(str(tmp_path / "projects" / "missing"))
    assert "An absolute path" in register("projects/ok")
    assert "only from inside" in register("/" + "a" * 300)  # no ENAMETOOLONG
    assert "An absolute path" in register("~nosuchuser/x")
    settings.DBT_PROJECTS_DIRS = []
    assert "DBT_PROJECTS_DIRS is empty" in register(str(inside))


def test_dbt_is_stopped_when_its_output_cannot_be_handled(dest, analytics, tmp_path):
    project = sleepy_project(tmp_path / "sleepy", 67)  # a length no other test sleeps for
    started = threading.Event()

    def on_line(line: str) -> None:
        if "START sql" in line:
            started.set()
            raise RuntimeError("the run's log cannot be written")  # e.g. its database went away

    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(RuntimeError):
        run_command(
            DbtCommandSpec("run"), project_dir=project, target=pg_target(analytics), on_line=on_line,
            work_root=str(work),
        )  # fmt: skip

    assert started.is_set()
    dbt_processes = [p for p in psutil.process_iter(["cmdline"]) if str(work) in " ".join(p.info["cmdline"] or [])]
    assert dbt_processes == []
    from tests.test_dbt_runner import sleeping

    wait_until(lambda: sleeping(dest, "pg_sleep(67)") == 0, timeout=10, what="dbt's query to be cancelled")


def test_a_view_counts_no_rows_rather_than_minus_one(tmp_path):
    results = tmp_path / "run_results.json"
    results.write_text(
        '{"results": [{"unique_id": "model.p.v", "status": "success", "adapter_response": {"rows_affected": -1}},'
        ' {"unique_id": "model.p.t", "status": "success", "adapter_response": {"rows_affected": 8}}]}'
    )
    assert [r.rows_affected for r in read_results(results)] == [None, 8]


def test_the_credentials_tls_options_reach_dbt_and_its_secrets_do_not():
    target = DbtTarget(
        kind="postgresql", schema="s", host="db", username="u", password="pw",
        options={"sslrootcert": "/certs/ca.pem", "connect_timeout": "7", "options": "-c search_path=x"},
    )  # fmt: skip
    output = profile(target)["etlportal"]["outputs"]["prod"]
    assert (output["sslrootcert"], output["connect_timeout"]) == ("/certs/ca.pem", 7)
    assert "options" not in output and "pw" not in str(output)


# -- pipeline runs ----------------------------------------------------------------------------------
@pytest.fixture
def two_loads(alice):
    credential = credential_create(owner=alice, name="warehouse", **dest_credential_fields())
    jobs = [make_job(alice, table=f"t{i}", credential=credential) for i in (1, 2, 3)]
    pipeline = pipeline_create(
        owner=alice,
        name="p",
        timeout_minutes=5,
        steps=[{"kind": StepKind.LOAD, "job": job, "retries": 1, "retry_delay_seconds": 600} for job in jobs],
    )
    return pipeline, jobs


def running(pipeline, plan=None, **fields) -> JobRun:
    from runs.pipelines import _step_plan

    plan = plan or [_step_plan(step) for step in pipeline.steps.order_by("position")]
    values = {"status": RunStatus.RUNNING, "started_at": timezone.now(), "heartbeat_at": timezone.now(), **fields}
    return JobRun.objects.create(kind=RunKind.PIPELINE, pipeline=pipeline, plan=plan, **values)


def test_a_step_delivered_twice_runs_once(two_loads, dest):
    pipeline, jobs = two_loads
    run = running(pipeline)

    assert pipeline_step(run_id=run.pk, index=0, attempt=1) is True
    assert pipeline_step(run_id=run.pk, index=0, attempt=1) is False  # the second delivery

    assert run.steps.filter(step_position=1).count() == 1
    assert dest.execute("SELECT count(*) FROM public.t1").fetchone()[0] == 3  # loaded once
    dest.execute("DROP TABLE public.t1")


def test_a_cancel_while_a_step_waits_for_its_retry_ends_the_run_at_once(two_loads, alice):
    pipeline, jobs = two_loads
    run = running(pipeline)
    JobRun.objects.create(
        kind=RunKind.LOAD, job=jobs[0], parent=run, step_position=1, status=RunStatus.FAILED,
        finished_at=timezone.now(), error_message="boom",
    )  # fmt: skip

    run_cancel(run=run, user=alice)

    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.error_message == "Cancelled by alice between steps."
    statuses = run.steps.order_by("step_position").values_list("step_position", "status")
    assert list(statuses) == [(1, "FAILED"), (2, "SKIPPED"), (3, "SKIPPED")]
    assert pipeline_step(run_id=run.pk, index=0, attempt=2) is False  # the retry, when due, does nothing


def test_a_cancelled_pipeline_stops_the_step_that_started_meanwhile(two_loads):
    pipeline, jobs = two_loads
    run = running(pipeline, cancel_requested_at=timezone.now())
    child = JobRun.objects.create(kind=RunKind.LOAD, job=jobs[0], parent=run, step_position=1)
    assert run_claim(run_id=child.pk)
    from runs.executor import Watcher

    watcher = Watcher(child.pk, 0.2, also=[run.pk])
    watcher.start()
    try:
        assert watcher.cancelled.wait(5), "the step's watcher sees its pipeline's cancel"
    finally:
        watcher.stop()


def test_the_timeout_of_a_retry_does_not_skip_the_steps_it_reused(two_loads):
    pipeline, jobs = two_loads
    first = running(pipeline)
    plan = [dict(step) for step in first.plan]
    plan[0]["reuse"] = 1234
    retry = running(pipeline, plan=plan, started_at=timezone.now() - timedelta(minutes=6))
    JobRun.objects.create(
        kind=RunKind.LOAD, job=jobs[1], parent=retry, step_position=2, status=RunStatus.FAILED,
        finished_at=timezone.now(),
    )  # fmt: skip

    assert pipelines_time_out() >= 1

    retry.refresh_from_db()
    assert retry.status == RunStatus.FAILED
    assert list(retry.steps.order_by("step_position").values_list("step_position", "status")) == [
        (2, "FAILED"),
        (3, "SKIPPED"),
    ]


def test_a_retry_of_a_deleted_job_is_refused_and_a_step_whose_job_is_gone_fails_the_run(two_loads, alice):
    pipeline, jobs = two_loads
    failed = running(pipeline)
    JobRun.objects.filter(pk=failed.pk).update(status=RunStatus.FAILED, finished_at=timezone.now())
    failed.refresh_from_db()
    pipeline_update(pipeline=pipeline, steps=[{"kind": StepKind.LOAD, "job": jobs[0]}])
    job_delete(job=jobs[1])

    with pytest.raises(ValidationError) as refused:
        pipeline_retry(run=failed, user=alice)
    assert "step 2 (load load t2): its job was deleted." in refused.value.messages[0]

    stuck = running(pipeline, plan=failed.plan)
    assert pipeline_step(run_id=stuck.pk, index=1, attempt=1) is False
    stuck.refresh_from_db()
    assert stuck.status == RunStatus.FAILED
    assert stuck.error_message == "Step 2 (load load t2) could not start: its job was deleted."
    assert list(stuck.steps.order_by("step_position").values_list("step_position", "status")) == [
        (2, "FAILED"),
        (3, "SKIPPED"),
    ]


def test_a_failed_run_is_retried_once(two_loads, alice):
    pipeline, _ = two_loads
    failed = running(pipeline)
    JobRun.objects.filter(pk=failed.pk).update(status=RunStatus.FAILED, finished_at=timezone.now())
    failed.refresh_from_db()

    again = JobRun.objects.create(kind=RunKind.PIPELINE, pipeline=pipeline, retry_of=failed, plan=failed.plan)
    with pytest.raises(ValidationError) as refused:
        pipeline_retry(run=failed, user=alice)
    assert f"already retried as run {again.pk}" in refused.value.messages[0]


def test_deleting_a_job_removes_its_schedules_beat_entry(alice):
    job = make_job(alice)
    schedule = schedule_create(owner=alice, name="hourly", cron="0 * * * *", job=job)
    task_id = schedule.periodic_task_id

    job_delete(job=job)

    assert not PeriodicTask.objects.filter(pk=task_id).exists()


def test_a_registered_archive_is_checked_without_being_unpacked_on_every_look(alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from jobs.dbt_projects import dbt_project_check
    from tests.test_api_pipelines import project_zip

    archive = SimpleUploadedFile("p.zip", project_zip().read(), content_type="application/zip")
    project = dbt_project_create(
        owner=alice, name="zipped", credential=make_credential(alice), target_schema="s", archive=archive
    )
    assert dbt_project_check(project) == ""
    Path(project.archive.path).write_bytes(b"not a zip any more")
    assert dbt_project_check(project) == "Not a zip archive."


def test_a_webhook_to_a_metadata_service_is_not_sent(alice):
    from runs.alerts import alerts_send
    from runs.models import RunEvent

    job = make_job(alice)
    job.alert_webhook_url = "http://169.254.169.254/latest/meta-data/?token=abc"
    job.save()
    run = JobRun.objects.create(job=job, status=RunStatus.FAILED, finished_at=timezone.now(), error_message="boom")

    alerts_send(run_id=run.pk, event="run.failed")

    (logged,) = RunEvent.objects.filter(run=run, phase="alert").values_list("message", flat=True)
    assert logged.startswith("Alert webhook to http://169.254.169.254 not sent: it is a link-local address")


def test_a_credential_used_by_a_dbt_project_says_so_when_deleted(alice):
    from credentials.services import credential_delete

    credential = make_credential(alice)
    dbt_project_create(owner=alice, name="medallion", credential=credential, target_schema="s", path=str(MEDALLION))

    with pytest.raises(ValidationError) as refused:
        credential_delete(credential=credential)
    assert refused.value.messages == [
        "Credential 'warehouse' is used by dbt projects: medallion. Change or delete them first."
    ]


def test_vars_too_deep_for_python_are_refused_in_admin_and_by_every_api_endpoint(staff, alice):
    from tests.conftest import client_for

    job = make_job(alice)
    pipeline = pipeline_create(owner=alice, name="p", steps=[{"kind": StepKind.LOAD, "job": job}])
    step = pipeline.steps.get()
    deep = "[" * 100_000
    form = {
        "owner": alice.pk, "name": "p", "description": "", "timeout_minutes": "", "alert_emails": "",
        "alert_webhook_url": "", "alert_after_minutes": "", "steps-TOTAL_FORMS": "1", "steps-INITIAL_FORMS": "1",
        "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000", "steps-0-id": step.pk,
        "steps-0-pipeline": pipeline.pk, "steps-0-position": "1", "steps-0-kind": "load", "steps-0-job": job.pk,
        "steps-0-dbt_vars": deep, "steps-0-retries": "0", "steps-0-retry_delay_seconds": "60",
    }  # fmt: skip
    page = client_for(staff).post(f"/admin/jobs/pipeline/{pipeline.pk}/change/", form)
    assert page.status_code == 200 and "--vars cannot be read" in page.content.decode()

    api = client_for(alice)
    for url in ("/api/jobs/", f"/api/uploads/{job.source_id}/inspection/"):
        response = api.post(url, deep, content_type="application/json")
        assert response.status_code == 400 and "nested too deep" in response.json()["detail"], url
    with pytest.raises(ValidationError) as refused:
        pipeline_update(pipeline=pipeline, alert_after_minutes=2**40)
    assert refused.value.message_dict["alert_after_minutes"] == ["From 1 to 2147483647 minutes."]
