"""Signals: only what a cascade (or the admin) would otherwise miss."""

from __future__ import annotations

from django.db.models.signals import post_delete
from django.dispatch import receiver

from jobs.models import Job, Schedule, WizardDraft


@receiver(post_delete, sender=WizardDraft, dispatch_uid="jobs.draft_trial_job")
def delete_trial_job(sender, instance: WizardDraft, **kwargs) -> None:
    """A draft's trial job goes with the draft, however the draft is deleted (saved, its upload
    deleted, admin)."""
    from jobs.drafts import trial_jobs_delete

    if instance.trial_job_id is not None:
        trial_jobs_delete(Job.objects.filter(pk=instance.trial_job_id))  # one with a dry run going: later


@receiver(post_delete, sender=Schedule, dispatch_uid="jobs.schedule_beat_entry")
def schedule_deleted(sender, instance: Schedule, **kwargs) -> None:
    """A schedule deleted with its job or pipeline (a cascade, not schedule_delete) takes its beat
    entry along, so beat stops firing it."""
    if instance.periodic_task_id is not None:
        from django_celery_beat.models import PeriodicTask

        PeriodicTask.objects.filter(pk=instance.periodic_task_id).delete()
