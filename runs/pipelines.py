"""Pipelines: steps (loads and dbt commands) run in order, as one run with a child run per step.

A pipeline run (JobRun kind "pipeline") keeps the steps as they were when it started (`plan`),
so editing the pipeline never rewrites history. It runs as a Celery chain: a start task claims
the run, one task per step runs that step as a child run (the load executor or the dbt runner,
in the same worker), a finish task closes it. A step that fails is retried after its delay (a
new child run per attempt, the task retried with a countdown, holding no worker while it
waits); once its retries are used up the pipeline fails, naming the step, and the steps after
it are recorded as SKIPPED. "Retry from the failed step" makes a new run that reuses every step
that succeeded and runs the others.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import tempfile
import traceback
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone

from credentials.services import credential_params
from jobs.dbt_projects import project_directory
from jobs.models import DbtProject, Pipeline, StepKind
from jobs.pipelines import pipeline_validate
from runs.events import printable, publish, run_log, run_snapshot
from runs.models import DbtNodeResult, EventLevel, JobRun, RunKind, RunStatus, RunTrigger
from runs.services import _enqueue, run_claim, run_finish

logger = logging.getLogger("etlportal.runs")


# -- creating ---------------------------------------------------------------------------------
def _step_plan(step) -> dict:
    return {
        "position": step.position,
        "kind": step.kind,
        "name": str(step),
        "job": step.job_id,
        "dbt_project": step.dbt_project_id,
        "command": step.dbt_command,
        "select": step.select,
        "exclude": step.exclude,
        "full_refresh": step.full_refresh,
        "vars": step.dbt_vars or {},
        "retries": step.retries,
        "retry_delay_seconds": step.retry_delay_seconds,
    }


def pipeline_run_create(
    *,
    pipeline: Pipeline,
    trigger: str = RunTrigger.MANUAL,
    user=None,
    schedule=None,
    schedule_slot=None,
    retry_of: JobRun | None = None,
) -> JobRun:
    """A PENDING pipeline run, queued once the transaction commits."""
    if retry_of is not None:
        plan = [dict(step) for step in retry_of.plan]
        succeeded = {
            child.step_position: child.pk
            for child in retry_of.steps.filter(status=RunStatus.SUCCEEDED).order_by("attempt")
        }
        for step in plan:
            reused = step.get("reuse") or succeeded.get(step["position"])
            step.pop("reuse", None)
            if reused:
                step["reuse"] = reused
    else:
        plan = [_step_plan(step) for step in pipeline_validate(pipeline)]
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        run = JobRun.objects.create(
            kind=RunKind.PIPELINE,
            pipeline=pipeline,
            owner=pipeline.owner,
            trigger=trigger,
            triggered_by=user,
            schedule=schedule,
            schedule_slot=schedule_slot,
            retry_of=retry_of,
            plan=plan,
            celery_task_id=task_id,
            queued_at=timezone.now(),
        )
        who = f" by {user.get_username()}" if user else ""
        what = f"a retry of run {retry_of.pk}, from its first step that did not succeed" if retry_of else "the pipeline"
        run_log(run, f"Queued {what} ({trigger}){who}: {len(plan)} step(s)", phase="queued")
        transaction.on_commit(lambda: _enqueue(run.pk, task_id))
    return run


def pipeline_retry(*, run: JobRun, user=None) -> JobRun:
    """Run again only what did not succeed in a finished pipeline run."""
    if run.kind != RunKind.PIPELINE:
        raise ValidationError("Only a pipeline run can be retried from its failed step.")
    if run.status not in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise ValidationError(f"Run {run.pk} is {run.get_status_display().lower()}: only a failed run is retried.")
    if run.pipeline is None:
        raise ValidationError(f"The pipeline of run {run.pk} was deleted.")
    earlier = run.retries.order_by("-created_at").first()
    if earlier is not None and earlier.status in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.SUCCEEDED):
        raise ValidationError(
            f"Run {run.pk} was already retried as run {earlier.pk} ({earlier.get_status_display().lower()})."
        )
    missing = _missing_in_plan(run.plan or [])
    if missing:
        raise ValidationError(f"Run {run.pk} cannot be retried: {missing[0]} Run the pipeline again instead.")
    return pipeline_run_create(pipeline=run.pipeline, trigger=RunTrigger.MANUAL, user=user, retry_of=run)


def _missing_in_plan(plan: list[dict]) -> list[str]:
    """The planned steps (not reused) whose job or dbt project no longer exists, as sentences."""
    return [
        f"step {index + 1} ({step['name']}): {gone}"
        for index, step in enumerate(plan)
        if not step.get("reuse") and (gone := _gone(step))
    ]


def _gone(step: dict) -> str:
    """Why a planned step cannot run any more ("its job was deleted."), or ""."""
    from jobs.models import Job

    if step["kind"] == StepKind.LOAD and not Job.objects.filter(pk=step.get("job")).exists():
        return "its job was deleted."
    if step["kind"] == StepKind.DBT and not DbtProject.objects.filter(pk=step.get("dbt_project")).exists():
        return "its dbt project was deleted."
    return ""


def enqueue_pipeline(run_id: int, task_id: str) -> None:
    """The run's chain: start, one task per step, finish (runs.services._enqueue sends it)."""
    from celery import chain

    from runs.tasks import finish_pipeline, run_pipeline_step, start_pipeline

    run = JobRun.objects.get(pk=run_id)
    steps = [run_pipeline_step.s(run_id, index) for index in range(len(run.plan or []))]
    chain(start_pipeline.si(run_id).set(task_id=task_id), *steps, finish_pipeline.s(run_id)).apply_async()


