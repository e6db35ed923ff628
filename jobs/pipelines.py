"""Pipelines as users define them: a name, ordered steps (a load job or a dbt command), a timeout
and alerts. Running them is runs.pipelines' business."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from jobs.models import DbtCommand, DbtProject, Job, Pipeline, PipelineStep, StepKind
from jobs.services import ALERT_FIELDS, alert_problems

PIPELINE_FIELDS = ("name", "description", "timeout_minutes", *ALERT_FIELDS)
STEP_FIELDS = (
    "kind",
    "job",
    "dbt_project",
    "dbt_command",
    "select",
    "exclude",
    "full_refresh",
    "dbt_vars",
    "retries",
    "retry_delay_seconds",
)
MAX_RETRIES = 10
MAX_RETRY_DELAY_SECONDS = 24 * 3600


def _build_steps(pipeline: Pipeline, steps: list[dict[str, Any]]) -> tuple[list[PipelineStep], list[str]]:
    built, problems = [], []
    for position, data in enumerate(steps, start=1):
        unknown = set(data) - set(STEP_FIELDS) - {"position"}
        if unknown:
            raise ValueError(f"unknown step field(s): {', '.join(sorted(unknown))}")
        values = {name: value for name, value in data.items() if name != "position"}
        for relation, model in (("job", Job), ("dbt_project", DbtProject)):
            if isinstance(values.get(relation), int):
                values[relation] = model.objects.filter(pk=values[relation]).first()
        step = PipelineStep(pipeline=pipeline, position=position, **values)
        problems += [f"Step {position}: {problem}" for problem in step_problems(step, owner=pipeline.owner)]
        built.append(step)
    return built, problems


def step_problems(step: PipelineStep, *, owner) -> list[str]:
    problems = []
    if step.kind == StepKind.LOAD:
        if step.job is None or step.job.owner_id != owner.pk:
            problems.append("choose the job it loads.")
        elif step.job.is_draft:
            problems.append(f"job {step.job.name!r} is a draft; finish it first.")
    elif step.kind == StepKind.DBT:
        if step.dbt_project is None or step.dbt_project.owner_id != owner.pk:
            problems.append("choose the dbt project it runs.")
        if step.dbt_command not in DbtCommand.values:
            problems.append(f"the dbt command is one of {', '.join(DbtCommand.values)}.")
        if not isinstance(step.dbt_vars, dict):
            problems.append('dbt variables are a mapping of names to values, e.g. {"start": "2024-01-01"}.')
        for name in ("select", "exclude"):
            if any(character in getattr(step, name) for character in "\n\r\0"):
                problems.append(f"{name} is one line of dbt selectors.")
    else:
        problems.append(f"a step is a load or a dbt command, not {step.kind!r}.")
    if not 0 <= step.retries <= MAX_RETRIES:
        problems.append(f"retries from 0 to {MAX_RETRIES}.")
    if not 0 <= step.retry_delay_seconds <= MAX_RETRY_DELAY_SECONDS:
        problems.append("the delay before a retry is at most a day (86400 seconds).")
    return problems


def _save(pipeline: Pipeline, steps: list[dict[str, Any]] | None) -> Pipeline:
    errors: dict[str, list[str]] = {}
    if not pipeline.name.strip():
        errors["name"] = ["Required."]
    if pipeline.timeout_minutes is not None and pipeline.timeout_minutes < 1:
        errors["timeout_minutes"] = ["At least 1 minute, or none."]
    errors.update(alert_problems(pipeline))
    built = None
    if steps is not None:
        built, problems = _build_steps(pipeline, steps)
        if problems:
            errors["steps"] = problems
    if errors:
        raise ValidationError(errors)
    pipeline.name = pipeline.name.strip()
    pipeline.save()
    if built is not None:
        pipeline.steps.all().delete()
        for step in built:
            step.pipeline = pipeline
        PipelineStep.objects.bulk_create(built)
    return pipeline


def _check_fields(fields: dict) -> None:
    unknown = set(fields) - set(PIPELINE_FIELDS)
    if unknown:
        raise ValueError(f"unknown pipeline field(s): {', '.join(sorted(unknown))}")


@transaction.atomic
def pipeline_create(*, owner, steps: list[dict[str, Any]], **fields: Any) -> Pipeline:
    """A pipeline with its steps in the order given."""
    _check_fields(fields)
    return _save(Pipeline(owner=owner, **fields), steps)


@transaction.atomic
def pipeline_update(*, pipeline: Pipeline, steps: list[dict[str, Any]] | None = None, **fields: Any) -> Pipeline:
    """Change a pipeline; `steps`, when given, replaces all its steps. Past runs keep the steps they ran."""
    _check_fields(fields)
    for name, value in fields.items():
        setattr(pipeline, name, value)
    return _save(pipeline, steps)


def pipeline_validate(pipeline: Pipeline) -> list[PipelineStep]:
    """The steps, if the pipeline can run now; ValidationError naming the first step that cannot."""
    steps = list(pipeline.steps.select_related("job", "dbt_project").order_by("position"))
    if not steps:
        raise ValidationError(f"Pipeline {pipeline.name!r} has no steps yet.")
    for step in steps:
        problems = step_problems(step, owner=pipeline.owner)
        if problems:
            raise ValidationError(f"Step {step.position}: {problems[0]}")
    return steps


def pipeline_delete(*, pipeline: Pipeline) -> None:
    from runs.models import JobRun, RunStatus

    active = JobRun.objects.filter(pipeline=pipeline, status__in=(RunStatus.PENDING, RunStatus.RUNNING)).first()
    if active is not None:
        raise ValidationError(f"Pipeline {pipeline.name!r} has a run in progress (run {active.pk}); wait for it.")
    pipeline.delete()


def pipelines_using(job: Job) -> list[str]:
    """Names of the pipelines with a step loading this job."""
    return sorted({step.pipeline.name for step in job.pipeline_steps.select_related("pipeline")})
