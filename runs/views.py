"""The runs pages: history, the live run page, cancel, rejects, and the dashboard."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Avg, Count, F, Q, Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.views.decorators.http import require_POST

from etlportal.pages import attempt, found, go, paginate, render_page
from jobs.models import Job, Pipeline
from runs import charts
from runs.api import rejects_csv_response
from runs.models import FINISHED_STATUSES, JobRun, RunKind, RunStatus, RunTrigger
from runs.selectors import get_run_for_user, top_level_runs
from runs.services import run_cancel

ACTIVE = (RunStatus.PENDING, RunStatus.RUNNING)


def run_facts(run: JobRun) -> dict:
    """Rate, ETA and timings of a run, as the run page and its live updates show them."""
    now = timezone.now()
    elapsed = None
    if run.started_at:
        elapsed = (run.finished_at or now) - run.started_at
    rate = None
    if elapsed and elapsed.total_seconds() > 0.5 and run.rows_read:
        rate = run.rows_read / elapsed.total_seconds()
    eta = None
    if run.status == RunStatus.RUNNING and elapsed and 0.01 < run.progress < 1:
        eta = timedelta(seconds=elapsed.total_seconds() * (1 - run.progress) / run.progress)
    waited = (run.started_at - run.created_at) if run.started_at else None
    return {"elapsed": elapsed, "rate": rate, "eta": eta, "waited": waited, "active": run.status in ACTIVE}


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = top_level_runs(request.user).select_related("job", "pipeline", "triggered_by")
    filters = {
        key: request.GET.get(key, "").strip() for key in ("job", "pipeline", "status", "trigger", "since", "until")
    }
    for key in ("job", "pipeline"):
        if filters[key].isdecimal():
            runs = runs.filter(**{f"{key}_id": int(filters[key])})
    if filters["status"] in RunStatus.values:
        runs = runs.filter(status=filters["status"])
    if filters["trigger"] in RunTrigger.values:
        runs = runs.filter(trigger=filters["trigger"])
    errors = []  # shown in the table, so the htmx refresh of it says so too
    for key, lookup in (("since", "created_at__date__gte"), ("until", "created_at__date__lte")):
        try:
            runs = runs.filter(**{lookup: date.fromisoformat(filters[key])}) if filters[key] else runs
        except ValueError:
            errors.append(f"{key.capitalize()}: {filters[key]!r} is not a date (YYYY-MM-DD).")
    page = paginate(request, runs)
    context = {
        "page": page,
        "filters": filters,
        "query": request.GET.urlencode(),
        "jobs": Job.objects.visible_to(request.user).filter(is_draft=False).order_by("name"),
        "pipelines": Pipeline.objects.visible_to(request.user).order_by("name"),
        "statuses": RunStatus.choices,
        "triggers": RunTrigger.choices,
        "refresh": any(run.status in ACTIVE for run in page),
        "errors": errors,
    }
    return render_page(request, "runs/list.html", context, fragment="runs/_table.html")


def run_context(run: JobRun) -> dict:
    """What the run page's status part shows, for the page and for its live updates alike."""
    context = {
        "run": run,
        "facts": run_facts(run),
        "rejects": run.rejects.all()[:50],
        "reject_count": run.rejects.count(),
        "can_retry": run.kind == RunKind.PIPELINE and run.status in (RunStatus.FAILED, RunStatus.CANCELLED),
    }
    if run.kind == RunKind.PIPELINE:
        context["timeline"] = timeline = pipeline_timeline(run)
        context["pipeline_stats"] = pipeline_stats(timeline)
    elif run.kind == RunKind.DBT:
        context["dbt"] = dbt_results_by_kind(run)
    return context


def dbt_results_by_kind(run: JobRun) -> dict:
    """A dbt run's node results: models (and seeds, snapshots) first, then tests, in run order."""
    results = list(run.dbt_results.all())
    tests = [r for r in results if r.resource_type == "test"]
    built = [r for r in results if r.resource_type != "test"]
    failed = [r for r in results if r.status in ("error", "fail")]
    kinds = Counter(r.resource_type for r in built)
    summary = ", ".join(f"{count} {kind}{pluralize(count)}" for kind, count in sorted(kinds.items()))
    return {"built": built, "built_summary": summary, "tests": tests, "failed": len(failed), "count": len(results)}


def pipeline_stats(timeline: list[dict]) -> dict:
    """A pipeline run's headline figures: steps done, rows its loads wrote and rejected, dbt tests failed."""
    runs = [item["last"] for item in timeline if item["last"] is not None]
    loads = [run for run in runs if run.kind == RunKind.LOAD]
    dbt = [item["dbt"] for item in timeline if item["dbt"]]
    return {
        "done": sum(1 for item in timeline if item["status"] == RunStatus.SUCCEEDED),
        "total": len(timeline),
        "rows_loaded": sum(run.rows_written for run in loads),
        "rows_rejected": sum(run.rows_rejected for run in loads),
        "dbt_failed": sum(results["failed"] for results in dbt),
        "dbt_nodes": sum(results["count"] for results in dbt),
    }


