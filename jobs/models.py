from django.conf import settings
from django.db import models

from etlportal.querysets import OwnedQuerySet


class UploadQuerySet(OwnedQuerySet):
    owner_field = "uploaded_by"


class ScanStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Upload(models.Model):
    """A source file kept in storage (a volume or S3), so any worker can read it."""

    file = models.FileField(upload_to="uploads/%Y/%m/%d/", max_length=500)
    original_name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    # What is in the file (jobs.inspection.scan): encoding, dialect, header, columns, preview.
    inspection = models.JSONField(null=True, blank=True, editable=False)
    # The user's overrides of what was detected (InspectOptions as JSON).
    inspection_options = models.JSONField(default=dict, blank=True)
    # The full confirmation pass over the whole file, run by the worker for large files.
    scan_status = models.CharField(max_length=20, choices=ScanStatus.choices, blank=True, default="")
    scan_progress = models.FloatField(default=0.0)
    # Which inspection the queued/running pass belongs to: a pass for superseded options never
    # overwrites the result of a newer one.
    scan_token = models.CharField(max_length=32, blank=True, default="", editable=False)
    # Sparse index of record positions, so a preview page anywhere in the file is a seek away.
    row_index = models.JSONField(null=True, blank=True, editable=False)

    objects = UploadQuerySet.as_manager()

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return self.original_name


class LoadStrategy(models.TextChoices):
    INSERT = "INSERT", "Insert (append)"
    UPSERT = "UPSERT", "Upsert on key columns"
    TRUNCATE_INSERT = "TRUNCATE_INSERT", "Replace all rows"


class AlertSettings(models.Model):
    """Who hears about a job's or a pipeline's runs (runs.alerts). Never secrets in what is sent."""

    alert_emails = models.JSONField(default=list, blank=True, help_text="Addresses told when a run fails.")
    alert_webhook_url = models.URLField(
        max_length=1000, blank=True, default="", help_text="POSTed a JSON message when a run fails."
    )
    alert_on_success = models.BooleanField(default=False, help_text="Also tell them when a run succeeds.")
    alert_after_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Also tell them when a run is still going after this many minutes."
    )

    class Meta:
        abstract = True

    @property
    def alerts_configured(self) -> bool:
        return bool(self.alert_emails or self.alert_webhook_url)


