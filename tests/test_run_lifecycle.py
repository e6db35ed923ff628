"""Run lifecycle on the real worker: duplicate deliveries, the stale-run reaper, the beat schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from runs.models import JobRun, RunEvent, RunStatus
from runs.services import run_claim, run_create, runs_reap_stale
from runs.tasks import execute_run, reap_stale_runs
from tests.conftest import wait_for_run, wait_until
from tests.factories import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_run_delivered_three_times_executes_once(alice, dest, celery_worker):
    job = make_job(alice, schema=dest.schema)
    with transaction.atomic():
        run = run_create(job=job, user=alice)
    # The broker redelivers (or a caller retries): two more messages for the same run.
    execute_run.apply_async(args=[run.pk])
    execute_run.apply_async(args=[run.pk])

    run = wait_for_run(run.pk)
    wait_until(
        lambda: celery_worker.output().count(f"Run {run.pk} not claimed") == 2,
        what="the duplicate deliveries to be ignored",
    )

    assert run.status == RunStatus.SUCCEEDED
    assert run.rows_written == 3
    assert dest.execute(f'SELECT count(*) FROM "{dest.schema}".simple').fetchone()[0] == 3
    assert RunEvent.objects.filter(run=run, message__startswith="Started on worker").count() == 1


def test_claim_moves_pending_to_running_only_once(alice):
    job = make_job(alice)
    run = JobRun.objects.create(job=job)

    assert run_claim(run_id=run.pk) is True
    assert run_claim(run_id=run.pk) is False
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert run.started_at is not None and run.heartbeat_at is not None


def test_reaper_task_on_the_worker_fails_runs_whose_heartbeat_is_stale(alice, celery_worker):
    job = make_job(alice)
    long_ago = timezone.now() - timedelta(minutes=10)
    stale = JobRun.objects.create(job=job, status=RunStatus.RUNNING, started_at=long_ago, heartbeat_at=long_ago)
    alive = JobRun.objects.create(job=job, status=RunStatus.RUNNING, started_at=long_ago, heartbeat_at=timezone.now())

    reap_stale_runs.delay()
    wait_until(lambda: JobRun.objects.get(pk=stale.pk).status == RunStatus.FAILED, what="the reaper")

    stale.refresh_from_db()
    alive.refresh_from_db()
    assert stale.error_message.startswith("Worker lost: no heartbeat for more than 60 s.")
    assert stale.finished_at is not None
    assert alive.status == RunStatus.RUNNING
    assert RunEvent.objects.filter(run=stale, level="error", message__startswith="Worker lost").count() == 1
    # Reaping again finds nothing new.
    assert runs_reap_stale() == 0


def test_beat_schedule_installs_the_reaper_in_the_database_scheduler():
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from etlportal.celery import app

    DatabaseScheduler(app=app)  # what `celery beat` does on start

    task = PeriodicTask.objects.get(task="runs.tasks.reap_stale_runs")
    assert task.enabled
    assert task.interval.every == 60


def test_a_run_whose_queue_message_was_lost_is_sent_again_and_runs(alice, dest, celery_worker):
    job = make_job(alice, schema=dest.schema)
    long_ago = timezone.now() - timedelta(minutes=10)
    # As if the broker restarted without persistence after the run was queued.
    lost = JobRun.objects.create(job=job, celery_task_id="lost-task", queued_at=long_ago)
    waiting = JobRun.objects.create(job=job, celery_task_id="fresh-task", queued_at=timezone.now())

    reap_stale_runs.delay()
    run = wait_for_run(lost.pk)

    assert run.status == RunStatus.SUCCEEDED
    assert run.events.filter(level="warning", message__startswith="Not picked up by a worker within 60 s").exists()
    assert JobRun.objects.get(pk=waiting.pk).status == RunStatus.PENDING  # its message is not considered lost
    assert dest.execute(f'SELECT count(*) FROM "{dest.schema}".simple').fetchone()[0] == 3
