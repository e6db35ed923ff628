"""The schedules pages: a job or a pipeline on a cron expression, with presets, a description in
words and the next runs, shown as they are typed (htmx) or on "Preview" (without JavaScript)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from etlportal.pages import delete_page, found, go, render_page
from jobs.forms import PRESETS, ScheduleForm, preset_of
from jobs.models import Schedule
from jobs.schedules import describe, schedule_create, schedule_delete, schedule_preview, schedule_update
from jobs.selectors import get_schedule_for_user, schedules_with_last_run


def _typed_cron(data) -> str:
    """The cron expression the form's fields say: a preset's, or the one typed."""
    preset = data.get("preset", "custom")
    return PRESETS[preset][1] if preset in PRESETS else data.get("cron", "")


@login_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    rows = [
        {
            "schedule": schedule,
            "preview": schedule_preview(schedule.cron, schedule.timezone, now=now, count=1),
            "last_run": last_run,
        }
        for schedule, last_run in schedules_with_last_run(request.user)
    ]
    return render_page(request, "schedules/list.html", {"rows": rows})


def _form_page(request: HttpRequest, schedule: Schedule | None) -> HttpResponse:
    if schedule is None:
        target = ""
        for kind in ("job", "pipeline"):
            if request.GET.get(kind, "").isdecimal():
                target = f"{kind}:{request.GET[kind]}"
        initial = {"target": target, "preset": "daily", "cron": PRESETS["daily"][1], "timezone": "UTC", "enabled": True}
    else:
        target = f"job:{schedule.job_id}" if schedule.job_id else f"pipeline:{schedule.pipeline_id}"
        initial = {
            "name": schedule.name,
            "target": target,
            "preset": preset_of(schedule.cron),
            "cron": schedule.cron,
            "timezone": schedule.timezone,
            "enabled": schedule.enabled,
        }
    form = ScheduleForm(request.POST or None, initial=initial, user=request.user)
    if request.method == "POST" and form.is_valid() and request.POST.get("action") != "preview":
        try:
            if schedule is None:
                schedule = schedule_create(owner=request.user, **form.service_fields())
            else:
                schedule_update(schedule=schedule, **form.service_fields())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            words = describe(schedule.cron)
            messages.success(request, f"Schedule {schedule.name} saved: {words[:1].lower()}{words[1:]}.")
            return go(request, "schedules:list")
    shown = request.POST if form.is_bound else {"preset": initial["preset"], "cron": initial.get("cron", "")}
    zone = request.POST.get("timezone", initial["timezone"]) if form.is_bound else initial["timezone"]
    context = {
        "form": form,
        "schedule": schedule,
        "preview": schedule_preview(_typed_cron(shown), zone, now=timezone.now()),
        "recent": schedule.runs.order_by("-created_at")[:5] if schedule else [],
    }
    return render_page(request, "schedules/form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def schedule_new(request: HttpRequest) -> HttpResponse:
    return _form_page(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def schedule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_page(request, found(get_schedule_for_user(request.user, pk)))


@login_required
def schedule_describe(request: HttpRequest) -> HttpResponse:
    """The form's live preview: the description and next runs of what is typed."""
    preview = schedule_preview(_typed_cron(request.GET), request.GET.get("timezone", "UTC"), now=timezone.now())
    return render_page(request, "schedules/_preview.html", {"preview": preview})


@login_required
@require_POST
def schedule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = found(get_schedule_for_user(request.user, pk))
    try:
        schedule_update(schedule=schedule, enabled=not schedule.enabled)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Schedule {schedule.name} {'enabled' if schedule.enabled else 'disabled'}.")
    return go(request, "schedules:list")


@login_required
@require_http_methods(["GET", "POST"])
def schedule_remove(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = found(get_schedule_for_user(request.user, pk))
    return delete_page(
        request,
        delete=lambda: schedule_delete(schedule=schedule),
        template="schedules/confirm_delete.html",
        context={"schedule": schedule},
        done=f"Schedule {schedule.name} deleted; it will not fire again.",
        back="schedules:list",
    )