class Job(AlertSettings):
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    source = models.ForeignKey(Upload, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs")
    destination = models.ForeignKey("credentials.Credential", on_delete=models.PROTECT, related_name="jobs")
    schema = models.CharField(max_length=63, default="public")
    table = models.CharField(max_length=63)
    create_table = models.BooleanField(
        default=False, help_text="Create the table from the mappings if it does not exist."
    )
    load_strategy = models.CharField(max_length=20, choices=LoadStrategy.choices, default=LoadStrategy.INSERT)
    upsert_keys = models.JSONField(default=list, blank=True, help_text="Destination columns that identify a row.")
    # The error budget. Rows that fail a conversion are rejected (kept, with their line, for
    # download) while both limits hold; past either one the run fails and nothing is written.
    max_rejected_rows = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        default=0,
        help_text="Most rows that may be rejected before the run fails (0: none; empty: no count limit).",
    )
    max_rejected_ratio = models.FloatField(
        null=True,
        blank=True,
        default=None,
        help_text="Largest share of the rows read (0 to 1) that may be rejected (empty: no ratio limit).",
    )
    # A job the wizard made for a dry run before the user saved it: hidden from job lists.
    is_draft = models.BooleanField(default=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def target(self) -> str:
        return f"{self.schema}.{self.table}"


class Transform(models.TextChoices):
    NONE = "", "none"
    UPPER = "upper", "UPPER"
    LOWER = "lower", "LOWER"
    TRIM = "trim", "TRIM"
    LTRIM = "ltrim", "LTRIM"
    RTRIM = "rtrim", "RTRIM"
    TITLE = "title", "Title Case"
    REPLACE = "replace", "REPLACE(from, to)"
    SUBSTRING = "substring", "SUBSTRING(start, length)"
    REGEX_EXTRACT = "regex_extract", "Regex extract"
    NULLIF_EMPTY = "nullif_empty", "NULL if blank"


class ColumnMapping(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="mappings")
    position = models.PositiveIntegerField()
    source_column = models.CharField(max_length=255, blank=True, help_text="Header name in the file.")
    destination_column = models.CharField(max_length=63)
    destination_type = models.CharField(max_length=40, default="text", help_text="e.g. text, integer, numeric(12,2)")
    transform = models.CharField(max_length=20, choices=Transform.choices, blank=True, default="")
    # The transform's arguments: {"from": ..., "to": ...} for replace, {"start": 1, "length": 3}
    # for substring, {"pattern": ..., "group": 1} for regex_extract.
    transform_args = models.JSONField(default=dict, blank=True)
    # Dates and timestamps: a strptime format ("%d/%m/%Y"); empty reads ISO 8601.
    format = models.CharField(max_length=100, blank=True, default="")
    # Booleans: the words read as true and false (case-insensitive); empty lists use the defaults.
    true_words = models.JSONField(default=list, blank=True)
    false_words = models.JSONField(default=list, blank=True)
    expression = models.TextField(blank=True, default="", help_text="Calculated column expression.")
    default = models.CharField(max_length=1000, null=True, blank=True, help_text="Used when the value is empty.")
    nullable = models.BooleanField(default=True)

    class Meta:
        ordering = ["job", "position"]
        constraints = [
            models.UniqueConstraint(fields=["job", "position"], name="mapping_unique_position"),
            models.UniqueConstraint(fields=["job", "destination_column"], name="mapping_unique_destination"),
        ]

    def __str__(self) -> str:
        return f"{self.source_column or self.expression} -> {self.destination_column} {self.destination_type}"


class WizardDraft(models.Model):
    """The "New load" wizard's answers so far, kept on the server so every step is a URL.

    `data` holds each step's answers (destination, table, mappings, strategy, budget). From the
    review step on, `trial_job` is a draft Job built from them (dry runs need a job); saving turns
    it into a job, or copies the answers onto `job` when the wizard edits an existing one.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wizard_drafts")
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="wizard_drafts")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, null=True, blank=True, related_name="wizard_drafts")
    trial_job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return f"Draft {self.pk}: {self.upload}"


class DbtProjectSource(models.TextChoices):
    PATH = "path", "A directory on the worker"
    ARCHIVE = "archive", "An uploaded zip archive"


class DbtProject(models.Model):
    """A dbt project, run by the workers with a profile generated from `credential` (runs.dbt)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dbt_projects")
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=10, choices=DbtProjectSource.choices, default=DbtProjectSource.PATH)
    path = models.CharField(
        max_length=1000, blank=True, default="", help_text="The project's directory, as the workers see it."
    )
    archive = models.FileField(upload_to="dbt/%Y/%m/%d/", max_length=500, blank=True)
    credential = models.ForeignKey("credentials.Credential", on_delete=models.PROTECT, related_name="dbt_projects")
    target_schema = models.CharField(max_length=63, default="analytics", help_text="dbt's target schema.")
    threads = models.PositiveSmallIntegerField(default=4)
    use_project_profiles = models.BooleanField(
        default=False, help_text="Use the project's own profiles.yml instead of one made from the credential."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Pipeline(AlertSettings):
    """Steps run in order: loads and dbt commands. A failing step stops it; the rest are skipped."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pipelines")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    timeout_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="A run still going after this long is stopped and failed."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class StepKind(models.TextChoices):
    LOAD = "load", "Load a job"
    DBT = "dbt", "dbt command"


class DbtCommand(models.TextChoices):
    BUILD = "build", "build"
    RUN = "run", "run"
    TEST = "test", "test"
    SEED = "seed", "seed"
    SNAPSHOT = "snapshot", "snapshot"
    DEPS = "deps", "deps"


class PipelineStep(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=StepKind.choices)
    job = models.ForeignKey(Job, on_delete=models.PROTECT, null=True, blank=True, related_name="pipeline_steps")
    dbt_project = models.ForeignKey(
        DbtProject, on_delete=models.PROTECT, null=True, blank=True, related_name="pipeline_steps"
    )
    dbt_command = models.CharField(max_length=10, choices=DbtCommand.choices, blank=True, default="")
    select = models.CharField(max_length=1000, blank=True, default="")
    exclude = models.CharField(max_length=1000, blank=True, default="")
    full_refresh = models.BooleanField(default=False)
    dbt_vars = models.JSONField(default=dict, blank=True)
    retries = models.PositiveSmallIntegerField(default=0, help_text="Attempts after the first one fails.")
    retry_delay_seconds = models.PositiveIntegerField(default=60)

    class Meta:
        ordering = ["pipeline", "position"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "position"], name="step_unique_position")]

    def __str__(self) -> str:
        if self.kind == StepKind.LOAD:
            return f"load {self.job}"
        return f"dbt {self.dbt_command} {self.select}".strip()


class Schedule(models.Model):
    """When a job or a pipeline runs by itself: a cron expression in a time zone, kept in
    django-celery-beat's tables (periodic_task) so beat picks changes up without a restart."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=200)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, null=True, blank=True, related_name="schedules")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, null=True, blank=True, related_name="schedules")
    cron = models.CharField(max_length=200, help_text="minute hour day-of-month month day-of-week")
    timezone = models.CharField(max_length=64, default="UTC")
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(job__isnull=False, pipeline__isnull=True)
                | models.Q(job__isnull=True, pipeline__isnull=False),
                name="schedule_one_target",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def target(self):
        return self.job or self.pipeline
