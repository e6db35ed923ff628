"""Signals: only what a cascade would otherwise miss."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from jobs.models import Schedule


@receiver(post_delete, sender=Schedule)
def schedule_deleted(sender, instance: Schedule, **kwargs) -> None:
    """A schedule deleted with its job or pipeline (a cascade, not schedule_delete) takes its beat
    entry along, so beat stops firing it."""
    if instance.periodic_task_id is not None:
        from django_celery_beat.models import PeriodicTask

        PeriodicTask.objects.filter(pk=instance.periodic_task_id).delete()
