"""Celery tasks of the jobs app: ids in, a service call, safe to deliver twice."""

from __future__ import annotations

import logging

from celery import shared_task

from jobs import services
from jobs.models import ScanStatus

logger = logging.getLogger(__name__)


@shared_task(name="jobs.tasks.confirm_upload")
def confirm_upload(upload_id: int, token: str) -> None:
    try:
        services.upload_confirm(upload_id=upload_id, token=token)
    except Exception as exc:
        # The service marked the pass FAILED; say so where the user looks, then let Celery log it.
        reason = (
            f"the full pass over the file failed ({type(exc).__name__}), so the types, counts and problems shown "
            "are from the start of the file only: inspect again to run it again"
        )
        try:
            services.scan_record_failure(upload_id=upload_id, token=token, status=ScanStatus.FAILED, reason=reason)
        except Exception:  # e.g. the database is what failed: the original error is the one to see
            logger.exception("could not record the failure of the full pass of upload %s", upload_id)
        raise


@shared_task(name="jobs.tasks.reap_stalled_scans")
def reap_stalled_scans() -> int:
    """Every minute (beat): fail full passes whose worker is lost, send again those whose message is lost."""
    return services.scans_reap_stalled()


@shared_task(name="jobs.tasks.clean_trial_jobs")
def clean_trial_jobs() -> int:
    """Every 10 minutes (beat): delete the wizard's trial jobs whose draft is gone, once their dry run ended."""
    from jobs.drafts import trial_jobs_cleanup

    return trial_jobs_cleanup()
