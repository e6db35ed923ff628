"""The pages for dbt projects, pipelines (the step editor, without JavaScript too), schedules, a
job's alerts, and a pipeline run's timeline: status codes, permissions, errors on the form."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_celery_beat.models import PeriodicTask

from jobs.dbt_projects import dbt_project_create
from jobs.models import DbtProject, Pipeline, Schedule, StepKind
from jobs.pipelines import pipeline_create
from jobs.schedules import schedule_create
from runs.models import DbtNodeResult, JobRun, RunKind
from tests.dbt_fixtures import MEDALLION
from tests.factories import make_credential, make_job
from tests.pages import browser, get_counting_queries, htmx
from tests.test_api_pipelines import project_zip

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(alice):
    return dbt_project_create(
        owner=alice, name="medallion", credential=make_credential(alice), target_schema="analytics", path=str(MEDALLION)
    )


@pytest.fixture
def job(alice):
    return make_job(alice, table="orders")


def editor_post(name: str, steps: list[dict], action: str = "save", **extra) -> dict:
    data = {"name": name, "description": "", "timeout_minutes": "", "action": action, **extra}
    data.update({"form-TOTAL_FORMS": str(len(steps)), "form-INITIAL_FORMS": "0"})
    for index, step in enumerate(steps):
        row = {"retries": "0", "retry_delay_seconds": "60", **step}
        data.update({f"form-{index}-{key}": value for key, value in row.items()})
    return data


def test_a_dbt_project_is_registered_from_a_directory_or_an_archive(alice, bob):
    client = browser(alice)
    credential = make_credential(alice)
    form = {"name": "medallion", "credential": credential.pk, "target_schema": "analytics", "threads": "4"}

    assert client.get("/dbt/new/").status_code == 200
    wrong = client.post("/dbt/new/", {**form, "path": "/srv/nothing-here"})
    assert (
        wrong.status_code == 200 and "Projects are registered by directory only from inside" in wrong.content.decode()
    )

    made = client.post("/dbt/new/", {**form, "path": str(MEDALLION)})
    assert made.status_code == 302
    project = DbtProject.objects.get(name="medallion")
    page = client.get(made["Location"]).content.decode()
    assert str(MEDALLION) in page and "cannot be read" not in page

    archive = SimpleUploadedFile("medallion.zip", project_zip().read(), content_type="application/zip")
    zipped = client.post("/dbt/new/", {**form, "name": "zipped", "archive": archive})
    assert zipped.status_code == 302 and DbtProject.objects.get(name="zipped").source == "archive"

    assert browser(bob).get(f"/dbt/{project.pk}/").status_code == 404
    assert browser(bob).post(f"/dbt/{project.pk}/delete/").status_code == 404
    assert client.post(f"/dbt/{project.pk}/delete/").status_code == 302
    assert not DbtProject.objects.filter(pk=project.pk).exists()


def test_the_step_editor_adds_moves_and_removes_steps_without_javascript(alice, job, project):
    client = browser(alice)
    steps = [{"kind": "load", "job": job.pk}]

    assert client.get("/pipelines/new/").status_code == 200
    added = client.post("/pipelines/new/", editor_post("nightly", steps, action="add-dbt"))
    assert added.status_code == 200 and 'name="form-TOTAL_FORMS" value="2"' in added.content.decode()
    moved = client.post(
        "/pipelines/new/",
        editor_post("nightly", [*steps, {"kind": "dbt", "dbt_project": project.pk, "dbt_command": "test"}], "up-1"),
    )
    page = moved.content.decode()
    assert page.index('name="form-0-dbt_command"') < page.index("</fieldset>")  # the dbt step is first now
    assert 'value="test" selected' in page
    removed = client.post("/pipelines/new/", editor_post("nightly", [*steps, {"kind": "dbt"}], action="remove-1"))
    assert 'name="form-TOTAL_FORMS" value="1"' in removed.content.decode()
    assert not Pipeline.objects.exists()  # nothing saved until Save


def test_a_pipeline_is_saved_run_and_shown_with_its_steps(alice, bob, job, project):
    client = browser(alice)
    steps = [
        {"kind": "load", "job": job.pk, "retries": "2", "retry_delay_seconds": "30"},
        {"kind": "dbt", "dbt_project": project.pk, "dbt_command": "build", "select": "silver"},
        {"kind": "dbt", "dbt_project": project.pk, "dbt_command": "test", "dbt_vars": "[1]"},
    ]

    refused = client.post("/pipelines/new/", editor_post("nightly", steps))
    assert refused.status_code == 200 and "--vars is an object" in refused.content.decode()
    steps[2]["dbt_vars"] = '{"day": "2026-12-05"}'
    saved = client.post("/pipelines/new/", editor_post("nightly", steps, alert_emails="oncall@example.com"))
    assert saved.status_code == 302, saved.content.decode()[-3000:]
    pipeline = Pipeline.objects.get()
    assert list(pipeline.steps.values_list("kind", "retries", "dbt_command")) == [
        ("load", 2, ""),
        ("dbt", 0, "build"),
        ("dbt", 0, "test"),
    ]
    assert pipeline.alert_emails == ["oncall@example.com"]
    detail = client.get(f"/pipelines/{pipeline.pk}/").content.decode()
    assert "load orders</a>" in detail and "dbt build --select silver" in detail and "oncall@example.com" in detail
    assert "retried 2× after 30 s" in detail
    assert client.get(f"/pipelines/{pipeline.pk}/edit/").status_code == 200

    ran = client.post(f"/pipelines/{pipeline.pk}/run/")
    run = JobRun.objects.get(pipeline=pipeline)
    assert ran.status_code == 302 and ran["Location"] == f"/runs/{run.pk}/"
    assert run.kind == RunKind.PIPELINE and len(run.plan) == 3
    assert "nightly" in client.get("/runs/").content.decode()
    assert client.get(f"/runs/?pipeline={pipeline.pk}").status_code == 200

    assert browser(bob).get(f"/pipelines/{pipeline.pk}/").status_code == 404
    assert browser(bob).post(f"/pipelines/{pipeline.pk}/run/").status_code == 404
    # A job in a pipeline is not deleted from under it.
    refused_delete = client.post(f"/jobs/{job.pk}/delete/", follow=True).content.decode()
    assert "nightly" in refused_delete and job.__class__.objects.filter(pk=job.pk).exists()


def test_a_schedule_is_made_from_a_preset_previewed_toggled_and_deleted(alice, bob, job):
    client = browser(alice)

    page = client.get(f"/schedules/new/?job={job.pk}").content.decode()
    assert f'value="job:{job.pk}" selected' in page and "At 00:00" in page
    preview = htmx(client, "get", "/schedules/describe/", {"preset": "custom", "cron": "0 9 * * 1-5"})
    assert "At 09:00, Monday through Friday" in preview.content.decode()
    paris = htmx(client, "get", "/schedules/describe/", {"preset": "daily", "timezone": "Europe/Paris"}).content
    assert re.search(r"00:00 CES?T <span class=\"muted\">\(2[23]:00 UTC\)", paris.decode())
    bad = htmx(client, "get", "/schedules/describe/", {"preset": "custom", "cron": "0 9 * *"})
    assert bad.status_code == 200 and "5 fields" in bad.content.decode()

    form = {"name": "mornings", "target": f"job:{job.pk}", "preset": "weekdays_9", "timezone": "Europe/Paris"}
    wrong = client.post("/schedules/new/", {**form, "preset": "custom", "cron": "99 * * * *"})
    assert wrong.status_code == 200 and not Schedule.objects.exists()
    made = client.post("/schedules/new/", {**form, "enabled": "on"})
    assert made.status_code == 302, made.content.decode()[-4000:]
    schedule = Schedule.objects.get()
    assert (schedule.cron, schedule.timezone, schedule.enabled) == ("0 9 * * 1-5", "Europe/Paris", True)
    listing = client.get("/schedules/").content.decode()
    assert "At 09:00, Monday through Friday" in listing and "load orders" in listing
    assert re.search(r"09:00 CES?T", listing), "the next run is shown in the schedule's time zone"
    assert f"/schedules/{schedule.pk}/" in client.get(f"/jobs/{job.pk}/").content.decode()

    client.post(f"/schedules/{schedule.pk}/toggle/")
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled is False
    assert browser(bob).get(f"/schedules/{schedule.pk}/").status_code == 404
    assert client.post(f"/schedules/{schedule.pk}/delete/").status_code == 302
    assert not Schedule.objects.exists() and not PeriodicTask.objects.filter(name__contains="mornings").exists()


def test_a_jobs_alerts_are_set_on_their_page(alice, bob, job):
    client = browser(alice)

    bad = client.post(f"/jobs/{job.pk}/alerts/", {"alert_emails": "not-an-address", "alert_webhook_url": ""})
    assert bad.status_code == 200 and "not-an-address" in bad.content.decode()
    saved = client.post(
        f"/jobs/{job.pk}/alerts/",
        {"alert_emails": "a@example.com\nb@example.com", "alert_webhook_url": "https://hooks.example.com/x?token=t0k"},
    )
    assert saved.status_code == 302
    job.refresh_from_db()
    assert job.alert_emails == ["a@example.com", "b@example.com"]
    detail = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "a@example.com" in detail and "hooks.example.com" in detail and "t0k" not in detail
    assert browser(bob).get(f"/jobs/{job.pk}/alerts/").status_code == 404


def test_a_pipeline_run_is_one_timeline_with_its_dbt_results_and_a_retry(alice, bob, job, project):
    pipeline = pipeline_create(
        owner=alice,
        name="nightly",
        steps=[
            {"kind": StepKind.LOAD, "job": job},
            {"kind": StepKind.DBT, "dbt_project": project, "dbt_command": "build", "select": "gold"},
            {"kind": StepKind.DBT, "dbt_project": project, "dbt_command": "test"},
        ],
    )
    plan = [
        {"position": 1, "kind": "load", "name": "load load orders", "job": job.pk, "retries": 0},
        {
            "position": 2,
            "kind": "dbt",
            "name": "dbt build gold",
            "dbt_project": project.pk,
            "command": "build",
            "select": "gold",
            "retries": 1,
        },
        {
            "position": 3,
            "kind": "dbt",
            "name": "dbt test",
            "dbt_project": project.pk,
            "command": "test",
            "select": "",
            "retries": 0,
        },
    ]
    run = JobRun.objects.create(
        kind=RunKind.PIPELINE, pipeline=pipeline, status="FAILED", plan=plan,
        error_message="Step 2 (dbt build gold) failed: test revenue_positive failed with 3 failing row(s)",
    )  # fmt: skip
    JobRun.objects.create(
        kind=RunKind.LOAD, job=job, parent=run, step_position=1, status="SUCCEEDED", rows_read=15, rows_written=15
    )
    for attempt in (1, 2):
        step = JobRun.objects.create(
            kind=RunKind.DBT, dbt_project=project, parent=run, step_position=2, attempt=attempt, status="FAILED",
            plan={"command": "build", "select": "gold"}, error_message="test revenue_positive failed (3 rows)",
        )  # fmt: skip
        DbtNodeResult.objects.create(
            run=step, unique_id="model.m.customer_revenue", name="customer_revenue", resource_type="model",
            status="success", rows_affected=8, execution_time=0.12,
        )  # fmt: skip
        DbtNodeResult.objects.create(
            run=step, unique_id="test.m.revenue_positive", name="revenue_positive", resource_type="test",
            status="fail", failures=3, execution_time=0.05,
        )  # fmt: skip
    JobRun.objects.create(kind=RunKind.DBT, dbt_project=project, parent=run, step_position=3, status="SKIPPED")
    client = browser(alice)

    whole = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Retry from the failed step" in whole and "Run the whole pipeline again" in whole
    figures = re.sub(r"<[^>]+>|\s+", " ", whole[whole.index('class="stats"') : whole.index('<ol class="timeline">')])
    assert "1 / 3 steps succeeded" in " ".join(figures.split())
    assert "15 rows loaded" in " ".join(figures.split()) and "1 dbt nodes failed (of 2)" in " ".join(figures.split())
    page = whole[whole.index('<ol class="timeline">') :]
    assert page.index("load load orders") < page.index("dbt build gold") < page.index("dbt test")
    assert "15 rows read, 15 written, 0 rejected" in page
    assert "attempt 2 of 2" in page and "Attempt 1 failed" in page
    model, test = 'title="model.m.customer_revenue"', 'title="test.m.revenue_positive"'
    assert page.index(model) < page.index(test)  # models first, then tests
    assert '<span class="badge fail">fail</span>' in page and "Skipped" in page
    # The steps are not runs of their own in the history, and a step's page links to its pipeline run.
    history = client.get("/runs/").content.decode()
    assert re.findall(r'href="/runs/(\d+)/"', history) == [str(run.pk)]
    step_page = client.get(f"/runs/{run.pk + 2}/").content.decode()
    assert f'href="/runs/{run.pk}/#step-2"' in step_page and "revenue_positive" in step_page

    retried = client.post(f"/runs/{run.pk}/retry/")
    again = JobRun.objects.get(retry_of=run)
    assert retried.status_code == 302 and retried["Location"] == f"/runs/{again.pk}/"
    assert [step.get("reuse") for step in again.plan] == [run.pk + 1, None, None]
    assert browser(bob).get(f"/runs/{run.pk}/").status_code == 404
    assert browser(bob).post(f"/runs/{run.pk}/retry/").status_code == 404
    # The live update renders the same status part (the websocket sends it).
    from runs.consumers import _status_html

    assert "revenue_positive" in _status_html(alice, run.pk)
    assert _status_html(bob, run.pk) == ""


def test_the_navigation_and_lists_render(alice, job, project):
    client = browser(alice)
    pipeline = pipeline_create(owner=alice, name="nightly", steps=[{"kind": StepKind.LOAD, "job": job}])
    schedule_create(owner=alice, name="daily", cron="0 0 * * *", pipeline=pipeline)

    for url in ("/pipelines/", "/dbt/", "/schedules/", f"/dbt/{project.pk}/", f"/dbt/{project.pk}/edit/", "/"):
        response = client.get(url)
        assert response.status_code == 200, url
    nav = client.get("/").content.decode()
    assert 'href="/pipelines/"' in nav and 'href="/dbt/"' in nav and 'href="/schedules/"' in nav


def test_the_schedule_list_shows_each_schedules_last_run_in_a_fixed_number_of_queries(alice, job):
    from datetime import timedelta

    from django.utils import timezone

    client = browser(alice)

    def listed(count: int) -> tuple[str, int]:
        for n in range(Schedule.objects.count(), count):
            schedule = schedule_create(owner=alice, name=f"every {n}", cron=f"{n} * * * *", job=job)
            for age, status in ((2, "FAILED"), (1, "SUCCEEDED")):  # the newer one is the last run
                run = JobRun.objects.create(job=job, schedule=schedule, status=status)
                JobRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=age + n))
        return get_counting_queries(client, "/schedules/")

    one, queries_for_one = listed(1)
    five, queries_for_five = listed(5)

    assert queries_for_five == queries_for_one
    for schedule in Schedule.objects.all():
        last = schedule.runs.order_by("-created_at").first()
        assert last.status == "SUCCEEDED"
        assert f'href="/runs/{last.pk}/">#{last.pk}</a>' in five
    assert "Failed" not in five
    schedule_create(owner=alice, name="never ran", cron="0 0 * * *", job=job)
    assert "not yet" in client.get("/schedules/").content.decode()
