from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from runs.api import rejects_csv_response
from runs.models import DbtNodeResult, JobRun, RejectedRow, RunEvent, RunKind
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


class DbtNodeResultInline(admin.TabularInline):
    model = DbtNodeResult
    extra = 0
    can_delete = False
    fields = ["name", "resource_type", "status", "execution_time", "rows_affected", "failures", "message"]
    readonly_fields = fields
    verbose_name_plural = "dbt results (run_results.json)"

    def has_add_permission(self, request, obj=None):
        return False


class StepRunInline(admin.TabularInline):
    model = JobRun
    fk_name = "parent"
    extra = 0
    can_delete = False
    fields = ["step_link", "step_position", "attempt", "kind", "status", "rows_written", "error_message"]
    readonly_fields = fields
    ordering = ["step_position", "attempt"]
    verbose_name_plural = "Steps"

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Run")
    def step_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:runs_jobrun_change", args=[obj.pk]), obj.title)


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    """Run data is a record of what happened: read-only, but a run can be cancelled."""

    list_display = [
        "id",
        "kind",
        "title",
        "status",
        "trigger",
        "rows_read",
        "rows_written",
        "rows_rejected",
        "created_at",
        "duration",
        "error_location",
    ]
    list_filter = ["kind", "status", "trigger", "created_at", "owner"]
    search_fields = ["job__name", "pipeline__name", "error_message", "celery_task_id", "triggered_by__username"]
    date_hierarchy = "created_at"
    inlines = [StepRunInline, DbtNodeResultInline, RunEventInline, RejectedRowInline]
    readonly_fields = [field.name for field in JobRun._meta.fields] + ["duration", "rejects_download"]
    actions = ["cancel_runs", "retry_from_failed_step"]

    def get_inlines(self, request, obj):
        if obj is None:
            return []
        wanted = {RunKind.PIPELINE: StepRunInline, RunKind.DBT: DbtNodeResultInline}.get(obj.kind)
        return [inline for inline in self.inlines if inline in (wanted, RunEventInline, RejectedRowInline)]

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

    @admin.action(description="Retry from the failed step (pipeline runs)")
    def retry_from_failed_step(self, request, queryset):
        from runs.pipelines import pipeline_retry

        for run in queryset:
            try:
                again = pipeline_retry(run=run, user=request.user)
            except ValidationError as exc:
                self.message_user(request, f"Run {run.pk}: {'; '.join(exc.messages)}", messages.WARNING)
            else:
                self.message_user(request, f"Run {run.pk}: retried as run {again.pk}.", messages.SUCCESS)

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
