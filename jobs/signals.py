"""A draft's trial job goes with the draft, however the draft is deleted (saved, its upload deleted, admin)."""

from __future__ import annotations

from django.db.models.signals import post_delete
from django.dispatch import receiver

from jobs.models import Job, WizardDraft


@receiver(post_delete, sender=WizardDraft, dispatch_uid="jobs.draft_trial_job")
def delete_trial_job(sender, instance: WizardDraft, **kwargs) -> None:
    from jobs.drafts import trial_jobs_delete

    if instance.trial_job_id is not None:
        trial_jobs_delete(Job.objects.filter(pk=instance.trial_job_id))  # one with a dry run going: later
