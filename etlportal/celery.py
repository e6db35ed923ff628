import os

from celery import Celery
from celery.signals import task_postrun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "etlportal.settings")

app = Celery("etlportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_postrun.connect
def release_memory_after_task(**kwargs) -> None:
    """A worker process hands back the memory its task freed (jobs.arrowpool.release_memory)."""
    from jobs.arrowpool import release_memory

    release_memory()
