"""What a schedule's tick does: start its job's or pipeline's run, once per tick."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.models import Schedule
from jobs.schedules import tick_slot
from runs.models import JobRun, RunKind, RunStatus, RunTrigger

logger = logging.getLogger("etlportal.runs")


def schedule_fire(*, schedule_id: int, now=None) -> int | None:
    """Create the tick's run; None when the schedule is gone or off, or the tick already has its run.

    A run that cannot start (a pipeline without steps, a job whose file is gone) is recorded as
    the tick's FAILED run, with why: its owner sees it in the runs and gets the failure alert,
    rather than a tick that silently did nothing.
    """
    schedule = Schedule.objects.select_related("job", "pipeline").filter(pk=schedule_id, enabled=True).first()
    if schedule is None:
        return None
    slot = tick_slot(schedule.cron, schedule.timezone, now=now or timezone.now())
    try:
        with transaction.atomic():
            if schedule.job_id:
                from runs.services import run_create

                run = run_create(job=schedule.job, trigger=RunTrigger.SCHEDULE, schedule=schedule, schedule_slot=slot)
            else:
                from runs.pipelines import pipeline_run_create

                run = pipeline_run_create(
                    pipeline=schedule.pipeline, trigger=RunTrigger.SCHEDULE, schedule=schedule, schedule_slot=slot
                )
    except IntegrityError:
        logger.info("schedule %s: the tick %s has its run already", schedule_id, slot.isoformat())
        return None
    except ValidationError as exc:
        return _fire_failed(schedule, slot, " ".join(exc.messages))
    return run.pk


def _fire_failed(schedule: Schedule, slot, reason: str) -> int | None:
    """The tick's run, FAILED at once with the reason it could not start; None if the tick has its run."""
    from runs.services import run_finish

    message = f"Schedule {schedule.name!r} could not start its run: {reason}"
    try:
        with transaction.atomic():
            run = JobRun.objects.create(
                kind=RunKind.LOAD if schedule.job_id else RunKind.PIPELINE,
                job=schedule.job,
                pipeline=schedule.pipeline,
                owner=(schedule.job or schedule.pipeline).owner,
                trigger=RunTrigger.SCHEDULE,
                schedule=schedule,
                schedule_slot=slot,
            )
    except IntegrityError:
        logger.info("schedule %s: the tick %s has its run already", schedule.pk, slot.isoformat())
        return None
    logger.warning("schedule %s, tick %s: %s (run %s)", schedule.pk, slot.isoformat(), message, run.pk)
    # The same path as any run that ends: its log line, the live page, and the failure alert.
    run_finish(run_id=run.pk, status=RunStatus.FAILED, error_message=message, from_statuses=(RunStatus.PENDING,))
    return run.pk