# -- running ------------------------------------------------------------------------------------
def pipeline_start(*, run_id: int) -> bool:
    """The chain's first task: claim the run. False (and the chain does nothing) when it was not ours."""
    if not run_claim(run_id=run_id):
        logger.info("pipeline run %s not claimed: duplicate delivery or cancelled before it started", run_id)
        return False
    run = JobRun.objects.get(pk=run_id)
    run_log(run, f"Started on worker {socket.gethostname()}", phase="starting")
    return True


class RetryStep(Exception):
    """The step failed and has attempts left: the task retries after `delay` seconds."""

    def __init__(self, delay: int):
        super().__init__(delay)
        self.delay = delay


def pipeline_step(*, run_id: int, index: int, attempt: int) -> bool:
    """Run step `index` of the pipeline run; True to go on to the next step. Raises RetryStep."""
    run = JobRun.objects.get(pk=run_id)
    if run.status != RunStatus.RUNNING:
        return False  # cancelled, timed out or reaped meanwhile: nothing more to do
    step = run.plan[index]
    if run.cancel_requested_at:
        _stop(
            run,
            index,
            RunStatus.CANCELLED,
            "Cancelled before step {n} ({name}).".format(n=index + 1, name=step["name"]),
        )
        return False
    if _timed_out(run):
        _stop(run, index, RunStatus.FAILED, _timeout_message(run, index))
        return False
    if step.get("reuse"):
        run_log(
            run, f"Step {index + 1} ({step['name']}): succeeded in run {step['reuse']}; not run again", phase="step"
        )
        return True
    gone = _gone(step)
    if gone:
        JobRun.objects.create(
            **_step_run(run, step, attempt, linked=False),
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
            error_message=f"Could not start: {gone}",
        )
        _stop(run, index + 1, RunStatus.FAILED, f"Step {index + 1} ({step['name']}) could not start: {gone}")
        return False
    _beat(run)
    child = _child(run, step, attempt)
    if child is None:
        # This step's attempt is someone else's: the task was delivered twice. That delivery
        # goes on with the chain; this one stops here.
        logger.warning("pipeline run %s step %s attempt %s already started: duplicate delivery", run_id, index, attempt)
        return False
    run_log(
        run,
        f"Step {index + 1} of {len(run.plan)}: {step['name']}"
        + (f" (attempt {attempt} of {step['retries'] + 1})" if attempt > 1 else "")
        + f" — run {child.pk}",
        phase="step",
    )
    try:
        if step["kind"] == StepKind.LOAD:
            from runs.executor import execute

            execute(child.pk)
        else:
            dbt_execute(child.pk)
    finally:
        close_old_connections()
    child.refresh_from_db()
    run.refresh_from_db()
    _beat(run)
    if child.status == RunStatus.SUCCEEDED:
        run_log(run, f"Step {index + 1} succeeded", phase="step")
        _add_counters(run, child)
        return True
    if child.status == RunStatus.CANCELLED or run.cancel_requested_at:
        _stop(run, index + 1, RunStatus.CANCELLED, f"Cancelled during step {index + 1} ({step['name']}).")
        return False
    if run.status != RunStatus.RUNNING:
        return False
    if attempt <= step["retries"]:
        delay = step["retry_delay_seconds"]
        run_log(
            run,
            f"Step {index + 1} failed (attempt {attempt} of {step['retries'] + 1}): {child.error_message} "
            f"Retrying in {delay} s.",
            level=EventLevel.WARNING,
            phase="step",
        )
        # Waiting holds no worker: keep the reaper away until the retry is due.
        JobRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() + timedelta(seconds=delay))
        raise RetryStep(delay)
    where = f" ({child.error_location})" if child.error_location else ""
    message = f"Step {index + 1} ({step['name']}) failed{where}: {child.error_message}"
    _stop(
        run,
        index + 1,
        RunStatus.FAILED,
        message,
        error_line=child.error_line,
        error_column=child.error_column,
        error_value=child.error_value,
    )
    return False


