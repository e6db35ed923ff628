"""The admin for dbt projects, pipelines and schedules saves through the services (the same checks
as the pages and API), and shows a pipeline run's steps and a dbt step's results."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from jobs.dbt_projects import dbt_project_create
from jobs.models import DbtProject, Pipeline, Schedule, StepKind
from jobs.pipelines import pipeline_create
from jobs.schedules import schedule_create
from runs.models import DbtNodeResult, JobRun, RunKind
from tests.conftest import client_for
from tests.dbt_fixtures import MEDALLION
from tests.factories import make_credential, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(alice):
    return dbt_project_create(
        owner=alice, name="medallion", credential=make_credential(alice), target_schema="analytics", path=str(MEDALLION)
    )


@pytest.mark.parametrize(
    "url",
    ["/admin/jobs/dbtproject/", "/admin/jobs/pipeline/", "/admin/jobs/schedule/", "/admin/runs/jobrun/?kind=pipeline"],
)
def test_the_lists_render(staff, project, url):
    job = make_job(project.owner)
    pipeline_create(owner=project.owner, name="nightly", steps=[{"kind": StepKind.LOAD, "job": job}])
    schedule_create(owner=project.owner, name="daily", cron="0 0 * * *", job=job)

    assert client_for(staff).get(url).status_code == 200


def test_a_dbt_project_is_added_with_the_services_checks(staff, alice):
    credential = make_credential(alice)
    client = client_for(staff)
    form = {
        "owner": alice.pk,
        "name": "medallion",
        "credential": credential.pk,
        "target_schema": "analytics",
        "threads": "4",
        "path": "/nonexistent/project",
    }

    refused = client.post("/admin/jobs/dbtproject/add/", form)
    assert refused.status_code == 200 and "only from inside" in refused.content.decode()
    assert not DbtProject.objects.exists()

    added = client.post("/admin/jobs/dbtproject/add/", {**form, "path": str(MEDALLION)})
    assert added.status_code == 302
    project = DbtProject.objects.get()
    assert (project.owner, project.source, project.path) == (alice, "path", str(MEDALLION))
    page = client.get(f"/admin/jobs/dbtproject/{project.pk}/change/").content.decode()
    assert "Readable now?" in page and str(MEDALLION) in page


def test_a_pipeline_is_edited_with_its_steps_and_run_now(staff, alice, project):
    job = make_job(alice)
    pipeline = pipeline_create(owner=alice, name="nightly", steps=[{"kind": StepKind.LOAD, "job": job}])
    step = pipeline.steps.get()
    form = {
        "owner": alice.pk,
        "name": "nightly",
        "description": "",
        "timeout_minutes": "",
        "alert_emails": "oncall@example.com, data@example.com",
        "alert_webhook_url": "",
        "alert_after_minutes": "",
        "steps-TOTAL_FORMS": "2",
        "steps-INITIAL_FORMS": "1",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-id": step.pk,
        "steps-0-pipeline": pipeline.pk,
        "steps-0-position": "1",
        "steps-0-kind": "load",
        "steps-0-job": job.pk,
        "steps-0-dbt_vars": "{}",
        "steps-0-retries": "0",
        "steps-0-retry_delay_seconds": "60",
        "steps-1-pipeline": pipeline.pk,
        "steps-1-position": "2",
        "steps-1-kind": "dbt",
        "steps-1-dbt_project": project.pk,
        "steps-1-dbt_command": "",
        "steps-1-dbt_vars": "{}",
        "steps-1-retries": "0",
        "steps-1-retry_delay_seconds": "60",
    }
    client = client_for(staff)

    refused = client.post(f"/admin/jobs/pipeline/{pipeline.pk}/change/", form)
    assert refused.status_code == 200 and "dbt command" in refused.content.decode()

    bad_alert = {**form, "steps-1-dbt_command": "build", "alert_emails": "not-an-address"}
    refused_alert = client.post(f"/admin/jobs/pipeline/{pipeline.pk}/change/", bad_alert)
    assert refused_alert.status_code == 200 and "is not an e-mail address" in refused_alert.content.decode()

    saved = client.post(f"/admin/jobs/pipeline/{pipeline.pk}/change/", {**form, "steps-1-dbt_command": "build"})
    assert saved.status_code == 302
    pipeline.refresh_from_db()
    assert pipeline.alert_emails == ["oncall@example.com", "data@example.com"]
    assert list(pipeline.steps.values_list("position", "kind", "dbt_command")) == [(1, "load", ""), (2, "dbt", "build")]

    client.post("/admin/jobs/pipeline/", {"action": "run_now", "_selected_action": [pipeline.pk]})
    run = JobRun.objects.get(pipeline=pipeline)
    assert run.kind == RunKind.PIPELINE and [step["kind"] for step in run.plan] == ["load", "dbt"]


def test_a_schedule_saved_in_admin_keeps_its_periodic_task_in_step(staff, alice):
    job = make_job(alice)
    client = client_for(staff)
    form = {"owner": alice.pk, "name": "daily", "job": job.pk, "cron": "0 0 * * *", "timezone": "UTC", "enabled": "on"}

    refused = client.post("/admin/jobs/schedule/add/", {**form, "cron": "0 25 * * *"})
    assert refused.status_code == 200 and not Schedule.objects.exists()

    assert client.post("/admin/jobs/schedule/add/", form).status_code == 302
    schedule = Schedule.objects.get()
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.enabled and task.crontab.hour == "0"

    client.post(f"/admin/jobs/schedule/{schedule.pk}/change/", {**form, "cron": "30 6 * * 1", "enabled": ""})
    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week, task.enabled) == ("30", "6", "1", False)

    client.post(f"/admin/jobs/schedule/{schedule.pk}/delete/", {"post": "yes"})
    assert not Schedule.objects.exists() and not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_a_pipeline_run_shows_its_steps_and_a_dbt_step_its_results(staff, alice, project):
    pipeline = Pipeline.objects.create(owner=alice, name="nightly")
    parent = JobRun.objects.create(kind=RunKind.PIPELINE, pipeline=pipeline, status="FAILED", plan=[])
    step = JobRun.objects.create(
        kind=RunKind.DBT, dbt_project=project, parent=parent, step_position=1, status="FAILED",
        plan={"command": "test", "select": "gold"},
    )  # fmt: skip
    DbtNodeResult.objects.create(
        run=step, unique_id="test.m.revenue_positive", name="revenue_positive", resource_type="test",
        status="fail", failures=3,
    )  # fmt: skip
    client = client_for(staff)

    assert "dbt test gold" in client.get(f"/admin/runs/jobrun/{parent.pk}/change/").content.decode()
    page = client.get(f"/admin/runs/jobrun/{step.pk}/change/").content.decode()
    assert "revenue_positive" in page and "results (run_results.json)" in page

    client.post("/admin/runs/jobrun/", {"action": "retry_from_failed_step", "_selected_action": [parent.pk, step.pk]})
    assert JobRun.objects.filter(retry_of=parent).count() == 1
