"""Odd input to pipelines and schedules, from every entry point (pages, API, admin): refused with
a message saying what is wrong and where, never a 500 (DataError, OSError, RecursionError)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from jobs.dbt_projects import dbt_project_create
from jobs.models import Pipeline, PipelineStep, Schedule, StepKind
from jobs.pipelines import pipeline_create
from jobs.schedules import cron_fields, schedule_create, tick_slot, zone
from runs.models import JobRun, RunEvent, RunStatus, RunTrigger
from runs.scheduled import schedule_fire
from tests.conftest import client_for
from tests.dbt_fixtures import MEDALLION
from tests.factories import make_credential, make_job
from tests.pages import browser, htmx

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000
LONG_ZONE = "A" * 300


@pytest.fixture
def job(alice):
    return make_job(alice, table="orders")


@pytest.fixture
def project(alice):
    return dbt_project_create(
        owner=alice, name="medallion", credential=make_credential(alice), target_schema="analytics", path=str(MEDALLION)
    )


def _text(response) -> str:
    return response.content.decode()


# -- time zones -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Europe", LONG_ZONE, "../../etc/passwd", "Europe/\0Paris", ""])
def test_a_time_zone_that_is_not_a_zone_name_is_unknown(name):
    with pytest.raises(ValidationError, match="Unknown time zone"):
        zone(name)


@pytest.mark.parametrize("name", ["Europe", LONG_ZONE])
def test_the_live_preview_says_a_directory_or_a_long_name_is_no_time_zone(alice, name):
    response = htmx(browser(alice), "get", "/schedules/describe/", {"preset": "daily", "timezone": name})
    assert response.status_code == 200 and "Unknown time zone" in _text(response)


@pytest.mark.parametrize("name", ["Europe", LONG_ZONE])
def test_a_schedule_in_a_directory_or_a_long_name_is_refused_on_every_entry_point(alice, staff, job, name):
    api = client_for(alice).post(
        "/api/schedules/", {"name": "x", "job": job.pk, "cron": "0 0 * * *", "timezone": name}, format="json"
    )
    assert api.status_code == 400 and "timezone" in api.json(), api.content

    page = browser(alice).post(
        "/schedules/new/", {"name": "x", "target": f"job:{job.pk}", "preset": "daily", "timezone": name}
    )
    assert page.status_code == 200 and "Select a valid choice" in _text(page)

    form = {"owner": alice.pk, "name": "x", "job": job.pk, "cron": "0 0 * * *", "timezone": name, "enabled": "on"}
    admin = client_for(staff).post("/admin/jobs/schedule/add/", form)
    assert admin.status_code == 200 and ("Unknown time zone" in _text(admin) or "at most 64" in _text(admin))
    assert not Schedule.objects.exists()


# -- cron expressions -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cron", "field"),
    [
        ("-1 * * * *", "minute"),
        ("0 1,-2 * * *", "hour"),
        ("0 0 */ * *", "day-of-month"),
        ("0 0 * 1,,2 *", "month"),
        ("0 0 * * -", "day-of-week"),
        ("61 * * * *", "minute"),
    ],
)
def test_a_bad_cron_field_is_named(cron, field):
    with pytest.raises(ValidationError) as caught:
        cron_fields(cron)
    message = caught.value.messages[0]
    assert message.startswith(f"Not a valid cron expression {cron!r}") and f"the {field} field" in message, message


def test_a_negative_cron_field_is_refused_on_every_entry_point(alice, staff, job):
    api = client_for(alice).post("/api/schedules/", {"name": "x", "job": job.pk, "cron": "-1 * * * *"}, format="json")
    assert api.status_code == 400 and "minute field" in api.json()["cron"][0]

    posted = {"name": "x", "target": f"job:{job.pk}", "preset": "custom", "cron": "-1 * * * *", "timezone": "UTC"}
    page = browser(alice).post("/schedules/new/", posted)
    assert page.status_code == 200 and "minute field" in _text(page)
    preview = htmx(browser(alice), "get", "/schedules/describe/", {"preset": "custom", "cron": "0 -3 * * *"})
    assert preview.status_code == 200 and "hour field" in _text(preview)

    form = {"owner": alice.pk, "name": "x", "job": job.pk, "cron": "-1 * * * *", "timezone": "UTC", "enabled": "on"}
    admin = client_for(staff).post("/admin/jobs/schedule/add/", form)
    assert admin.status_code == 200 and "minute field" in _text(admin)
    assert not Schedule.objects.exists()


def test_a_cron_field_longer_than_beat_stores_is_refused_by_name():
    hours = ",".join(["1"] * 60)  # 119 characters; beat's table keeps 96 for the hours
    with pytest.raises(ValidationError, match="the hour field is at most 96 characters"):
        cron_fields(f"0 {hours} * * *")
    with pytest.raises(ValidationError, match="at most 200 characters"):
        cron_fields(f"{','.join(['1'] * 110)} * * * *")


def test_a_long_cron_is_refused_by_the_api_and_the_admin(alice, staff, job):
    minutes = ",".join(["0"] * 120)  # 239 characters: beat would take it, the schedule's column not
    api = client_for(alice).post(
        "/api/schedules/", {"name": "x", "job": job.pk, "cron": f"{minutes} * * * *"}, format="json"
    )
    assert api.status_code == 400 and "cron" in api.json(), api.content

    hours = ",".join(["1"] * 60)
    form = {"owner": alice.pk, "name": "x", "job": job.pk, "cron": f"0 {hours} * * *", "timezone": "UTC"}
    admin = client_for(staff).post("/admin/jobs/schedule/add/", form)
    assert admin.status_code == 200 and "the hour field is at most 96 characters" in _text(admin)
    assert not Schedule.objects.exists()


# -- dbt --vars ---------------------------------------------------------------------------------
BAD_VARS = [
    ('{"start": "2024\\u0000-01-01"}', "NUL"),
    ('{"st\\u0000art": 1}', "NUL"),
    ('{"ratio": NaN}', "NaN"),
    ('{"ratio": -Infinity}', "Infinity"),
    ('{"ratio": 1e999999}', "too large"),
    ('{"deep": ' + "[" * 100 + "]" * 100 + "}", "nested"),
]


def nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth - 1):
        value = [value]
    return value


def _dbt_step(project, **values) -> dict:
    return {"kind": StepKind.DBT, "dbt_project": project, "dbt_command": "build", **values}


@pytest.mark.parametrize(
    "dbt_vars",
    [
        {"start": "a\0b"},
        {"a\0b": 1},
        {"list": [{"x": ["\0"]}]},
        {"ratio": float("nan")},
        {"ratio": float("inf")},
        {"deep": nested(100)},
    ],
)
def test_dbt_vars_postgresql_cannot_store_are_refused_by_the_service(alice, project, dbt_vars):
    with pytest.raises(ValidationError) as caught:
        pipeline_create(owner=alice, name="nightly", steps=[_dbt_step(project, dbt_vars=dbt_vars)])
    assert caught.value.message_dict["steps"][0].startswith("Step 1: dbt variables ")
    assert not Pipeline.objects.exists()


def test_dbt_vars_nested_deep_but_storable_are_kept(alice, project):
    deep = nested(30)
    pipeline = pipeline_create(owner=alice, name="nightly", steps=[_dbt_step(project, dbt_vars={"deep": deep})])
    assert PipelineStep.objects.get(pipeline=pipeline).dbt_vars == {"deep": deep}


def editor_post(name: str, steps: list[dict], **extra) -> dict:
    data = {"name": name, "description": "", "timeout_minutes": "", "action": "save", **extra}
    data.update({"form-TOTAL_FORMS": str(len(steps)), "form-INITIAL_FORMS": "0"})
    for index, step in enumerate(steps):
        row = {"retries": "0", "retry_delay_seconds": "60", **step}
        data.update({f"form-{index}-{key}": value for key, value in row.items()})
    return data


@pytest.mark.parametrize(("text", "words"), [*BAD_VARS, (DEEP, "nested")])
def test_the_step_editor_says_why_dbt_vars_cannot_be_stored(alice, project, text, words):
    step = {"kind": "dbt", "dbt_project": project.pk, "dbt_command": "build", "dbt_vars": text}
    response = browser(alice).post("/pipelines/new/", editor_post("nightly", [step]))
    assert response.status_code == 200 and "--vars" in _text(response) and words in _text(response)
    assert not Pipeline.objects.exists()


def _api_steps(project, **values) -> list[dict]:
    return [{"kind": "dbt", "dbt_project": project.pk, "dbt_command": "build", **values}]


@pytest.mark.parametrize(("text", "words"), BAD_VARS[:2] + BAD_VARS[4:])
def test_the_api_refuses_dbt_vars_postgresql_cannot_store(alice, project, text, words):
    body = '{"name": "nightly", "steps": [{"kind": "dbt", "dbt_project": %d, "dbt_command": "build", "dbt_vars": %s}]}'
    response = client_for(alice).post("/api/pipelines/", body % (project.pk, text), content_type="application/json")
    assert response.status_code == 400, response.content
    assert "dbt variables" in str(response.json()) and words in str(response.json())
    assert not Pipeline.objects.exists()


@pytest.mark.parametrize("text", ['{"ratio": NaN}', DEEP])
def test_the_api_answers_400_to_json_it_cannot_read(alice, project, text):
    body = '{"name": "nightly", "steps": [{"kind": "dbt", "dbt_project": %d, "dbt_command": "build", "dbt_vars": %s}]}'
    response = client_for(alice).post("/api/pipelines/", body % (project.pk, text), content_type="application/json")
    assert response.status_code == 400, response.content
    assert not Pipeline.objects.exists()


def _admin_pipeline_form(alice, project, **step) -> dict:
    return {
        "owner": alice.pk,
        "name": "nightly",
        "description": "",
        "timeout_minutes": "",
        "alert_emails": "",
        "alert_webhook_url": "",
        "alert_after_minutes": "",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-position": "1",
        "steps-0-kind": "dbt",
        "steps-0-dbt_project": project.pk,
        "steps-0-dbt_command": "build",
        "steps-0-dbt_vars": "{}",
        "steps-0-retries": "0",
        "steps-0-retry_delay_seconds": "60",
        **{f"steps-0-{key}": value for key, value in step.items()},
    }


@pytest.mark.parametrize(("text", "words"), BAD_VARS)
def test_the_admin_refuses_dbt_vars_postgresql_cannot_store(staff, alice, project, text, words):
    response = client_for(staff).post("/admin/jobs/pipeline/add/", _admin_pipeline_form(alice, project, dbt_vars=text))
    assert response.status_code == 200 and "dbt variables" in _text(response) and words in _text(response)
    assert not Pipeline.objects.exists()


# -- --select and --exclude -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("select", "--profiles-dir /tmp/evil"),
        ("select", "silver -x"),
        ("exclude", "tag:daily\t--target prod"),
        ("exclude", "-s gold"),
    ],
)
def test_select_and_exclude_take_node_selectors_not_options(alice, staff, project, name, value):
    with pytest.raises(ValidationError) as caught:
        pipeline_create(owner=alice, name="nightly", steps=[_dbt_step(project, **{name: value})])
    assert any(f"--{name} takes node selectors, not options" in m for m in caught.value.message_dict["steps"])

    api = client_for(alice).post(
        "/api/pipelines/", {"name": "nightly", "steps": _api_steps(project, **{name: value})}, format="json"
    )
    assert api.status_code == 400 and f"--{name} takes node selectors, not options" in str(api.json())

    step = {"kind": "dbt", "dbt_project": project.pk, "dbt_command": "build", name: value}
    page = browser(alice).post("/pipelines/new/", editor_post("nightly", [step]))
    assert page.status_code == 200 and f"--{name} takes node selectors, not options" in _text(page)

    admin = client_for(staff).post("/admin/jobs/pipeline/add/", _admin_pipeline_form(alice, project, **{name: value}))
    assert admin.status_code == 200 and f"--{name} takes node selectors, not options" in _text(admin)
    assert not Pipeline.objects.exists()


@pytest.mark.parametrize("name", ["select", "exclude"])
def test_select_and_exclude_refuse_a_nul(alice, project, name):
    with pytest.raises(ValidationError, match=f"{name} is one line of dbt selectors"):
        pipeline_create(owner=alice, name="nightly", steps=[_dbt_step(project, **{name: "silver\0gold"})])
    api = client_for(alice).post(
        "/api/pipelines/", {"name": "nightly", "steps": _api_steps(project, **{name: "silver\0gold"})}, format="json"
    )
    assert api.status_code == 400


def test_selectors_with_a_dash_inside_are_fine(alice, project):
    pipeline = pipeline_create(
        owner=alice, name="nightly", steps=[_dbt_step(project, select="my-model+ tag:nightly-x", exclude="a-b")]
    )
    assert pipeline.steps.get().select == "my-model+ tag:nightly-x"


# -- minutes beyond an integer column -----------------------------------------------------------------------
@pytest.mark.parametrize("field", ["timeout_minutes", "alert_after_minutes"])
def test_the_pipeline_page_refuses_minutes_beyond_the_column(alice, job, field):
    step = {"kind": "load", "job": job.pk}
    response = browser(alice).post("/pipelines/new/", editor_post("nightly", [step], **{field: "99999999999999"}))
    assert response.status_code == 200 and "less than or equal to 2147483647" in _text(response)
    assert not Pipeline.objects.exists()


def test_the_service_refuses_a_timeout_beyond_the_column(alice, job):
    with pytest.raises(ValidationError) as caught:
        pipeline_create(
            owner=alice, name="nightly", timeout_minutes=99999999999999, steps=[{"kind": StepKind.LOAD, "job": job}]
        )
    assert caught.value.message_dict["timeout_minutes"] == ["At most 2147483647 minutes, or none."]


def test_the_api_refuses_a_timeout_beyond_the_column(alice, job):
    response = client_for(alice).post(
        "/api/pipelines/",
        {"name": "nightly", "timeout_minutes": 99999999999999, "steps": [{"kind": "load", "job": job.pk}]},
        format="json",
    )
    assert response.status_code == 400 and "timeout_minutes" in response.json()


# -- the tick a firing belongs to ----------------------------------------------------------------------------
def test_a_worker_whose_clock_is_a_little_behind_names_the_coming_tick():
    tick = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday
    early = datetime(2026, 12, 7, 8, 59, 59, 700_000, tzinfo=UTC)
    assert tick_slot("0 9 * * 1-5", "UTC", now=early) == tick
    assert tick_slot("* * * * *", "UTC", now=early) == tick
    assert tick_slot("0 10 * * *", "Europe/Paris", now=early) == tick  # 10:00 in Paris
    assert tick_slot("0 9 * * 1-5", "UTC", now=tick.replace(hour=8, minute=59, second=59, microsecond=1)) == tick
    # Further than TICK_TOLERANCE before it: the tick before (a late copy of it, as far as can be told).
    assert tick_slot("* * * * *", "UTC", now=tick.replace(hour=8, minute=59, second=58)) == tick.replace(
        hour=8, minute=59
    )


def test_a_late_firing_still_names_the_tick_it_was_sent_for():
    tick = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert tick_slot("0 9 * * 1-5", "UTC", now=tick) == tick
    assert tick_slot("0 9 * * 1-5", "UTC", now=tick.replace(second=0, microsecond=300_000)) == tick
    assert tick_slot("* * * * *", "UTC", now=tick.replace(second=45)) == tick
    # Far from the next tick: the one before, as always.
    assert tick_slot("0 9 * * 1-5", "UTC", now=tick.replace(hour=8, minute=59, second=30)) == tick.replace(day=4)


def test_a_tick_fired_by_a_worker_a_little_behind_makes_the_ticks_run(alice, job):
    schedule = schedule_create(owner=alice, name="mornings", cron="0 9 * * *", job=job)
    yesterday = schedule_fire(schedule_id=schedule.pk, now=datetime(2026, 12, 6, 9, 0, 1, tzinfo=UTC))
    today = schedule_fire(schedule_id=schedule.pk, now=datetime(2026, 12, 7, 8, 59, 59, 700_000, tzinfo=UTC))
    assert yesterday is not None and today is not None and today != yesterday
    assert JobRun.objects.get(pk=today).schedule_slot == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


# -- a tick that cannot start its run ----------------------------------------------------------------------------
def test_a_tick_whose_pipeline_cannot_run_records_a_failed_run(alice, job, caplog, django_capture_on_commit_callbacks):
    pipeline = pipeline_create(
        owner=alice,
        name="nightly",
        steps=[{"kind": StepKind.LOAD, "job": job}],
        alert_emails=["oncall@example.com"],
    )
    schedule = schedule_create(owner=alice, name="mornings", cron="0 9 * * *", pipeline=pipeline)
    pipeline.steps.all().delete()
    now = datetime(2026, 12, 7, 9, 0, 2, tzinfo=UTC)

    with (
        caplog.at_level(logging.WARNING, logger="etlportal.runs"),
        django_capture_on_commit_callbacks() as on_commit,
    ):
        run_id = schedule_fire(schedule_id=schedule.pk, now=now)
    run = JobRun.objects.get(pk=run_id)
    assert (run.status, run.trigger, run.schedule_id, run.pipeline_id, run.owner_id) == (
        RunStatus.FAILED, RunTrigger.SCHEDULE, schedule.pk, pipeline.pk, alice.pk
    )  # fmt: skip
    assert run.schedule_slot == datetime(2026, 12, 7, 9, 0, tzinfo=UTC) and run.finished_at is not None
    assert run.error_message == "Schedule 'mornings' could not start its run: Pipeline 'nightly' has no steps yet."
    assert RunEvent.objects.filter(run=run, level="error", message__contains="has no steps yet").exists()
    assert any(r.levelno == logging.WARNING and "has no steps yet" in r.getMessage() for r in caplog.records)
    # Its failure alert is queued, as for any failed run (sent once the transaction commits).
    assert [callback.__qualname__ for callback in on_commit] == ["_send_later.<locals>.<lambda>"]
    # The same tick delivered again records nothing more.
    assert schedule_fire(schedule_id=schedule.pk, now=now.replace(second=30)) is None
    assert JobRun.objects.filter(schedule=schedule).count() == 1


def test_a_tick_whose_job_lost_its_file_records_a_failed_run(alice, job):
    schedule = schedule_create(owner=alice, name="mornings", cron="0 9 * * *", job=job)
    type(job).objects.filter(pk=job.pk).update(source=None)

    run = JobRun.objects.get(pk=schedule_fire(schedule_id=schedule.pk, now=datetime(2026, 12, 7, 9, 0, tzinfo=UTC)))
    assert (run.status, run.job_id, run.trigger) == (RunStatus.FAILED, job.pk, RunTrigger.SCHEDULE)
    assert "has no source file" in run.error_message


def test_the_schedules_api_answers_400_to_json_nested_too_deep(alice):
    body = '{"name": "x", "cron": "0 * * * *", "deep": ' + DEEP + "}"
    response = client_for(alice).post("/api/schedules/", body, content_type="application/json")
    assert response.status_code == 400 and "nested too deep" in response.json()["detail"]


def test_the_step_editor_says_why_it_cannot_read_a_number_of_thousands_of_digits(alice, project):
    text = '{"big": 1' + "0" * 5000 + "}"
    step = {"kind": "dbt", "dbt_project": project.pk, "dbt_command": "build", "dbt_vars": text}
    response = browser(alice).post("/pipelines/new/", editor_post("nightly", [step]))
    assert response.status_code == 200 and "--vars is not JSON PostgreSQL can keep" in _text(response)
    assert not Pipeline.objects.exists()
