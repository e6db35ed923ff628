"""Celery tasks: they take ids, fetch, and call a service. Safe to deliver twice."""

from celery import shared_task

from runs import services


@shared_task(name="runs.tasks.execute_run")
def execute_run(run_id: int) -> None:
    services.run_execute(run_id=run_id)


@shared_task(name="runs.tasks.reap_stale_runs")
def reap_stale_runs() -> int:
    """Every minute (beat): fail runs whose worker is lost, send again runs whose message is lost,
    stop pipelines past their timeout, tell about runs slower than expected."""
    from runs.alerts import alerts_for_slow_runs
    from runs.pipelines import pipelines_time_out

    services.runs_requeue_lost()
    pipelines_time_out()
    alerts_for_slow_runs()
    return services.runs_reap_stale()


# -- pipelines: a chain of start, one task per step, finish ---------------------------------------
@shared_task(name="runs.tasks.start_pipeline")
def start_pipeline(run_id: int) -> bool:
    from runs.pipelines import pipeline_start

    return pipeline_start(run_id=run_id)


@shared_task(name="runs.tasks.run_pipeline_step", bind=True, max_retries=None, acks_late=True)
def run_pipeline_step(self, go_on: bool, run_id: int, index: int) -> bool:
    """Step `index`, if the steps before it went through; a failed attempt with retries left comes
    back after the step's delay (the countdown holds no worker)."""
    from runs.pipelines import RetryStep, pipeline_step

    if not go_on:
        return False
    try:
        return pipeline_step(run_id=run_id, index=index, attempt=self.request.retries + 1)
    except RetryStep as retry:
        raise self.retry(countdown=retry.delay) from None


@shared_task(name="runs.tasks.finish_pipeline")
def finish_pipeline(went_through: bool, run_id: int) -> None:
    from runs.pipelines import pipeline_finish

    pipeline_finish(run_id=run_id, went_through=went_through)


# -- schedules and alerts -------------------------------------------------------------------------
@shared_task(name="runs.tasks.fire_schedule")
def fire_schedule(schedule_id: int) -> int | None:
    """A schedule's tick (sent by beat): one run per schedule and minute, however often it is sent."""
    from runs.scheduled import schedule_fire

    return schedule_fire(schedule_id=schedule_id)


@shared_task(name="runs.tasks.send_run_alerts")
def send_run_alerts(run_id: int, event: str) -> None:
    from runs.alerts import alerts_send

    alerts_send(run_id=run_id, event=event)
