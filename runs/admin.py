from django.contrib import admin

from runs.models import JobRun, RunEvent


class RunEventInline(admin.TabularInline):
    model = RunEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "level", "phase", "message"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    """Run data is a record of what happened: read-only."""

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
    inlines = [RunEventInline]
    readonly_fields = [field.name for field in JobRun._meta.fields] + ["duration"]

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
