"""Schedules: cron expressions, their description and next runs, the periodic tasks beat reads,
one run per tick whatever delivers it; and real beat processes firing a schedule."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import PeriodicTask

from jobs.schedules import describe, next_runs, schedule_create, schedule_delete, schedule_update, tick_slot
from runs.models import JobRun, RunStatus, RunTrigger
from runs.scheduled import schedule_fire
from tests.conftest import _service, _test_database_url, wait_for_run, wait_until
from tests.factories import make_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 9 * * 1-5", "At 09:00, Monday through Friday"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("0 * * * *", "Every hour"),
        ("0 0 * * *", "At 00:00"),
        ("30 2 1 * *", "At 02:30, on day 1 of the month"),
    ],
)
def test_a_cron_expression_is_described_in_words(cron, words):
    assert describe(cron) == words


def test_next_runs_follow_the_schedules_time_zone_across_a_dst_change():
    # Paris leaves summer time on Sunday 25 October 2026: 09:00 there is 07:00 UTC before, 08:00 after.
    after = datetime(2026, 10, 22, 12, 0, tzinfo=UTC)  # a Thursday
    runs = next_runs("0 9 * * 1-5", "Europe/Paris", after=after)
    assert [moment.isoformat() for moment in runs] == [
        "2026-10-23T09:00:00+02:00",
        "2026-10-26T09:00:00+01:00",
        "2026-10-27T09:00:00+01:00",
        "2026-10-28T09:00:00+01:00",
        "2026-10-29T09:00:00+01:00",
    ]
    assert [moment.astimezone(UTC).hour for moment in runs] == [7, 8, 8, 8, 8]


def test_a_tick_is_named_by_the_latest_time_the_schedule_fires_at():
    now = datetime(2026, 12, 7, 9, 0, 41, tzinfo=UTC)  # a Monday, 41 s after the tick
    assert tick_slot("0 9 * * 1-5", "UTC", now=now) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert tick_slot("*/15 * * * *", "UTC", now=now.replace(minute=14)) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    # Monday morning before 09:00: the last tick was Friday's.
    assert tick_slot("0 9 * * 1-5", "UTC", now=now.replace(hour=8)) == datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "timezone", "field", "message"),
    [
        (
            "0 9 * *",
            "UTC",
            "cron",
            "A cron expression has 5 fields (minute hour day-of-month month day-of-week), not 4",
        ),
        ("61 * * * *", "UTC", "cron", "Not a valid cron expression '61 * * * *'"),
        ("0 9 * * mon-fri", "Mars/Olympus", "timezone", "Unknown time zone 'Mars/Olympus'"),
    ],
)
def test_a_bad_schedule_is_refused_saying_what_is_wrong(alice, cron, timezone, field, message):
    job = make_job(alice)
    with pytest.raises(ValidationError) as caught:
        schedule_create(owner=alice, name="nightly", cron=cron, timezone=timezone, job=job)
    assert caught.value.message_dict[field][0].startswith(message)
    assert not PeriodicTask.objects.filter(task="runs.tasks.fire_schedule").exists()


def test_the_periodic_task_follows_every_change_of_the_schedule(alice):
    job = make_job(alice)
    schedule = schedule_create(owner=alice, name="weekdays", cron="0  9 * * 1-5", timezone="Europe/Paris", job=job)
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert (task.task, json.loads(task.args), task.enabled) == ("runs.tasks.fire_schedule", [schedule.pk], True)
    cron = task.crontab
    assert (cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week) == (
        "0",
        "9",
        "*",
        "*",
        "1-5",
    )
    assert str(cron.timezone) == "Europe/Paris"

    schedule_update(schedule=schedule, cron="*/15 * * * *", timezone="UTC", enabled=False)
    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone), task.enabled) == (
        "*/15",
        "*",
        "UTC",
        False,
    )

    schedule_delete(schedule=schedule)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_a_tick_delivered_twice_makes_one_run(alice, dest):
    job = make_job(alice, schema=dest.schema)
    schedule = schedule_create(owner=alice, name="every minute", cron="* * * * *", job=job)
    now = datetime(2026, 12, 5, 10, 30, 12, tzinfo=UTC)

    first = schedule_fire(schedule_id=schedule.pk, now=now)
    again = schedule_fire(schedule_id=schedule.pk, now=now.replace(second=58))
    next_minute = schedule_fire(schedule_id=schedule.pk, now=now.replace(minute=31, second=1))

    assert first is not None and again is None and next_minute not in (None, first)
    run = JobRun.objects.get(pk=first)
    assert (run.trigger, run.schedule_id, run.schedule_slot) == (
        RunTrigger.SCHEDULE, schedule.pk, datetime(2026, 12, 5, 10, 30, tzinfo=UTC)
    )  # fmt: skip
    schedule_update(schedule=schedule, enabled=False)
    assert schedule_fire(schedule_id=schedule.pk, now=now.replace(minute=32)) is None


def fire_schedule_received(worker) -> int:
    return worker.output().count("Task runs.tasks.fire_schedule[")


@pytest.fixture
def two_beats(celery_worker, tmp_path):
    """Two `celery beat` processes on the database scheduler, as a careless deployment would run."""
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "PYTHONUNBUFFERED": "1"}
    with (
        _beat(env, tmp_path / "beat-1.log") as first,
        _beat(env, tmp_path / "beat-2.log") as second,
    ):
        yield first, second


def _beat(env, log):
    command = [sys.executable, "-m", "celery", "-A", "etlportal", "beat", "-l", "info", "--pidfile=",
               "-s", str(log.with_suffix(".schedule"))]  # fmt: skip
    return _service("Celery beat", command, env, log, ready=lambda: "beat: Starting" in log.read_text(), timeout=60)


def test_two_beats_fire_a_schedule_within_its_minute_and_make_one_run_per_tick(alice, dest, two_beats, celery_worker):
    job = make_job(alice, schema=dest.schema)
    # Made while beat runs: it picks the schedule up without a restart.
    with transaction.atomic():
        schedule = schedule_create(owner=alice, name="every minute", cron="* * * * *", job=job)
    sent_before = fire_schedule_received(celery_worker)

    wait_until(lambda: JobRun.objects.filter(schedule=schedule).exists(), timeout=90, what="the first tick's run")
    # Both beats sent the tick: the worker received it twice, and made one run.
    wait_until(lambda: fire_schedule_received(celery_worker) >= sent_before + 2, timeout=20, what="both beats")
    runs = list(JobRun.objects.filter(schedule=schedule))
    assert len(runs) == 1, celery_worker.output()[-3000:]
    run = wait_for_run(runs[0].pk)
    assert run.status == RunStatus.SUCCEEDED and run.trigger == RunTrigger.SCHEDULE
    assert run.schedule_slot.second == 0 and 0 <= (run.created_at - run.schedule_slot).total_seconds() < 60

    # Disabled while beat runs: the next minute passes without a tick.
    with transaction.atomic():
        schedule_update(schedule=schedule, enabled=False)
    sent = fire_schedule_received(celery_worker)
    slot = run.schedule_slot
    wait_until(lambda: datetime.now(UTC).timestamp() > slot.timestamp() + 60 + 15, timeout=90, what="the next tick")
    assert fire_schedule_received(celery_worker) == sent
    assert JobRun.objects.filter(schedule=schedule).count() == 1
