"""Pipelines as users define them: a name, ordered steps (a load job or a dbt command), a timeout
and alerts. Running them is runs.pipelines' business."""

from __future__ import annotations

import math
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
MAX_TIMEOUT_MINUTES = 2**31 - 1  # the column's (PositiveIntegerField) largest value
# --vars nest at most this deep: ample for dbt, and far from where PostgreSQL's jsonb or
# Python's json (recursion) give up.
MAX_VARS_DEPTH = 32


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
        else:
            problems += dbt_vars_problems(step.dbt_vars)
        for name in ("select", "exclude"):
            value = getattr(step, name)
            if any(character in value for character in "\n\r\0"):
                problems.append(f"{name} is one line of dbt selectors.")
                continue
            # Each word is passed to dbt as an argument of its own: one starting with "-" would be
            # read as an option of dbt's (--profiles-dir, --target), not as a selector.
            option = next((word for word in value.split() if word.startswith("-")), None)
            if option is not None:
                problems.append(f"--{name} takes node selectors, not options ({option!r} is an option).")
    else:
        problems.append(f"a step is a load or a dbt command, not {step.kind!r}.")
    if not 0 <= step.retries <= MAX_RETRIES:
        problems.append(f"retries from 0 to {MAX_RETRIES}.")
    if not 0 <= step.retry_delay_seconds <= MAX_RETRY_DELAY_SECONDS:
        problems.append("the delay before a retry is at most a day (86400 seconds).")
    return problems


def dbt_vars_problems(dbt_vars: dict) -> list[str]:
    """Why PostgreSQL's jsonb cannot keep these --vars: a NUL character, NaN or an infinite number
    (a number too large for a float reads as one), nesting past MAX_VARS_DEPTH. The first such
    problem, saying where; walked without recursion."""
    pending: list[tuple[Any, str, int]] = [(dbt_vars, "", 0)]
    while pending:
        value, where, depth = pending.pop()
        place = f" (at {where})" if where else ""
        if depth > MAX_VARS_DEPTH:
            return [f"dbt variables are nested at most {MAX_VARS_DEPTH} levels deep{place}."]
        if isinstance(value, dict):
            for key, item in value.items():
                name = str(key)[:100].replace("\0", "\\u0000")
                if "\0" in str(key):
                    return [f"dbt variables cannot hold a NUL character (\\u0000), as the name '{name}' does{place}."]
                pending.append((item, f"{where}.{name}" if where else name, depth + 1))
        elif isinstance(value, list | tuple):
            pending += [(item, f"{where}[{index}]", depth + 1) for index, item in enumerate(value)]
        elif isinstance(value, str) and "\0" in value:
            return [f"dbt variables cannot hold a NUL character (\\u0000){place}."]
        elif isinstance(value, float) and not math.isfinite(value):
            return [f"dbt variables are finite numbers, not NaN or Infinity or too large for a float{place}."]
    return []


def _save(pipeline: Pipeline, steps: list[dict[str, Any]] | None) -> Pipeline:
    errors: dict[str, list[str]] = {}
    if not pipeline.name.strip():
        errors["name"] = ["Required."]
    if pipeline.timeout_minutes is not None and pipeline.timeout_minutes < 1:
        errors["timeout_minutes"] = ["At least 1 minute, or none."]
    elif pipeline.timeout_minutes is not None and pipeline.timeout_minutes > MAX_TIMEOUT_MINUTES:
        errors["timeout_minutes"] = [f"At most {MAX_TIMEOUT_MINUTES} minutes, or none."]
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
