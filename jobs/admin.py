from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from jobs import services
from jobs.models import ColumnMapping, Job, Upload
from runs.models import RunTrigger
from runs.services import run_create


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ["original_name", "size", "sha256_short", "uploaded_by", "uploaded_at"]
    list_filter = ["uploaded_at", "uploaded_by"]
    search_fields = ["original_name", "sha256", "uploaded_by__username"]
    readonly_fields = ["file", "original_name", "size", "sha256", "uploaded_by", "uploaded_at"]
    date_hierarchy = "uploaded_at"

    def has_add_permission(self, request):
        return False  # files arrive through the API and the wizard, which record size and sha256

    @admin.display(description="sha256")
    def sha256_short(self, obj):
        return format_html("<code title='{}'>{}…</code>", obj.sha256, obj.sha256[:12])


class MappingFormSet(forms.BaseInlineFormSet):
    """Validates the job and its mappings together with the same rules as the API."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        mappings = [
            form.save(commit=False) for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        try:
            services.job_validate(self.instance, mappings)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None


class ColumnMappingInline(admin.TabularInline):
    model = ColumnMapping
    formset = MappingFormSet
    extra = 0
    fields = ["position", "source_column", "destination_column", "destination_type", "transform", "default", "nullable"]
    ordering = ["position"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "destination", "target", "load_strategy", "create_table", "updated_at"]
    list_filter = ["load_strategy", "create_table", "destination__kind", "owner"]
    search_fields = ["name", "table", "schema", "owner__username", "destination__name"]
    raw_id_fields = ["source"]
    inlines = [ColumnMappingInline]
    actions = ["run_now"]

    @admin.display(description="Target", ordering="table")
    def target(self, obj):
        return obj.target

    @admin.action(description="Run now")
    def run_now(self, request, queryset):
        for job in queryset:
            try:
                run = run_create(job=job, trigger=RunTrigger.MANUAL, user=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{job.name}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{job.name}: run {run.pk} queued.", messages.SUCCESS)
