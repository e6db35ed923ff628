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

    def has_delete_permission(self, request, obj=None):
        # An upload a job loads from is not deletable (upload_delete says why in the API).
        return super().has_delete_permission(request, obj) and not (obj and services.upload_in_use_by(obj))

    def delete_model(self, request, obj):
        services.upload_delete(upload=obj)

    def delete_queryset(self, request, queryset):
        for upload in queryset:
            _delete_or_report(self, request, services.upload_delete, upload=upload)

    @admin.display(description="sha256")
    def sha256_short(self, obj):
        return format_html("<code title='{}'>{}…</code>", obj.sha256, obj.sha256[:12])


def _delete_or_report(model_admin, request, delete, **target):
    try:
        delete(**target)
    except ValidationError as exc:
        model_admin.message_user(request, "; ".join(exc.messages), messages.ERROR)


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
    fields = ["position", *services.MAPPING_FIELDS]
    ordering = ["position"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "destination", "target", "load_strategy", "create_table", "updated_at"]
    list_filter = ["load_strategy", "create_table", "destination__kind", "owner"]
    search_fields = ["name", "table", "schema", "owner__username", "destination__name"]
    raw_id_fields = ["source"]
    inlines = [ColumnMappingInline]
    actions = ["run_now", "dry_run"]

    def save_model(self, request, obj, form, change):
        pass  # saved with its mappings, through the service, in save_related()

    def save_related(self, request, form, formsets, change):
        # One service call replaces the mappings as a whole (reordering positions cannot clash).
        forms_in_order = sorted(
            (f for f in formsets[0].forms if f.cleaned_data and not f.cleaned_data.get("DELETE")),
            key=lambda f: f.cleaned_data.get("position") or 0,
        )
        mappings = [
            {name: f.cleaned_data[name] for name in services.MAPPING_FIELDS if name in f.cleaned_data}
            for f in forms_in_order
        ]
        for mapping in mappings:
            mapping["default"] = mapping.get("default") or None
            for name in ("transform", "expression", "format"):
                if name in mapping:
                    mapping[name] = mapping[name] or ""
        fields = {name: form.cleaned_data[name] for name in services.JOB_FIELDS if name in form.cleaned_data}
        if change:
            services.job_update(job=form.instance, mappings=mappings, **fields)
        else:
            job = services.job_create(owner=form.cleaned_data["owner"], mappings=mappings, **fields)
            form.instance.pk = job.pk
        # The admin's change message reads what formset.save() would have recorded.
        formsets[0].new_objects, formsets[0].changed_objects, formsets[0].deleted_objects = [], [], []

    def has_delete_permission(self, request, obj=None):
        # Not while a run is queued or running (job_delete says why in the API).
        busy = obj is not None and services.job_active_run_id(obj) is not None
        return super().has_delete_permission(request, obj) and not busy

    def delete_model(self, request, obj):
        services.job_delete(job=obj)

    def delete_queryset(self, request, queryset):
        for job in queryset:
            _delete_or_report(self, request, services.job_delete, job=job)

    @admin.display(description="Target", ordering="table")
    def target(self, obj):
        return obj.target

    @admin.action(description="Run now")
    def run_now(self, request, queryset):
        self._queue(request, queryset, dry_run=False)

    @admin.action(description="Dry run (read, transform and check; write nothing)")
    def dry_run(self, request, queryset):
        self._queue(request, queryset, dry_run=True)

    def _queue(self, request, queryset, *, dry_run: bool) -> None:
        for job in queryset:
            try:
                run = run_create(job=job, trigger=RunTrigger.MANUAL, user=request.user, dry_run=dry_run)
            except ValidationError as exc:
                self.message_user(request, f"{job.name}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                kind = "dry run" if dry_run else "run"
                self.message_user(request, f"{job.name}: {kind} {run.pk} queued.", messages.SUCCESS)
