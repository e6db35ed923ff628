"""A run's log and live progress: RunEvent rows, plus a message to the run's channel group."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from runs.models import EventLevel, JobRun, RunEvent

logger = logging.getLogger("etlportal.runs")


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


def publish(run_id: int, payload: dict) -> None:
    """Tell anyone watching the run. Live updates are best effort: the database is the truth."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(run_group(run_id), {"type": "run.update", **payload})
    except Exception as exc:  # a broken channel layer must never fail a load
        logger.warning("Could not publish progress of run %s: %s", run_id, exc)


def printable(text: str) -> str:
    """Text as the application database can store it: a NUL byte from a bad file is shown, not stored."""
    return text.replace("\x00", "\\x00")


def run_log(run: JobRun, message: str, *, level: str = EventLevel.INFO, phase: str = "") -> RunEvent:
    message = printable(message)
    event = RunEvent.objects.create(run=run, message=message, level=level, phase=phase)
    logger.log(logging.getLevelName(level.upper()), "run %s: %s", run.pk, message)
    publish(run.pk, {"event": {"level": level, "phase": phase, "message": message, "at": event.created_at.isoformat()}})
    return event


def run_snapshot(run: JobRun) -> dict:
    return {
        "run": {
            "id": run.pk,
            "status": run.status,
            "phase": run.phase,
            "rows_read": run.rows_read,
            "rows_written": run.rows_written,
            "rows_rejected": run.rows_rejected,
            "progress": run.progress,
            "error_message": run.error_message,
        }
    }
