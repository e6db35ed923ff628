import copy

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from etlportal.forms import EmailListField
from jobs import dbt_projects, pipelines, schedules, services
from jobs.models import ColumnMapping, DbtProject, Job, Pipeline, PipelineStep, Schedule, Upload
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


def _kept_in_order(formset) -> list:
    """An inline formset's forms that are kept, in their `position` order (what a service saves
    as a whole list, so reordering can never clash on a unique position)."""
    kept = (f for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE"))
    return sorted(kept, key=lambda f: f.cleaned_data.get("position") or 0)


def _saved_by_the_service(formset) -> None:
    """The admin's change message reads what formset.save() would have recorded: nothing here."""
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


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


class AlertsAdminForm(forms.ModelForm):
    """Alert addresses typed as text (one per line or comma-separated), stored as a list."""

    alert_emails = EmailListField(required=False, help_text="Addresses told when a run fails.")
    alert_webhook_url = forms.CharField(
        required=False, max_length=1000, help_text="POSTed a JSON message when a run fails (http or https)."
    )

    def clean(self):
        data = super().clean()
        # The service's own checks on the values being saved (the instance still holds the stored
        # ones until the form is saved; a pipeline's are not otherwise run before saving).
        typed = copy.copy(self.instance)
        for name in services.ALERT_FIELDS:
            if name in data:
                setattr(typed, name, data[name])
        for field, errors in services.alert_problems(typed).items():
            if field in self.fields and field not in self.errors:
                self.add_error(field, errors)
        return data


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    form = AlertsAdminForm
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
        mappings = [
            {name: f.cleaned_data[name] for name in services.MAPPING_FIELDS if name in f.cleaned_data}
            for f in _kept_in_order(formsets[0])
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
        _saved_by_the_service(formsets[0])

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


# -- dbt projects, pipelines, schedules: saved through their services, as from the pages and API --
class DbtProjectAdminForm(forms.ModelForm):
    path = forms.CharField(required=False, help_text="A directory the workers can read, holding dbt_project.yml.")
    archive = forms.FileField(required=False, help_text="Or a zip archive of the project (replaces its files).")

    class Meta:
        model = DbtProject
        fields = ["owner", "name", "credential", "target_schema", "threads", "use_project_profiles"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        errors = dbt_projects.dbt_project_problems(
            **{name: data.get(name) for name in dbt_projects.PROJECT_FIELDS if name != "use_project_profiles"},
            project=self.instance if self.instance.pk else None,
        )
        for field, problems in errors.items():
            self.add_error(field if field in self.fields else None, problems)
        return data


@admin.register(DbtProject)
class DbtProjectAdmin(admin.ModelAdmin):
    form = DbtProjectAdminForm
    list_display = ["name", "owner", "source", "where", "credential", "target_schema", "updated_at"]
    list_filter = ["source", "owner"]
    search_fields = ["name", "path", "owner__username"]
    readonly_fields = ["source", "problem"]

    def get_fields(self, request, obj=None):
        return [
            "owner",
            "name",
            "credential",
            "target_schema",
            "threads",
            "use_project_profiles",
            "path",
            "archive",
        ] + (["source", "problem"] if obj else [])

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk}

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None and obj.source == "path":
            form.base_fields["path"].initial = obj.path
        return form

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data.get(name) for name in dbt_projects.PROJECT_FIELDS}
        fields["path"] = fields["path"] or ""
        if change:
            dbt_projects.dbt_project_update(project=obj, **fields)
        else:
            project = dbt_projects.dbt_project_create(owner=form.cleaned_data["owner"], **fields)
            obj.pk = project.pk

    def delete_model(self, request, obj):
        dbt_projects.dbt_project_delete(project=obj)

    def delete_queryset(self, request, queryset):
        for project in queryset:
            _delete_or_report(self, request, dbt_projects.dbt_project_delete, project=project)

    @admin.display(description="Directory or archive")
    def where(self, obj):
        return obj.path or (obj.archive.name if obj.archive else "")

    @admin.display(description="Readable now?")
    def problem(self, obj):
        return dbt_projects.dbt_project_check(obj) or "yes"


class StepFormSet(forms.BaseInlineFormSet):
    """The steps are checked together with the pipeline, by the service's rules."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        owner = self.instance.owner if self.instance.owner_id else None
        for form in self.forms:
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and owner is not None:
                problems = pipelines.step_problems(form.save(commit=False), owner=owner)
                if problems:
                    raise forms.ValidationError(problems)


class VarsField(forms.JSONField):
    """--vars as JSON; text too deep or too large for Python to read is an error, not a crash."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except (RecursionError, ValueError):
            raise forms.ValidationError("--vars cannot be read: nested too deep, or a number too long.") from None

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except (RecursionError, ValueError):
            return forms.fields.InvalidJSONInput(data)  # shown again as typed


class StepAdminForm(forms.ModelForm):
    dbt_vars = VarsField(required=False, initial=dict)

    class Meta:
        model = PipelineStep
        fields = ["position", *pipelines.STEP_FIELDS]


class PipelineStepInline(admin.TabularInline):
    model = PipelineStep
    form = StepAdminForm
    formset = StepFormSet
    extra = 0
    fields = ["position", *pipelines.STEP_FIELDS]
    ordering = ["position"]
    raw_id_fields = ["job"]


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    form = AlertsAdminForm
    list_display = ["name", "owner", "step_count", "timeout_minutes", "updated_at"]
    list_filter = ["owner"]
    search_fields = ["name", "description", "owner__username"]
    inlines = [PipelineStepInline]
    actions = ["run_now"]

    def save_model(self, request, obj, form, change):
        pass  # saved with its steps, through the service, in save_related()

    def save_related(self, request, form, formsets, change):
        steps = [
            {name: f.cleaned_data.get(name) for name in pipelines.STEP_FIELDS} for f in _kept_in_order(formsets[0])
        ]
        for step in steps:
            step["dbt_vars"] = step["dbt_vars"] or {}
            for name in ("dbt_command", "select", "exclude"):
                step[name] = step[name] or ""
        fields = {name: form.cleaned_data[name] for name in pipelines.PIPELINE_FIELDS if name in form.cleaned_data}
        if change:
            pipelines.pipeline_update(pipeline=form.instance, steps=steps, **fields)
        else:
            pipeline = pipelines.pipeline_create(owner=form.cleaned_data["owner"], steps=steps, **fields)
            form.instance.pk = pipeline.pk
        _saved_by_the_service(formsets[0])

    def delete_model(self, request, obj):
        pipelines.pipeline_delete(pipeline=obj)

    def delete_queryset(self, request, queryset):
        for pipeline in queryset:
            _delete_or_report(self, request, pipelines.pipeline_delete, pipeline=pipeline)

    @admin.display(description="Steps")
    def step_count(self, obj):
        return obj.steps.count()

    @admin.action(description="Run now")
    def run_now(self, request, queryset):
        from runs.pipelines import pipeline_run_create

        for pipeline in queryset:
            try:
                run = pipeline_run_create(pipeline=pipeline, trigger=RunTrigger.MANUAL, user=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{pipeline.name}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{pipeline.name}: run {run.pk} queued.", messages.SUCCESS)


class ScheduleAdminForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = ["owner", "name", "job", "pipeline", "cron", "timezone", "enabled"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        candidate = Schedule(**{name: data.get(name) for name in self.Meta.fields if name != "owner"})
        candidate.owner = data.get("owner")
        try:
            schedules.schedule_check(candidate)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return data


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleAdminForm
    list_display = ["name", "owner", "target", "cron", "timezone", "description", "enabled"]
    list_filter = ["enabled", "timezone", "owner"]
    search_fields = ["name", "cron", "owner__username", "job__name", "pipeline__name"]
    raw_id_fields = ["job"]
    actions = ["enable", "disable"]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in ("name", "cron", "timezone", "enabled", "job", "pipeline")}
        if change:
            schedules.schedule_update(schedule=obj, **fields)
        else:
            schedule = schedules.schedule_create(owner=form.cleaned_data["owner"], **fields)
            obj.pk = schedule.pk

    def delete_model(self, request, obj):
        schedules.schedule_delete(schedule=obj)

    def delete_queryset(self, request, queryset):
        for schedule in queryset:
            schedules.schedule_delete(schedule=schedule)

    @admin.display(description="When")
    def description(self, obj):
        try:
            return schedules.describe(obj.cron)
        except ValidationError:
            return obj.cron

    @admin.action(description="Enable")
    def enable(self, request, queryset):
        for schedule in queryset:
            schedules.schedule_update(schedule=schedule, enabled=True)

    @admin.action(description="Disable")
    def disable(self, request, queryset):
        for schedule in queryset:
            schedules.schedule_update(schedule=schedule, enabled=False)
