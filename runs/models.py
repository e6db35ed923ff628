from django.conf import settings
from django.db import models

from etlportal.querysets import OwnedQuerySet


class RunStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    RUNNING = "RUNNING", "Running"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"
    CANCELLED = "CANCELLED", "Cancelled"
    SKIPPED = "SKIPPED", "Skipped"  # a pipeline step not run: a step before it failed


FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED)


class RunKind(models.TextChoices):
    LOAD = "load", "Load"
    DBT = "dbt", "dbt"
    PIPELINE = "pipeline", "Pipeline"


class RunTrigger(models.TextChoices):
    MANUAL = "manual", "Manual"
    API = "api", "API"
    SCHEDULE = "schedule", "Schedule"


class JobRunQuerySet(OwnedQuerySet):
    owner_field = "owner"


class JobRun(models.Model):
    """One run: a load of a job, a dbt command, or a pipeline (whose steps are runs of their own,
    its children). The same log, live page, cancel, heartbeat and reaper serve all three."""

    kind = models.CharField(max_length=10, choices=RunKind.choices, default=RunKind.LOAD)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, null=True, blank=True, related_name="runs")
    pipeline = models.ForeignKey("jobs.Pipeline", on_delete=models.CASCADE, null=True, blank=True, related_name="runs")
    dbt_project = models.ForeignKey(
        "jobs.DbtProject", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    # A pipeline's step: the pipeline's run, the step's place in it, which attempt this is.
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="steps")
    step_position = models.PositiveIntegerField(null=True, blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    # Pipelines: the steps as they were when the run started (a later edit changes no history);
    # dbt steps: the command line's arguments.
    plan = models.JSONField(null=True, blank=True)
    retry_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries")
    # A schedule's tick: one run per schedule and minute, however many beats or deliveries.
    schedule = models.ForeignKey("jobs.Schedule", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs")
    schedule_slot = models.DateTimeField(null=True, blank=True)
    slow_alert_sent_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True)
    trigger = models.CharField(max_length=20, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rows_read = models.BigIntegerField(default=0)
    rows_written = models.BigIntegerField(default=0)
    rows_rejected = models.BigIntegerField(default=0)
    # UPSERT: how the rows written split (an unchanged row matched its key with equal values).
    rows_inserted = models.BigIntegerField(default=0)
    rows_updated = models.BigIntegerField(default=0)
    rows_unchanged = models.BigIntegerField(default=0)
    # A dry run reads, transforms and checks the destination but writes nothing.
    dry_run = models.BooleanField(default=False)
    # Dry runs: the first output rows, as {"columns": [...], "rows": [[...], ...]}.
    sample = models.JSONField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # Fraction of the source consumed, 0..1 (bytes read / file size while loading).
    progress = models.FloatField(default=0.0)
    phase = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # When its task was last sent to the broker; a PENDING run not picked up for long is sent again.
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True, default="")
    error_line = models.BigIntegerField(null=True, blank=True, help_text="Line in the source file.")
    error_column = models.CharField(max_length=255, blank=True, default="")
    error_value = models.TextField(blank=True, default="")
    celery_task_id = models.CharField(max_length=255, blank=True, default="")

    objects = JobRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat")]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "schedule_slot"],
                condition=models.Q(schedule__isnull=False, schedule_slot__isnull=False),
                name="run_one_per_schedule_slot",
            ),
            # A pipeline step's attempt runs once, however often its task is delivered.
            models.UniqueConstraint(
                fields=["parent", "step_position", "attempt"],
                condition=models.Q(parent__isnull=False),
                name="run_one_per_step_attempt",
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.subject} ({self.status})"

    def save(self, *args, **kwargs):
        if self.owner_id is None:  # whose run it is: the job's, the pipeline's, the parent's owner
            source = self.job or self.pipeline or self.parent
            if source is not None:
                self.owner_id = source.owner_id
        super().save(*args, **kwargs)

    @property
    def subject(self):
        """What ran: the job, the pipeline, or the dbt project."""
        return self.job or self.pipeline or self.dbt_project

    @property
    def title(self) -> str:
        if self.kind == RunKind.DBT:
            plan = self.plan or {}
            return f"dbt {plan.get('command', '')} {plan.get('select', '')}".strip()
        return str(self.subject) if self.subject else f"run {self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def rows_loadable(self) -> int:
        """Rows that converted (or would, in a dry run, which writes none): read minus rejected."""
        return max(self.rows_read - self.rows_rejected, 0)

    @property
    def error_location(self) -> str:
        parts = []
        if self.error_line is not None:
            parts.append(f"line {self.error_line}")
        if self.error_column:
            parts.append(f"column {self.error_column}")
        return ", ".join(parts)


class EventLevel(models.TextChoices):
    DEBUG = "debug", "debug"
    INFO = "info", "info"
    WARNING = "warning", "warning"
    ERROR = "error", "error"


class RunEvent(models.Model):
    """One line of a run's log."""

    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    level = models.CharField(max_length=10, choices=EventLevel.choices, default=EventLevel.INFO)
    phase = models.CharField(max_length=40, blank=True, default="")
    message = models.TextField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"[{self.level}] {self.message}"


class RejectedRow(models.Model):
    """A source row the load refused (within the job's error budget), with why and where."""

    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="rejects")
    line = models.BigIntegerField(help_text="Line in the source file where the row starts.")
    raw = models.TextField(help_text="The row as read, re-joined with the file's delimiter.")
    column = models.CharField(max_length=255, blank=True, default="")
    value = models.TextField(blank=True, default="")
    reason = models.TextField()

    class Meta:
        ordering = ["run", "line", "id"]
        indexes = [models.Index(fields=["run", "line"], name="reject_run_line")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class DbtNodeResult(models.Model):
    """One node of a dbt command's run_results.json: a model, test, seed or snapshot."""

    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="dbt_results")
    unique_id = models.CharField(max_length=500)
    name = models.CharField(max_length=255)
    resource_type = models.CharField(max_length=40)  # model, test, seed, snapshot, ...
    status = models.CharField(max_length=20)  # success, error, fail, warn, pass, skipped
    execution_time = models.FloatField(default=0.0)
    rows_affected = models.BigIntegerField(null=True, blank=True)
    failures = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["run", "id"]

    def __str__(self) -> str:
        return f"{self.unique_id}: {self.status}"
