from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from runs.api import rejects_csv_response
from runs.models import JobRun, RejectedRow, RunEvent
from runs.services import run_cancel


class RunEventInline(admin.TabularInline):
    model = RunEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "level", "phase", "message"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None):
        return False


class RejectedRowInline(admin.TabularInline):
    model = RejectedRow
    extra = 0
    can_delete = False
    fields = ["line", "column", "value", "reason", "raw"]
    readonly_fields = fields
    max_num = 0
    verbose_name_plural = "Rejected rows (the first 100 here; download them all from the link above)"

    def get_queryset(self, request):
        # The formset filters by run after this; the first 100 must be taken from this run's rows.
        queryset = super().get_queryset(request)
        run_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
        if run_id is None:
            return queryset.none()
        first = queryset.filter(run_id=run_id).order_by("line", "id").values_list("pk", flat=True)[:100]
        return queryset.filter(pk__in=list(first))

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    """Run data is a record of what happened: read-only, but a run can be cancelled."""

    list_display = [
        "id",
        "job",
        "status",
        "trigger",
        "rows_read",
        "rows_written",
        "rows_rejected",
        "created_at",
        "duration",
        "error_location",
    ]
    list_filter = ["status", "trigger", "created_at", "job__owner"]
    search_fields = ["job__name", "error_message", "celery_task_id", "triggered_by__username"]
    date_hierarchy = "created_at"
    inlines = [RunEventInline, RejectedRowInline]
    readonly_fields = [field.name for field in JobRun._meta.fields] + ["duration", "rejects_download"]
    actions = ["cancel_runs"]

    def get_urls(self):
        download = path(
            "<int:run_id>/rejects.csv",
            self.admin_site.admin_view(self.download_rejects),
            name="runs_jobrun_rejects",
        )
        return [download, *super().get_urls()]

    def download_rejects(self, request, run_id: int):
        run = get_object_or_404(self.get_queryset(request), pk=run_id)
        return rejects_csv_response(run)

    @admin.display(description="Rejected rows")
    def rejects_download(self, obj):
        if not obj.pk or not obj.rows_rejected:
            return "none"
        url = reverse("admin:runs_jobrun_rejects", args=[obj.pk])
        return format_html('<a href="{}">Download {} rejected rows (CSV)</a>', url, obj.rows_rejected)

    @admin.action(description="Cancel (queued or running)")
    def cancel_runs(self, request, queryset):
        for run in queryset:
            try:
                run_cancel(run=run, user=request.user)
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.WARNING)
            else:
                self.message_user(request, f"Run {run.pk}: cancel requested.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RunEvent)
class RunEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "run", "level", "phase", "message"]
    list_filter = ["level", "phase"]
    search_fields = ["message"]
    readonly_fields = ["run", "created_at", "level", "phase", "message"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
