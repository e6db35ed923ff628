"""Forms of the pipelines, dbt projects, schedules and alerts pages. Rules live in the services:
these only turn posted text into the values the services take, and show their errors."""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError

from credentials.models import Credential
from etlportal.forms import EmailListField, ServiceErrorsMixin
from jobs.models import DbtCommand, DbtProject, Job, StepKind
from jobs.pipelines import MAX_TIMEOUT_MINUTES, dbt_vars_problems
from jobs.schedules import PRESETS, timezone_choices


class AlertsForm(ServiceErrorsMixin, forms.Form):
    alert_emails = EmailListField(
        required=False, label="E-mail when a run fails", help_text="Addresses, separated by commas or new lines."
    )
    alert_webhook_url = forms.CharField(
        required=False,
        max_length=1000,
        label="Webhook when a run fails",
        help_text="POSTed a JSON message (run id, status, counters, error, link). Never secrets.",
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/etl"}),
    )
    alert_on_success = forms.BooleanField(required=False, label="Also when a run succeeds")
    alert_after_minutes = forms.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, label="Also when a run takes longer than (minutes)"
    )

    def alert_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "alert_emails": data.get("alert_emails") or [],
            "alert_webhook_url": (data.get("alert_webhook_url") or "").strip(),
            "alert_on_success": bool(data.get("alert_on_success")),
            "alert_after_minutes": data.get("alert_after_minutes"),
        }


class DbtProjectForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=200)
    credential = forms.ModelChoiceField(
        queryset=Credential.objects.none(), label="Destination", help_text="dbt connects with this credential."
    )
    target_schema = forms.CharField(max_length=63, initial="analytics", help_text="Where dbt builds its models.")
    path = forms.CharField(
        required=False,
        max_length=1000,
        label="Directory on the server",
        help_text="Absolute path to the folder holding dbt_project.yml, as the workers see it. May be read-only.",
    )
    archive = forms.FileField(
        required=False, label="…or a zip archive", help_text="dbt_project.yml at its top or in its one top folder."
    )
    threads = forms.IntegerField(min_value=1, max_value=64, initial=4)
    use_project_profiles = forms.BooleanField(
        required=False,
        label="Use the project's own profiles.yml",
        help_text="Off (recommended): ETL Portal writes the profile from the credential for each run.",
    )

    def __init__(self, *args, user, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["credential"].queryset = Credential.objects.visible_to(user).filter(
            kind__in=("postgresql", "redshift", "duckdb")
        )
        if editing:
            self.fields["archive"].help_text = "Upload a new archive to replace the project's files."


def _not_a_number(constant: str):
    raise ValueError(f"{constant} is not a number JSON or PostgreSQL keep")


def _json_object(text: str, what: str) -> dict:
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text, parse_constant=_not_a_number)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{what} is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
    except RecursionError:
        raise ValidationError(f"{what} is nested too deep to read.") from None
    except ValueError as exc:  # NaN, Infinity; an integer of thousands of digits
        raise ValidationError(f"{what} is not JSON PostgreSQL can keep: {exc}.") from None
    if not isinstance(value, dict):
        raise ValidationError(f'{what} is an object, e.g. {{"start_date": "2024-01-01"}}.')
    # The service's rules for what it can store (NUL characters, 1e999999, nesting), said here
    # under the field.
    problems = dbt_vars_problems(value)
    if problems:
        raise ValidationError(f"{what}: {problems[0]}")
    return value


class PipelineForm(AlertsForm):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    timeout_minutes = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_TIMEOUT_MINUTES,
        label="Timeout (minutes)",
        help_text="Empty: no limit for the whole pipeline.",
    )
    field_order = ["name", "description", "timeout_minutes"]


