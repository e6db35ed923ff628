"""API for dbt projects, pipelines and schedules: the same services as the pages and the admin."""

from django.utils import timezone as django_timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from credentials.models import Credential
from etlportal.api import ShallowJSONParser
from jobs import dbt_projects, pipelines, schedules
from jobs.api import OwnedPrimaryKeyField
from jobs.models import DbtProject, Job, Pipeline, PipelineStep, Schedule
from runs.api import RunSerializer
from runs.models import RunTrigger
from runs.pipelines import pipeline_run_create

PARSERS = [ShallowJSONParser, FormParser, MultiPartParser]  # every endpoint's default, in settings


class OwnedJobField(OwnedPrimaryKeyField):
    """A saved job of the user's (the wizard's unsaved drafts are not jobs yet)."""

    def get_queryset(self):
        return super().get_queryset().filter(is_draft=False)


# -- dbt projects -----------------------------------------------------------------------------
class DbtProjectSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    credential = OwnedPrimaryKeyField(
        queryset=Credential.objects.all(), help_text="The destination dbt builds in (its profile is generated)."
    )
    path = serializers.CharField(
        required=False, allow_blank=True, help_text="A directory on the server holding dbt_project.yml."
    )
    archive = serializers.FileField(
        required=False, write_only=True, help_text="Or a zip archive of the project (multipart/form-data)."
    )
    problem = serializers.SerializerMethodField(help_text="Why the project cannot be read now, or empty.")

    class Meta:
        model = DbtProject
        fields = [
            "id",
            "owner",
            "name",
            "source",
            "path",
            "archive",
            "credential",
            "target_schema",
            "threads",
            "use_project_profiles",
            "problem",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["source", "created_at", "updated_at"]

    @extend_schema_field(OpenApiTypes.STR)
    def get_problem(self, project) -> str:
        # Checked on one project at a time (reading an archive costs a little).
        return dbt_projects.dbt_project_check(project) if self.context.get("check") else ""

    def _fields(self, data: dict, instance=None) -> dict:
        current = instance or DbtProject()
        return {
            "name": data.get("name", current.name),
            "credential": data.get("credential", getattr(current, "credential", None)),
            "target_schema": data.get("target_schema", current.target_schema),
            "threads": data.get("threads", current.threads),
            "use_project_profiles": data.get("use_project_profiles", current.use_project_profiles),
            "path": data.get("path", ""),
            "archive": data.get("archive"),
        }

    def create(self, validated_data):
        return dbt_projects.dbt_project_create(owner=self.context["request"].user, **self._fields(validated_data))

    def update(self, instance, validated_data):
        fields = self._fields(validated_data, instance)
        if not fields["path"] and not fields["archive"] and instance.source == "path":
            fields["path"] = instance.path  # unchanged directory
        return dbt_projects.dbt_project_update(project=instance, **fields)


class DbtProjectViewSet(viewsets.ModelViewSet):
    """dbt projects: a directory on the server or an uploaded zip archive, bound to a destination."""

    queryset = DbtProject.objects.none()  # for the schema; get_queryset() picks the rows
    serializer_class = DbtProjectSerializer
    parser_classes = [ShallowJSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        return DbtProject.objects.visible_to(self.request.user).select_related("owner", "credential")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "check": self.action == "retrieve"}

    def perform_destroy(self, instance):
        dbt_projects.dbt_project_delete(project=instance)


# -- pipelines --------------------------------------------------------------------------------
class StepSerializer(serializers.ModelSerializer):
    position = serializers.IntegerField(read_only=True)
    job = OwnedJobField(queryset=Job.objects.all(), allow_null=True, required=False)
    dbt_project = OwnedPrimaryKeyField(queryset=DbtProject.objects.all(), allow_null=True, required=False)
    dbt_vars = serializers.DictField(required=False, help_text="dbt --vars, as an object.")

    class Meta:
        model = PipelineStep
        fields = ["position", *pipelines.STEP_FIELDS]


class PipelineSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    steps = StepSerializer(many=True, help_text="In order; replaces all steps on update.")
    alert_emails = serializers.ListField(child=serializers.CharField(), required=False)

    class Meta:
        model = Pipeline
        fields = ["id", "owner", *pipelines.PIPELINE_FIELDS, "steps", "created_at", "updated_at"]

    def create(self, validated_data):
        return pipelines.pipeline_create(owner=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data):
        return pipelines.pipeline_update(pipeline=instance, **validated_data)


class PipelineViewSet(viewsets.ModelViewSet):
    """Pipelines: load jobs and dbt commands run in order as one run, with retries and alerts."""

    queryset = Pipeline.objects.none()  # for the schema; get_queryset() picks the rows
    serializer_class = PipelineSerializer
    parser_classes = PARSERS

    def get_queryset(self):
        return Pipeline.objects.visible_to(self.request.user).select_related("owner").prefetch_related("steps")

    def perform_destroy(self, instance):
        pipelines.pipeline_delete(pipeline=instance)

    @extend_schema(request=None, responses={202: RunSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Queue a run of the whole pipeline; its steps are child runs (GET /api/runs/?parent={id})."""
        run = pipeline_run_create(pipeline=self.get_object(), trigger=RunTrigger.API, user=request.user)
        return Response(RunSerializer(run, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


# -- schedules --------------------------------------------------------------------------------
class ScheduleSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    job = OwnedJobField(queryset=Job.objects.all(), allow_null=True, required=False)
    pipeline = OwnedPrimaryKeyField(queryset=Pipeline.objects.all(), allow_null=True, required=False)
    cron = serializers.CharField(
        max_length=schedules.MAX_CRON_LENGTH,
        help_text='minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5".',
    )
    timezone = serializers.CharField(required=False, default="UTC", help_text="An IANA zone, e.g. Europe/Paris.")
    description = serializers.SerializerMethodField()
    next_runs = serializers.SerializerMethodField()
    last_run = serializers.SerializerMethodField()

    class Meta:
        model = Schedule
        fields = [
            "id",
            "owner",
            "name",
            "job",
            "pipeline",
            "cron",
            "timezone",
            "enabled",
            "description",
            "next_runs",
            "last_run",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, schedule):
        # Description and next runs come from one preview (the cron walk is done once).
        self._shown = schedules.schedule_preview(schedule.cron, schedule.timezone, now=django_timezone.now())
        return super().to_representation(schedule)

    def _preview(self, schedule) -> dict:
        return self._shown

    @extend_schema_field(OpenApiTypes.STR)
    def get_description(self, schedule) -> str:
        return self._preview(schedule)["description"]

    @extend_schema_field(serializers.ListField(child=serializers.DateTimeField()))
    def get_next_runs(self, schedule) -> list:
        if not schedule.enabled:
            return []
        return [moment.isoformat() for moment in self._preview(schedule)["next_runs"]]

    @extend_schema_field(RunSerializer(allow_null=True))
    def get_last_run(self, schedule):
        run = schedule.runs.order_by("-created_at").first()
        return RunSerializer(run, context=self.context).data if run else None

    def create(self, validated_data):
        return schedules.schedule_create(owner=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data):
        return schedules.schedule_update(schedule=instance, **validated_data)


class ScheduleViewSet(viewsets.ModelViewSet):
    """Cron schedules on a job or a pipeline (django-celery-beat); changes apply without a restart."""

    queryset = Schedule.objects.none()  # for the schema; get_queryset() picks the rows
    serializer_class = ScheduleSerializer
    parser_classes = PARSERS

    def get_queryset(self):
        return Schedule.objects.visible_to(self.request.user).select_related("owner", "job", "pipeline")

    def perform_destroy(self, instance):
        schedules.schedule_delete(schedule=instance)
