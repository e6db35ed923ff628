"""Pages for pipelines (with their step editor), dbt projects, and a job's alerts.

The step editor works without JavaScript: adding, removing and moving a step are submit buttons
that send the whole form back and get it again with the change made, nothing saved until "Save".
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods, require_POST

from etlportal.pages import attempt, delete_page, found, go, render_page
from jobs.dbt_projects import (
    PROJECT_FIELDS,
    dbt_project_check,
    dbt_project_create,
    dbt_project_delete,
    dbt_project_update,
)
from jobs.forms import AlertsForm, DbtProjectForm, PipelineForm, StepFormSet, posted_steps, step_initial
from jobs.models import DbtProject, Job, Pipeline, StepKind
from jobs.pipelines import PIPELINE_FIELDS, pipeline_create, pipeline_delete, pipeline_update
from jobs.selectors import get_dbt_project_for_user, get_job_for_user, get_pipeline_for_user
from jobs.services import ALERT_FIELDS, job_update
from runs.models import RunStatus

NEW_STEP = {
    StepKind.LOAD: {"kind": StepKind.LOAD, "retries": 0, "retry_delay_seconds": 60},
    StepKind.DBT: {"kind": StepKind.DBT, "dbt_command": "build", "retries": 0, "retry_delay_seconds": 60},
}


# -- pipelines ------------------------------------------------------------------------------------
@login_required
def pipeline_list(request: HttpRequest) -> HttpResponse:
    pipelines = Pipeline.objects.visible_to(request.user).prefetch_related("steps", "schedules")
    rows = [(pipeline, pipeline.runs.filter(parent__isnull=True).first()) for pipeline in pipelines]
    return render_page(request, "pipelines/list.html", {"rows": rows})


@login_required
def pipeline_detail(request: HttpRequest, pk: int) -> HttpResponse:
    pipeline = found(get_pipeline_for_user(request.user, pk))
    runs = pipeline.runs.filter(parent__isnull=True).select_related("triggered_by")
    context = {
        "pipeline": pipeline,
        "steps": pipeline.steps.select_related("job", "dbt_project").order_by("position"),
        "schedules": pipeline.schedules.all(),
        "runs": runs[:10],
        "active_run": runs.filter(status__in=(RunStatus.PENDING, RunStatus.RUNNING)).first(),
    }
    return render_page(request, "pipelines/detail.html", context)


def _apply_action(action: str, rows: list[dict]) -> list[dict]:
    """Add, remove or move a step row in the editor (nothing is saved)."""
    if action in ("add-load", "add-dbt"):
        return [*rows, dict(NEW_STEP[StepKind.LOAD if action == "add-load" else StepKind.DBT])]
    verb, _, index = action.partition("-")
    if not index.isdecimal() or int(index) >= len(rows):
        return rows
    i = int(index)
    if verb == "remove":
        return rows[:i] + rows[i + 1 :]
    j = i - 1 if verb == "up" else i + 1 if verb == "down" else i
    if 0 <= j < len(rows):
        rows[i], rows[j] = rows[j], rows[i]
    return rows


def _editor(request: HttpRequest, pipeline: Pipeline | None) -> HttpResponse:
    user = request.user
    action = request.POST.get("action", "save") if request.method == "POST" else ""
    if request.method == "POST" and action != "save":
        # Add / remove / move: show the form again with the change, keeping what was typed.
        steps = StepFormSet(initial=_apply_action(action, posted_steps(request.POST)), form_kwargs={"user": user})
        return _render_editor(request, pipeline, PipelineForm(initial=request.POST.dict()), steps)
    if request.method == "POST":
        form = PipelineForm(request.POST)
        steps = StepFormSet(request.POST, form_kwargs={"user": user})
        if form.is_valid() and steps.is_valid():
            fields = {name: form.cleaned_data.get(name) for name in PIPELINE_FIELDS if name not in ALERT_FIELDS}
            fields["description"] = fields["description"] or ""
            fields.update(form.alert_fields())
            step_list = [step_form.step() for step_form in steps]
            try:
                if pipeline is None:
                    pipeline = pipeline_create(owner=user, steps=step_list, **fields)
                else:
                    pipeline_update(pipeline=pipeline, steps=step_list, **fields)
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"Pipeline {pipeline.name} saved.")
                return go(request, "pipelines:detail", pk=pipeline.pk)
        return _render_editor(request, pipeline, form, steps)
    if pipeline is None:
        form = PipelineForm()
        initial = [dict(NEW_STEP[StepKind.LOAD]), dict(NEW_STEP[StepKind.DBT])]
    else:
        form = PipelineForm(initial={name: getattr(pipeline, name) for name in PIPELINE_FIELDS})
        initial = [step_initial(step) for step in pipeline.steps.order_by("position")]
    return _render_editor(request, pipeline, form, StepFormSet(initial=initial, form_kwargs={"user": user}))


def _render_editor(request, pipeline, form, steps) -> HttpResponse:
    context = {
        "pipeline": pipeline,
        "form": form,
        "steps": steps,
        "has_jobs": Job.objects.visible_to(request.user).filter(is_draft=False).exists(),
        "has_projects": DbtProject.objects.visible_to(request.user).exists(),
    }
    return render_page(request, "pipelines/form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def pipeline_new(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def pipeline_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _editor(request, found(get_pipeline_for_user(request.user, pk)))


@login_required
@require_POST
def pipeline_run(request: HttpRequest, pk: int) -> HttpResponse:
    from runs.pipelines import pipeline_run_create

    pipeline = found(get_pipeline_for_user(request.user, pk))

    def run_it():
        run = pipeline_run_create(pipeline=pipeline, user=request.user)
        return go(request, "runs:detail", pk=run.pk)

    return attempt(request, run_it, back="pipelines:detail", pk=pipeline.pk)


@login_required
@require_http_methods(["GET", "POST"])
def pipeline_remove(request: HttpRequest, pk: int) -> HttpResponse:
    pipeline = found(get_pipeline_for_user(request.user, pk))
    return delete_page(
        request,
        delete=lambda: pipeline_delete(pipeline=pipeline),
        template="pipelines/confirm_delete.html",
        context={"pipeline": pipeline, "runs": pipeline.runs.filter(parent__isnull=True).count()},
        done=f"Pipeline {pipeline.name} deleted.",
        back="pipelines:list",
    )


# -- dbt projects -------------------------------------------------------------------------------------
@login_required
def dbt_list(request: HttpRequest) -> HttpResponse:
    projects = DbtProject.objects.visible_to(request.user).select_related("credential")
    return render_page(request, "dbt/list.html", {"projects": projects})


@login_required
def dbt_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = found(get_dbt_project_for_user(request.user, pk))
    context = {
        "project": project,
        "problem": dbt_project_check(project),
        "pipelines": Pipeline.objects.filter(steps__dbt_project=project).distinct().order_by("name"),
        "runs": project.runs.select_related("parent")[:10],
    }
    return render_page(request, "dbt/detail.html", context)


def _project_fields(form: DbtProjectForm) -> dict:
    data = form.cleaned_data
    fields = {name: data.get(name) for name in PROJECT_FIELDS}
    return {**fields, "path": fields["path"] or "", "use_project_profiles": bool(fields["use_project_profiles"])}


@login_required
@require_http_methods(["GET", "POST"])
def dbt_new(request: HttpRequest) -> HttpResponse:
    form = DbtProjectForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            project = dbt_project_create(owner=request.user, **_project_fields(form))
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"dbt project {project.name} registered.")
            return go(request, "dbt:detail", pk=project.pk)
    return render_page(request, "dbt/form.html", {"form": form, "project": None})


@login_required
@require_http_methods(["GET", "POST"])
def dbt_edit(request: HttpRequest, pk: int) -> HttpResponse:
    project = found(get_dbt_project_for_user(request.user, pk))
    initial = {
        "name": project.name,
        "credential": project.credential_id,
        "target_schema": project.target_schema,
        "path": project.path,
        "threads": project.threads,
        "use_project_profiles": project.use_project_profiles,
    }
    form = DbtProjectForm(request.POST or None, request.FILES or None, initial=initial, user=request.user, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            dbt_project_update(project=project, **_project_fields(form))
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"dbt project {project.name} saved.")
            return go(request, "dbt:detail", pk=project.pk)
    return render_page(request, "dbt/form.html", {"form": form, "project": project})


@login_required
@require_http_methods(["GET", "POST"])
def dbt_remove(request: HttpRequest, pk: int) -> HttpResponse:
    project = found(get_dbt_project_for_user(request.user, pk))
    return delete_page(
        request,
        delete=lambda: dbt_project_delete(project=project),
        template="dbt/confirm_delete.html",
        context={"project": project},
        done=f"dbt project {project.name} deleted.",
        back="dbt:list",
    )


# -- a job's alerts ---------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def job_alerts(request: HttpRequest, pk: int) -> HttpResponse:
    job = found(get_job_for_user(request.user, pk))
    form = AlertsForm(request.POST or None, initial={name: getattr(job, name) for name in ALERT_FIELDS})
    if request.method == "POST" and form.is_valid():
        try:
            job_update(job=job, **form.alert_fields())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Alerts of {job.name} saved.")
            return go(request, "jobs:detail", pk=job.pk)
    return render_page(request, "jobs/alerts.html", {"form": form, "job": job})