def pipeline_timeline(run: JobRun) -> list[dict]:
    """A pipeline run's steps as planned, each with its attempts (child runs) and dbt results."""
    children: dict[int, list[JobRun]] = {}
    for child in run.steps.select_related("job").prefetch_related("dbt_results").order_by("step_position", "attempt"):
        children.setdefault(child.step_position, []).append(child)
    timeline = []
    for step in run.plan or []:
        attempts = children.get(step["position"], [])
        last = attempts[-1] if attempts else None
        timeline.append(
            {
                "step": step,
                "attempts": attempts,
                "last": last,
                "reused": step.get("reuse"),
                "status": last.status if last else ("SUCCEEDED" if step.get("reuse") else "PENDING"),
                "dbt": dbt_results_by_kind(last) if last and last.kind == RunKind.DBT else None,
            }
        )
    return timeline


LOG_LINES_SHOWN = 2000


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = found(get_run_for_user(request.user, pk))
    events = list(run.events.all()[: LOG_LINES_SHOWN + 1])
    context = {**run_context(run), "events": events[:LOG_LINES_SHOWN]}
    if len(events) > LOG_LINES_SHOWN:
        context.update(events_cut=True, events_total=run.events.count())
    return render_page(request, "runs/detail.html", context, fragment="runs/_status.html")


@login_required
@require_POST
def run_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Retry a failed pipeline run from its first step that did not succeed."""
    from runs.pipelines import pipeline_retry

    run = found(get_run_for_user(request.user, pk))

    def retry():
        again = pipeline_retry(run=run, user=request.user)
        messages.info(request, f"Retrying run {run.pk} from its failed step as run {again.pk}.")
        return go(request, "runs:detail", pk=again.pk)

    return attempt(request, retry, back="runs:detail", pk=run.pk)


@login_required
@require_POST
def run_stop(request: HttpRequest, pk: int) -> HttpResponse:
    run = found(get_run_for_user(request.user, pk))
    try:
        run_cancel(run=run, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.info(request, "Cancel requested: the run stops within seconds and rolls back.")
    return go(request, "runs:detail", pk=run.pk)


@login_required
def run_rejects(request: HttpRequest, pk: int) -> HttpResponse:
    return rejects_csv_response(found(get_run_for_user(request.user, pk)))


# -- the dashboard ------------------------------------------------------------------------------
DASHBOARD_DAYS = 14


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    runs = top_level_runs(request.user).filter(dry_run=False)
    today = timezone.localdate()
    first = today - timedelta(days=DASHBOARD_DAYS - 1)
    recent = runs.filter(created_at__date__gte=first)
    days = [first + timedelta(days=n) for n in range(DASHBOARD_DAYS)]
    by_day: dict[date, dict[str, int]] = {day: {} for day in days}
    for row in recent.annotate(day=TruncDate("created_at")).values("day", "status").annotate(n=Count("id")):
        if row["day"] in by_day:
            by_day[row["day"]][row["status"]] = row["n"]
    rows_by_day = dict.fromkeys(days, 0)
    succeeded = recent.filter(status=RunStatus.SUCCEEDED).annotate(day=TruncDate("created_at"))
    for row in succeeded.values("day").annotate(rows=Sum("rows_written")):
        if row["day"] in rows_by_day:
            rows_by_day[row["day"]] = row["rows"] or 0
    finished = recent.filter(status__in=FINISHED_STATUSES)
    totals = finished.aggregate(
        done=Count("id"), ok=Count("id", filter=Q(status=RunStatus.SUCCEEDED)), rows=Sum("rows_written")
    )
    slowest = (
        runs.filter(status=RunStatus.SUCCEEDED, started_at__isnull=False, finished_at__isnull=False)
        .values("job_id", "job__name", "pipeline_id", "pipeline__name")
        .annotate(average=Avg(F("finished_at") - F("started_at")), count=Count("id"))
        .order_by("-average")[:5]
    )
    context = {
        "days": DASHBOARD_DAYS,
        "runs_chart": charts.stacked_bars(
            [(day, [by_day[day].get(s, 0) for s in charts.STATUS_ORDER]) for day in days],
            series=charts.STATUS_ORDER,
        ),
        "rows_chart": charts.bars([(day, rows_by_day[day]) for day in days]),
        "legend": charts.legend(),
        "success_rate": (totals["ok"] / totals["done"]) if totals["done"] else None,
        "finished": totals["done"],
        "rows_loaded": totals["rows"] or 0,
        "slowest": slowest,
        "running": runs.filter(status__in=ACTIVE).select_related("job", "pipeline")[:10],
        "failed": runs.filter(status=RunStatus.FAILED).select_related("job", "pipeline")[:5],
    }
    return render_page(request, "runs/dashboard.html", context)