def pipeline_finish(*, run_id: int, went_through: bool) -> None:
    if not went_through:
        return
    run = JobRun.objects.get(pk=run_id)
    run_finish(run_id=run_id, status=RunStatus.SUCCEEDED, progress=1.0)
    logger.info("pipeline run %s succeeded", run.pk)


def _child(run: JobRun, step: dict, attempt: int) -> JobRun | None:
    """The step attempt's run, claimed; None when it exists already (a second delivery)."""
    try:
        with transaction.atomic():
            child = _create_child(run, step, attempt)
    except IntegrityError:
        return None
    run_claim(run_id=child.pk)
    return child


def _create_child(run: JobRun, step: dict, attempt: int) -> JobRun:
    return JobRun.objects.create(**_step_run(run, step, attempt), queued_at=timezone.now())


def _step_run(run: JobRun, step: dict, attempt: int = 1, *, linked: bool = True) -> dict:
    """The fields of a step's run (an attempt, or its SKIPPED or could-not-start record);
    `linked` False leaves out the job or project the step names (it may be gone)."""
    is_load = step["kind"] == StepKind.LOAD
    fields = {
        "kind": RunKind.LOAD if is_load else RunKind.DBT,
        "owner_id": run.owner_id,
        "parent": run,
        "step_position": step["position"],
        "attempt": attempt,
        "trigger": run.trigger,
        "triggered_by": run.triggered_by,
        "plan": None if is_load else step,
    }
    if linked:
        fields["job_id" if is_load else "dbt_project_id"] = step["job"] if is_load else step["dbt_project"]
    return fields


def _beat(run: JobRun) -> None:
    JobRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now())


def _add_counters(run: JobRun, child: JobRun) -> None:
    from django.db.models import F

    done = sum(1 for step in run.plan if step.get("reuse")) + run.steps.filter(status=RunStatus.SUCCEEDED).count()
    JobRun.objects.filter(pk=run.pk).update(
        rows_read=F("rows_read") + child.rows_read,
        rows_written=F("rows_written") + child.rows_written,
        rows_rejected=F("rows_rejected") + child.rows_rejected,
        progress=min(done / max(len(run.plan), 1), 1.0),
    )
    publish(run.pk, run_snapshot(JobRun.objects.get(pk=run.pk)))


def _stop(run: JobRun, first_skipped: int, status: str, message: str, **where) -> None:
    """End the pipeline run; the steps from first_skipped on are recorded SKIPPED."""
    for step in run.plan[first_skipped:]:
        if step.get("reuse") or run.steps.filter(step_position=step["position"]).exists():
            continue
        with contextlib.suppress(IntegrityError), transaction.atomic():  # recorded by a racing stop
            JobRun.objects.create(
                **_step_run(run, step, linked=not _gone(step)),
                status=RunStatus.SKIPPED,
                finished_at=timezone.now(),
                error_message="Not run: an earlier step did not succeed.",
            )
    run_finish(run_id=run.pk, status=status, error_message=message, **where)


def pipeline_stop_between_steps(run: JobRun, message: str) -> None:
    """A cancel while none of the run's steps is running (between two steps, or while one waits
    for its retry): end the run now rather than when the next step would have started."""
    _stop(run, _first_not_done(run, run.steps.all()), RunStatus.CANCELLED, message)


def _first_not_done(run: JobRun, children) -> int:
    """The index of the first planned step neither reused nor among `children` (its runs so far)."""
    done = set(children.values_list("step_position", flat=True))
    plan = run.plan or []
    return next((i for i, step in enumerate(plan) if step["position"] not in done and not step.get("reuse")), len(plan))


def _timed_out(run: JobRun) -> bool:
    limit = run.pipeline.timeout_minutes if run.pipeline else None
    return bool(limit and run.started_at and timezone.now() - run.started_at > timedelta(minutes=limit))


def _timeout_message(run: JobRun, index: int) -> str:
    return f"Stopped after the pipeline's timeout of {run.pipeline.timeout_minutes} minutes, before step {index + 1}."