class StepForm(forms.Form):
    kind = forms.ChoiceField(choices=StepKind.choices)
    job = forms.ModelChoiceField(queryset=Job.objects.none(), required=False, label="Job")
    dbt_project = forms.ModelChoiceField(queryset=DbtProject.objects.none(), required=False, label="dbt project")
    dbt_command = forms.ChoiceField(choices=[("", "—"), *DbtCommand.choices], required=False, label="Command")
    select = forms.CharField(required=False, max_length=1000, label="--select", help_text="e.g. silver tag:daily")
    exclude = forms.CharField(required=False, max_length=1000, label="--exclude")
    full_refresh = forms.BooleanField(required=False, label="--full-refresh")
    dbt_vars = forms.CharField(
        required=False, label="--vars (JSON)", widget=forms.TextInput(attrs={"placeholder": '{"start": "2024-01-01"}'})
    )
    retries = forms.IntegerField(min_value=0, max_value=10, initial=0)
    retry_delay_seconds = forms.IntegerField(min_value=0, max_value=86400, initial=60, label="Retry delay (s)")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None:
            self.fields["job"].queryset = Job.objects.visible_to(user).filter(is_draft=False).order_by("name")
            self.fields["dbt_project"].queryset = DbtProject.objects.visible_to(user).order_by("name")

    def clean_dbt_vars(self) -> dict:
        return _json_object(self.cleaned_data.get("dbt_vars"), "--vars")

    def step(self) -> dict:
        data = self.cleaned_data
        step = {"kind": data["kind"], "retries": data["retries"], "retry_delay_seconds": data["retry_delay_seconds"]}
        if data["kind"] == StepKind.LOAD:
            step["job"] = data.get("job")
        else:
            step.update(
                dbt_project=data.get("dbt_project"),
                dbt_command=data.get("dbt_command") or "",
                select=data.get("select") or "",
                exclude=data.get("exclude") or "",
                full_refresh=bool(data.get("full_refresh")),
                dbt_vars=data.get("dbt_vars") or {},
            )
        return step


StepFormSet = forms.formset_factory(StepForm, extra=0, can_delete=False)


def step_initial(step) -> dict:
    """A saved PipelineStep as the step form's initial values."""
    return {
        "kind": step.kind,
        "job": step.job_id,
        "dbt_project": step.dbt_project_id,
        "dbt_command": step.dbt_command,
        "select": step.select,
        "exclude": step.exclude,
        "full_refresh": step.full_refresh,
        "dbt_vars": json.dumps(step.dbt_vars) if step.dbt_vars else "",
        "retries": step.retries,
        "retry_delay_seconds": step.retry_delay_seconds,
    }


def posted_steps(data, prefix: str = "form") -> list[dict]:
    """The step rows as posted (raw text), for re-showing the editor after add, remove or move."""
    try:
        count = int(data.get(f"{prefix}-TOTAL_FORMS", 0))
    except ValueError:
        count = 0
    rows = []
    for index in range(min(count, 100)):
        row = {name: data.get(f"{prefix}-{index}-{name}", "") for name in StepForm.base_fields}
        row["full_refresh"] = bool(row["full_refresh"])
        rows.append(row)
    return rows


PRESET_CHOICES = [(key, f"{label} ({cron})") for key, (label, cron) in PRESETS.items()] + [("custom", "Custom")]


class ScheduleForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=200)
    target = forms.ChoiceField(label="Runs", help_text="The job or pipeline this schedule starts.")
    preset = forms.ChoiceField(choices=PRESET_CHOICES, initial="daily", widget=forms.RadioSelect, label="When")
    cron = forms.CharField(
        required=False,
        max_length=200,
        label="Cron expression",
        help_text="minute hour day-of-month month day-of-week, e.g. 30 6 * * 1-5. "
        "Both day fields must match when both are set.",
    )
    timezone = forms.ChoiceField(initial="UTC", label="Time zone")
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        from jobs.models import Pipeline

        jobs = Job.objects.visible_to(user).filter(is_draft=False).order_by("name")
        pipelines = Pipeline.objects.visible_to(user).order_by("name")
        self.fields["target"].choices = [
            ("", "—"),
            ("Pipelines", [(f"pipeline:{p.pk}", p.name) for p in pipelines]),
            ("Jobs", [(f"job:{j.pk}", j.name) for j in jobs]),
        ]
        self.fields["timezone"].choices = [(name, name) for name in timezone_choices()]
        self._targets = {f"job:{j.pk}": j for j in jobs} | {f"pipeline:{p.pk}": p for p in pipelines}

    def chosen_cron(self) -> str:
        preset = self.cleaned_data.get("preset")
        if preset in PRESETS:
            return PRESETS[preset][1]
        return " ".join((self.cleaned_data.get("cron") or "").split())

    def clean(self):
        data = super().clean()
        if data.get("preset") == "custom" and not (data.get("cron") or "").strip():
            self.add_error("cron", "Type a cron expression, or choose one of the presets.")
        return data

    def service_fields(self) -> dict:
        target = self._targets.get(self.cleaned_data["target"])
        is_job = isinstance(target, Job)
        return {
            "name": self.cleaned_data["name"],
            "cron": self.chosen_cron(),
            "timezone": self.cleaned_data["timezone"],
            "enabled": bool(self.cleaned_data.get("enabled")),
            "job": target if is_job else None,
            "pipeline": None if is_job else target,
        }


def preset_of(cron: str) -> str:
    """The preset a cron expression is, or "custom"."""
    return next((key for key, (_, expression) in PRESETS.items() if expression == cron), "custom")
