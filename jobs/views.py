"""The jobs pages: list, detail, run now, dry run, edit (through the wizard), duplicate, delete."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods, require_POST

from etlportal.pages import attempt, delete_page, found, go, paginate, render_page
from etlportal.validators import has_nul, nul_message
from jobs.drafts import draft_for_job
from jobs.models import Job, Pipeline
from jobs.selectors import get_job_for_user, last_runs, latest_run_id
from jobs.services import job_active_run_id, job_delete, job_duplicate
from runs.services import run_create


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = (
        Job.objects.visible_to(request.user)
        .filter(is_draft=False)
        .select_related("destination", "source")
        .annotate(last_run_id=latest_run_id("job", dry_run=False))
        .order_by("name", "id")
    )
    query = request.GET.get("q", "").strip()
    error = ""
    if has_nul(query):
        error, query = f"Search: {nul_message('the search')}", query.replace("\x00", "")
    if query:
        jobs = jobs.filter(name__icontains=query)
    page = paginate(request, jobs)
    context = {"page": page, "query": query, "last_runs": last_runs(page), "error": error}
    return render_page(request, "jobs/list.html", context, fragment="jobs/_table.html")


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = found(get_job_for_user(request.user, pk))
    context = {
        "job": job,
        "mappings": job.mappings.order_by("position"),
        "runs": job.runs.select_related("triggered_by")[:10],
        "active_run": job_active_run_id(job),
        "schedules": job.schedules.order_by("name"),
        "pipelines": Pipeline.objects.filter(steps__job=job).distinct().order_by("name"),
    }
    return render_page(request, "jobs/detail.html", context)


@login_required
@require_POST
def job_run(request: HttpRequest, pk: int) -> HttpResponse:
    job = found(get_job_for_user(request.user, pk))

    def run_it():
        run = run_create(job=job, user=request.user, dry_run=request.POST.get("dry_run") == "1")
        return go(request, "runs:detail", pk=run.pk)

    return attempt(request, run_it, back="jobs:detail", pk=job.pk)


@login_required
@require_POST
def job_edit(request: HttpRequest, pk: int) -> HttpResponse:
    job = found(get_job_for_user(request.user, pk))

    def edit():
        draft = draft_for_job(job=job, owner=request.user)
        return go(request, "wizard-step", pk=draft.pk, step="file")

    return attempt(request, edit, back="jobs:detail", pk=job.pk)


@login_required
@require_POST
def job_copy(request: HttpRequest, pk: int) -> HttpResponse:
    job = found(get_job_for_user(request.user, pk))

    def copy():
        duplicate = job_duplicate(job=job, owner=request.user)
        messages.success(request, f"Copied to {duplicate.name}.")
        return go(request, "jobs:detail", pk=duplicate.pk)

    return attempt(request, copy, back="jobs:detail", pk=job.pk)


@login_required
@require_http_methods(["GET", "POST"])
def job_remove(request: HttpRequest, pk: int) -> HttpResponse:
    job = found(get_job_for_user(request.user, pk))
    return delete_page(
        request,
        delete=lambda: job_delete(job=job),
        template="jobs/confirm_delete.html",
        context={"job": job, "runs": job.runs.count()},
        done=f"Job {job.name} deleted.",
        back="jobs:list",
    )
