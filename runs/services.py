"""Runs: create (enqueue on commit), claim, execute, reap. Every entry point calls these."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from runs.events import printable, publish, run_log, run_snapshot
from runs.models import EventLevel, JobRun, RunKind, RunStatus, RunTrigger

logger = logging.getLogger("etlportal.runs")


def run_create(
    *, job, trigger: str = RunTrigger.MANUAL, user=None, dry_run: bool = False, schedule=None, schedule_slot=None
) -> JobRun:
    """Create a PENDING run and queue it once the surrounding transaction commits.

    A dry run reads and transforms the whole file and checks the destination table, and
    writes nothing: it reports counts, the first rejects and sample output rows.
    """
    if job.source_id is None:
        raise ValidationError(f"Job {job.name!r} has no source file; upload one and set it as the job's source.")
    from jobs.services import job_validate

    # The job may have been valid when saved and not since (e.g. its credential changed).
    job_validate(job, list(job.mappings.all()))
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        run = JobRun.objects.create(
            job=job,
            owner=job.owner,
            trigger=trigger,
            triggered_by=user,
            celery_task_id=task_id,
            queued_at=timezone.now(),
            dry_run=dry_run,
            schedule=schedule,
            schedule_slot=schedule_slot,
        )
        who = f" by {user.get_username()}" if user else ""
        run_log(run, f"Queued{' as a dry run' if dry_run else ''} ({trigger}){who}", phase="queued")
        transaction.on_commit(lambda: _enqueue(run.pk, task_id))
    run.refresh_from_db()  # queueing may have failed it already
    return run


def _enqueue(run_id: int, task_id: str) -> None:
    """Send the run's task (a pipeline's chain of tasks); a broker that does not answer fails the run."""
    from runs.tasks import execute_run

    try:
        if JobRun.objects.filter(pk=run_id, kind=RunKind.PIPELINE).exists():
            from runs.pipelines import enqueue_pipeline

            enqueue_pipeline(run_id, task_id)
        else:
            execute_run.apply_async(args=[run_id], task_id=task_id, retry=True, retry_policy={"max_retries": 2})
    except Exception as exc:  # broker down: the run must not stay PENDING forever
        from etlportal.netcheck import describe_redis_url

        broker = describe_redis_url(settings.CELERY_BROKER_URL)
        message = f"Could not queue the run: the broker (Redis at {broker}) is unreachable ({type(exc).__name__})."
        logger.error(message)
        run_finish(run_id=run_id, status=RunStatus.FAILED, error_message=message, from_statuses=(RunStatus.PENDING,))


class RunAbandoned(Exception):
    """The run is no longer RUNNING (reaped or cancelled): its load must not commit."""


def run_commit_gate(*, run_id: int) -> None:
    """Called by the connector just before COMMIT; raising rolls the load back.

    The heartbeat written here also keeps the reaper away for the moment the commit takes.
    """
    still_running = JobRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, cancel_requested_at__isnull=True).update(
        phase="commit", heartbeat_at=timezone.now()
    )
    if not still_running:
        raise RunAbandoned(f"run {run_id} is no longer running, or a cancel was asked for")


def run_cancel_requested(*, run_id: int) -> bool:
    return JobRun.objects.filter(pk=run_id, cancel_requested_at__isnull=False).exists()


def run_cancel(*, run: JobRun, user=None) -> JobRun:
    """Stop a run: a queued one ends CANCELLED at once; a running one is asked to stop.

    The worker sees the request within about a second, aborts the statement in flight, rolls
    the load back and ends the run CANCELLED. Cancelling a finished run is refused.
    """
    who = f" by {user.get_username()}" if user else ""
    if run_finish(
        run_id=run.pk,
        status=RunStatus.CANCELLED,
        error_message=f"Cancelled{who} before it started; nothing was written.",
        from_statuses=(RunStatus.PENDING,),
    ):
        if run.celery_task_id:
            from etlportal.celery import app

            try:
                app.control.revoke(run.celery_task_id)
            except Exception as exc:  # the claim refuses a cancelled run anyway
                logger.warning("could not revoke the task of run %s: %s", run.pk, exc)
        run.refresh_from_db()
        return run
    if JobRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, cancel_requested_at__isnull=True).update(
        cancel_requested_at=timezone.now()
    ):
        # A pipeline's running step is asked too; the steps after it will not start.
        run.steps.filter(status=RunStatus.RUNNING, cancel_requested_at__isnull=True).update(
            cancel_requested_at=timezone.now()
        )
        run_log(run, f"Cancel requested{who}; stopping and rolling back", level=EventLevel.WARNING, phase="cancel")
        if run.kind == RunKind.PIPELINE and not run.steps.filter(status=RunStatus.RUNNING).exists():
            from runs.pipelines import pipeline_stop_between_steps

            run.refresh_from_db()
            pipeline_stop_between_steps(run, f"Cancelled{who} between steps.")
        run.refresh_from_db()
        return run
    run.refresh_from_db()
    if run.status == RunStatus.RUNNING:
        return run  # already asked
    raise ValidationError(
        f"Run {run.pk} has already finished ({run.get_status_display()}); there is nothing to cancel."
    )


def run_claim(*, run_id: int) -> bool:
    """PENDING -> RUNNING, atomically; False when someone else got it (duplicate delivery)."""
    now = timezone.now()
    claimed = JobRun.objects.filter(pk=run_id, status=RunStatus.PENDING).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, phase="starting"
    )
    return claimed == 1


def run_execute(*, run_id: int) -> None:
    if not run_claim(run_id=run_id):
        status = JobRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
        logger.info("Run %s not claimed (status %s): duplicate or stale delivery ignored", run_id, status)
        return
    from runs.executor import execute

    execute(run_id)


def run_finish(
    *,
    run_id: int,
    status: str,
    error_message: str = "",
    error_line: int | None = None,
    error_column: str = "",
    error_value: str = "",
    from_statuses=(RunStatus.RUNNING,),
    **counters,
) -> bool:
    """Move a run to a final status, only from the expected status; False if it had moved on."""
    now = timezone.now()
    with transaction.atomic():  # whoever sees the final status sees its final log line too
        updated = JobRun.objects.filter(pk=run_id, status__in=from_statuses).update(
            status=status,
            finished_at=now,
            heartbeat_at=now,
            phase="done",
            error_message=printable(error_message),
            error_line=error_line,
            error_column=printable(error_column),
            error_value=printable(error_value[:1000]),
            **counters,
        )
        run = JobRun.objects.get(pk=run_id)
        if updated and status == RunStatus.FAILED:
            where = f" ({run.error_location})" if run.error_location else ""
            run_log(run, f"Failed{where}: {error_message}", level=EventLevel.ERROR, phase="done")
        elif updated:
            run_log(run, f"{run.get_status_display()}", phase="done")
    if not updated:
        logger.warning("run %s was already %s; its %s result was not recorded", run_id, run.status, status)
    publish(run_id, run_snapshot(run))
    if updated and run.parent_id is None and not run.dry_run:
        from runs.alerts import alerts_queue

        alerts_queue(run)
    return bool(updated)


def runs_reap_stale(*, timeout_seconds: int | None = None) -> int:
    """Mark FAILED every RUNNING run whose worker stopped sending heartbeats."""
    if timeout_seconds is None:
        timeout_seconds = settings.RUN_HEARTBEAT_TIMEOUT
    cutoff = timezone.now() - timedelta(seconds=timeout_seconds)
    stale_ids = list(
        JobRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True)
    )
    reaped = 0
    for run_id in stale_ids:
        message = (
            f"Worker lost: no heartbeat for more than {timeout_seconds} s. The worker process stopped or "
            "lost its database connection. Its load did not commit: PostgreSQL rolls back the transaction "
            "of a lost connection, and a worker that comes back is refused at commit. Run it again."
        )
        # Re-check the heartbeat in the UPDATE itself: the worker may have just written one.
        updated = JobRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), phase="done", error_message=message
        )
        if updated:
            reaped += 1
            run = JobRun.objects.get(pk=run_id)
            run_log(run, message, level=EventLevel.ERROR, phase="done")
            publish(run_id, run_snapshot(run))
    return reaped


def runs_requeue_lost(*, after_seconds: int | None = None) -> int:
    """Send again the task of every run still PENDING long after it was queued.

    A broker that restarted without persistence (the embedded Redis of `make run`) loses
    queued messages; without this their runs would stay PENDING forever. Sending again is
    safe: a run is claimed once, so an extra message for a run that was merely waiting in a
    long queue does nothing.
    """
    if after_seconds is None:
        after_seconds = settings.RUN_HEARTBEAT_TIMEOUT
    cutoff = timezone.now() - timedelta(seconds=after_seconds)
    requeued = 0
    # A pipeline's steps are started by the pipeline's own tasks, never queued on their own.
    candidates = JobRun.objects.filter(status=RunStatus.PENDING, queued_at__lt=cutoff, parent__isnull=True).values_list(
        "pk", "celery_task_id"
    )
    for run_id, task_id in candidates:
        # Whoever moves queued_at forward sends the message: two beats never both send.
        if JobRun.objects.filter(pk=run_id, status=RunStatus.PENDING, queued_at__lt=cutoff).update(
            queued_at=timezone.now()
        ):
            run_log(
                JobRun.objects.get(pk=run_id),
                f"Not picked up by a worker within {after_seconds} s; queued again "
                "(the broker may have lost the message, or every worker is busy).",
                level=EventLevel.WARNING,
                phase="queued",
            )
            _enqueue(run_id, task_id or str(uuid.uuid4()))
            requeued += 1
    return requeued
