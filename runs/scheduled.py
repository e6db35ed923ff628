"""What a schedule's tick does: start its job's or pipeline's run, once per tick."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.models import Schedule
from jobs.schedules import tick_slot
from runs.models import RunTrigger

logger = logging.getLogger("etlportal.runs")


def schedule_fire(*, schedule_id: int, now=None) -> int | None:
    """Create the tick's run; None when the schedule is gone or off, or the tick already has its run."""
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
    return run.pk
