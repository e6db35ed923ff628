"""Schedules: a job or a pipeline on a cron expression, kept in django-celery-beat's tables.

Beat (django_celery_beat's DatabaseScheduler) reads those tables and notices changes by itself,
so creating, changing, disabling or deleting a schedule takes effect without a restart. Each
tick sends runs.tasks.fire_schedule with the schedule's id; the run it creates is unique per
schedule and minute (`JobRun.schedule_slot`), so two beats, or a message delivered twice, still
make one run per tick.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from celery.schedules import ParseException, crontab
from django.core.exceptions import ValidationError
from django.db import transaction

from jobs.models import Job, Pipeline, Schedule

TASK = "runs.tasks.fire_schedule"
PRESETS = {
    "every_15_minutes": ("Every 15 minutes", "*/15 * * * *"),
    "hourly": ("Every hour", "0 * * * *"),
    "daily": ("Daily at midnight", "0 0 * * *"),
    "weekdays_9": ("Weekdays at 9:00", "0 9 * * 1-5"),
}
_SEARCH_DAYS = 366 * 5


# Each field as django-celery-beat's CrontabSchedule stores it (its columns' lengths); the whole
# expression as Schedule.cron stores it.
CRON_FIELDS = (
    ("minute", "minute", 240),
    ("hour", "hour", 96),
    ("day-of-month", "day_of_month", 124),
    ("month", "month_of_year", 64),
    ("day-of-week", "day_of_week", 64),
)
MAX_CRON_LENGTH = 200
# How far ahead of a worker's clock a tick may lie and still be the one being fired. Beat and
# the workers may run on machines whose clocks disagree a little (NTP keeps them well within a
# second): a worker 0.3 s behind receives the 09:00 tick at 08:59:59.7. Kept short because a
# copy of a tick delivered late (a second beat, a busy queue) must still name its own tick, even
# near the end of an every-minute schedule's minute.
TICK_TOLERANCE = timedelta(seconds=1)


def cron_fields(expression: str) -> crontab:
    """The expression as Celery reads it (minute hour day-of-month month day-of-week); ValidationError."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValidationError(
            f"A cron expression has 5 fields (minute hour day-of-month month day-of-week), not {len(parts)}: "
            f"{expression[:MAX_CRON_LENGTH]!r}."
        )
    if len(" ".join(parts)) > MAX_CRON_LENGTH:
        raise ValidationError(
            f"A cron expression is at most {MAX_CRON_LENGTH} characters; this one has {len(' '.join(parts))}."
        )
    for (label, _, limit), value in zip(CRON_FIELDS, parts, strict=True):
        if len(value) > limit:
            raise ValidationError(
                f"Not a valid cron expression: the {label} field is at most {limit} characters, "
                f"not {len(value)} ({value[:40]!r}...)."
            )
    # One field at a time, so that the message names the field that is wrong.
    for (label, keyword, _), value in zip(CRON_FIELDS, parts, strict=True):
        try:
            crontab(**{keyword: value})
        except (ValueError, TypeError, ParseException) as exc:
            raise ValidationError(
                f"Not a valid cron expression {expression!r}: the {label} field {value!r} is wrong ({exc})."
            ) from None
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    return crontab(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week
    )


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    # Only the names of the zone database: ZoneInfo() opens a file named after its argument, and
    # a directory ("Europe") or an over-long name raises OSError rather than ZoneInfoNotFoundError.
    if name not in _zone_names():
        raise ValidationError(f"Unknown time zone {name[:64]!r} (use a name such as Europe/Paris or UTC).")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(f"Unknown time zone {name!r} (use a name such as Europe/Paris or UTC).") from None


def describe(expression: str) -> str:
    """ "0 9 * * 1-5" -> "At 09:00, Monday through Friday"."""
    import cron_descriptor

    try:
        options = cron_descriptor.Options()
        options.use_24hour_time_format = True
        return cron_descriptor.get_description(expression, options)
    except Exception:  # a description is a nicety; the expression itself was validated
        return expression


def _days(start: date, step: int):
    for offset in range(_SEARCH_DAYS):
        yield start + timedelta(days=offset * step)


def _matches_day(fields: crontab, day: date) -> bool:
    # Celery wants day of month AND day of week to match (cron itself takes either); 0 is Sunday.
    dow = (day.weekday() + 1) % 7
    return day.month in fields.month_of_year and day.day in fields.day_of_month and dow in fields.day_of_week


def next_runs(expression: str, timezone_name: str, *, after: datetime, count: int = 5) -> list[datetime]:
    """The next `count` times the schedule fires after `after`, in its time zone."""
    fields, tz = cron_fields(expression), zone(timezone_name)
    after = after.astimezone(tz)
    found: list[datetime] = []
    for day in _days(after.date(), 1):
        if not _matches_day(fields, day):
            continue
        for hour in sorted(fields.hour):
            for minute in sorted(fields.minute):
                moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                if moment > after:
                    found.append(moment)
                    if len(found) == count:
                        return found
    return found


