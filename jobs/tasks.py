"""Celery tasks of the jobs app: ids in, a service call, safe to deliver twice."""

from celery import shared_task

from jobs import services


@shared_task(name="jobs.tasks.confirm_upload")
def confirm_upload(upload_id: int, token: str) -> None:
    services.upload_confirm(upload_id=upload_id, token=token)