def pipelines_time_out() -> int:
    """Beat: fail running pipeline runs past their timeout, and ask their running step to stop."""
    stopped = 0
    for run in JobRun.objects.filter(
        kind=RunKind.PIPELINE, status=RunStatus.RUNNING, pipeline__timeout_minutes__isnull=False
    ):
        if not _timed_out(run):
            continue
        running = run.steps.filter(status=RunStatus.RUNNING)
        running.update(cancel_requested_at=timezone.now())
        first = _first_not_done(run, run.steps.exclude(status=RunStatus.RUNNING))
        message = f"Stopped after the pipeline's timeout of {run.pipeline.timeout_minutes} minutes."
        _stop(run, first + (1 if running.exists() else 0), RunStatus.FAILED, message)
        stopped += 1
    return stopped


# -- a dbt step ---------------------------------------------------------------------------------
def dbt_target(project: DbtProject):
    from runs.dbt import DbtTarget

    params = credential_params(project.credential)
    return DbtTarget(
        kind=params.kind,
        schema=project.target_schema,
        database=params.database,
        host=params.host,
        port=params.port,
        username=params.username,
        password=params.password,
        sslmode=params.sslmode,
        threads=project.threads,
        options=params.options,
    )


def dbt_execute(run_id: int) -> None:
    """Run a claimed dbt run: the command on a copy of the project, its output in the run's log."""
    from runs.dbt import DBT_POSTGRES_OPTIONS, DbtCommandSpec, DbtError, run_command
    from runs.executor import Watcher

    run = JobRun.objects.select_related("dbt_project__credential", "parent").get(pk=run_id)
    plan = run.plan or {}
    watcher = Watcher(run.pk, settings.RUN_HEARTBEAT_INTERVAL, also=[run.parent_id] if run.parent_id else [])
    watcher.start()
    target = None
    try:
        project = run.dbt_project
        if project is None:
            raise DbtError("the step's dbt project was deleted")
        target = dbt_target(project)
        run_log(run, f"Started on worker {socket.gethostname()}: dbt project {project.name}", phase="dbt")
        unused = sorted(set(target.options) - set(DBT_POSTGRES_OPTIONS)) if target.kind != "duckdb" else []
        if unused:
            run_log(
                run,
                f"dbt-postgres has no setting for the credential's {', '.join(unused)}: dbt connects without them",
                level=EventLevel.WARNING,
                phase="dbt",
            )
        spec = DbtCommandSpec(
            command=plan.get("command", "build"),
            select=plan.get("select", ""),
            exclude=plan.get("exclude", ""),
            full_refresh=bool(plan.get("full_refresh")),
            vars=plan.get("vars") or {},
        )
        with tempfile.TemporaryDirectory(prefix="etlportal-dbt-source-", dir=settings.DBT_WORK_DIR) as scratch:
            directory = project_directory(project, Path(scratch))
            outcome = run_command(
                spec,
                project_dir=directory,
                target=target,
                on_line=lambda line: run_log(run, line, phase="dbt") if line.strip() else None,
                should_stop=watcher.cancelled.is_set,
                project_profiles=project.use_project_profiles,
                work_root=settings.DBT_WORK_DIR,
            )
        DbtNodeResult.objects.bulk_create(
            DbtNodeResult(
                run=run,
                unique_id=r.unique_id[:500],
                name=r.name[:255],
                resource_type=r.resource_type[:40],
                status=r.status[:20],
                execution_time=r.execution_time,
                rows_affected=r.rows_affected,
                failures=r.failures,
                message=printable(r.message),
            )
            for r in outcome.results
        )
        counted = {"rows_written": sum(r.rows_affected or 0 for r in outcome.results if r.resource_type != "test")}
        if outcome.cancelled:
            run_finish(
                run_id=run.pk,
                status=RunStatus.CANCELLED,
                error_message="Cancelled: dbt was interrupted and its queries cancelled.",
                **counted,
            )
        elif outcome.ok:
            run_log(run, f"dbt {spec.command}: {len(outcome.results)} node(s) in {outcome.seconds:.1f} s", phase="done")
            run_finish(run_id=run.pk, status=RunStatus.SUCCEEDED, progress=1.0, **counted)
        else:
            run_finish(
                run_id=run.pk,
                status=RunStatus.FAILED,
                error_message=outcome.summary(),
                **counted,
            )
    except (DbtError, ValidationError) as exc:
        message = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        run_finish(run_id=run.pk, status=RunStatus.FAILED, error_message=message)
    except Exception as exc:
        scrub = (lambda text: text.replace(target.password, "********")) if target and target.password else str
        logger.error("dbt run %s crashed:\n%s", run.pk, scrub(traceback.format_exc()))
        run_finish(
            run_id=run.pk,
            status=RunStatus.FAILED,
            error_message=f"Internal error ({type(exc).__name__}): {scrub(str(exc))}",
        )
    finally:
        watcher.stop()
        close_old_connections()