def tick_slot(expression: str, timezone_name: str, *, now: datetime) -> datetime:
    """The tick a firing belongs to: the latest time at or before `now` the schedule fires at,
    or one a few seconds after `now` (TICK_TOLERANCE) when there is one.

    Beat sends the task at the tick; a copy delivered late, or sent by a second beat, still
    names the same tick, so they are one run. A worker whose clock is a little behind beat's
    receives the 09:00 tick at 08:59:59.7 by its own clock: that is the 09:00 tick, not the one
    before (which has its run already, so the tick would be lost).
    """
    fields, tz = cron_fields(expression), zone(timezone_name)
    coming = next_runs(expression, timezone_name, after=now, count=1)
    if coming and coming[0] - now <= TICK_TOLERANCE:
        return coming[0]
    now = now.astimezone(tz).replace(second=0, microsecond=0)
    for day in _days(now.date(), -1):
        if not _matches_day(fields, day):
            continue
        for hour in sorted(fields.hour, reverse=True):
            for minute in sorted(fields.minute, reverse=True):
                moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                if moment <= now:
                    return moment
    return now


# -- the services -----------------------------------------------------------------------------
def schedule_check(schedule: Schedule) -> None:
    """ValidationError by field when the schedule cannot be saved as it is."""
    errors: dict[str, list[str]] = {}
    if not schedule.name.strip():
        errors["name"] = ["Required."]
    if (schedule.job_id is None) == (schedule.pipeline_id is None):
        errors["target"] = ["A schedule runs one job or one pipeline."]
    if schedule.job_id and schedule.job.is_draft:
        errors["target"] = ["Save the job first."]
    for field, check in (("cron", lambda: cron_fields(schedule.cron)), ("timezone", lambda: zone(schedule.timezone))):
        try:
            check()
        except ValidationError as exc:
            errors[field] = exc.messages
    if errors:
        raise ValidationError(errors)


def _sync(schedule: Schedule) -> None:
    """The schedule's periodic task in django-celery-beat's tables, which beat reads."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    minute, hour, day_of_month, month_of_year, day_of_week = schedule.cron.split()
    cron, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=schedule.timezone,
    )
    values = {"crontab": cron, "task": TASK, "args": json.dumps([schedule.pk]), "enabled": schedule.enabled}
    if schedule.periodic_task_id:
        PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(**values)
        # update() skips the signal beat watches for changes: tell it.
        from django_celery_beat.models import PeriodicTasks

        PeriodicTasks.update_changed()
    else:
        task = PeriodicTask.objects.create(name=f"etlportal schedule {schedule.pk}", **values)
        Schedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task


@transaction.atomic
def schedule_create(
    *, owner, name: str, cron: str, timezone: str = "UTC", job: Job | None = None, pipeline: Pipeline | None = None,
    enabled: bool = True,
) -> Schedule:  # fmt: skip
    schedule = Schedule(
        owner=owner, name=name.strip(), cron=" ".join(cron.split()), timezone=timezone, job=job, pipeline=pipeline,
        enabled=enabled,
    )  # fmt: skip
    schedule_check(schedule)
    schedule.save()
    _sync(schedule)
    return schedule


@transaction.atomic
def schedule_update(*, schedule: Schedule, **fields) -> Schedule:
    for name, value in fields.items():
        if name not in ("name", "cron", "timezone", "enabled", "job", "pipeline"):
            raise ValueError(f"{name} is not a schedule field")
        setattr(schedule, name, " ".join(value.split()) if name == "cron" else value)
    schedule_check(schedule)
    schedule.save()
    _sync(schedule)
    return schedule


@transaction.atomic
def schedule_delete(*, schedule: Schedule) -> None:
    task = schedule.periodic_task
    schedule.delete()
    if task is not None:
        task.delete()


def timezone_choices() -> list[str]:
    return sorted(available_timezones())


def schedule_preview(cron: str, timezone_name: str, *, now: datetime, count: int = 5) -> dict:
    """What a schedule would do: its description and next runs, or why it cannot be."""
    cron = " ".join(cron.split())
    try:
        runs = next_runs(cron, timezone_name, after=now, count=count)
    except ValidationError as exc:
        return {"cron": cron, "error": " ".join(exc.messages), "description": "", "next_runs": []}
    if not runs:
        return {"cron": cron, "error": "This schedule never fires (no such date).", "description": "", "next_runs": []}
    return {"cron": cron, "error": "", "description": describe(cron), "next_runs": runs, "zone": timezone_name}
