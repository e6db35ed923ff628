"""Celery tasks: they take ids, fetch, and call a service. Safe to deliver twice."""

from celery import shared_task

from runs import services


@shared_task(name="runs.tasks.execute_run")
def execute_run(run_id: int) -> None:
    services.run_execute(run_id=run_id)


@shared_task(name="runs.tasks.reap_stale_runs")
def reap_stale_runs() -> int:
    """Every minute (beat): fail runs whose worker is lost, send again runs whose message is lost."""
    services.runs_requeue_lost()
    return services.runs_reap_stale()
