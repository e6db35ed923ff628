import csv

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from runs.models import DbtNodeResult, JobRun, RejectedRow, RunEvent, RunStatus
from runs.selectors import top_level_runs
from runs.services import run_cancel


class RejectedRowSerializer(serializers.ModelSerializer):
    class Meta:
        model = RejectedRow
        fields = ["line", "column", "value", "reason", "raw"]


class RunEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunEvent
        fields = ["id", "created_at", "level", "phase", "message"]


class DbtNodeResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = DbtNodeResult
        fields = [
            "unique_id",
            "name",
            "resource_type",
            "status",
            "execution_time",
            "rows_affected",
            "failures",
            "message",
        ]


class RunSerializer(serializers.ModelSerializer):
    job_name = serializers.CharField(source="job.name", read_only=True, default=None)
    title = serializers.CharField(read_only=True, help_text="What ran: the job, the pipeline or the dbt command.")
    triggered_by = serializers.CharField(source="triggered_by.username", read_only=True, default=None)
    error_location = serializers.CharField(read_only=True)

    class Meta:
        model = JobRun
        fields = [
            "id",
            "kind",
            "title",
            "job",
            "job_name",
            "pipeline",
            "dbt_project",
            "parent",
            "step_position",
            "attempt",
            "retry_of",
            "schedule",
            "schedule_slot",
            "status",
            "trigger",
            "triggered_by",
            "phase",
            "rows_read",
            "rows_written",
            "rows_rejected",
            "rows_inserted",
            "rows_updated",
            "rows_unchanged",
            "dry_run",
            "sample",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "cancel_requested_at",
            "error_message",
            "error_line",
            "error_column",
            "error_value",
            "error_location",
        ]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("job", OpenApiTypes.INT, description="Only runs of this job."),
            OpenApiParameter("pipeline", OpenApiTypes.INT, description="Only runs of this pipeline."),
            OpenApiParameter(
                "parent",
                OpenApiTypes.INT,
                description="The steps of this pipeline run (without it, the list holds loads, dbt commands and "
                "pipeline runs, not their steps).",
            ),
            OpenApiParameter(
                "status", OpenApiTypes.STR, enum=RunStatus.values, description="Only runs in this status."
            ),
        ]
    )
)
class RunViewSet(viewsets.ReadOnlyModelViewSet):
    """Runs with their counters; start one with POST /api/jobs/{id}/run/ or /api/pipelines/{id}/run/.

    A pipeline run has a child run per step (and per attempt): list them with ?parent={id}.
    """

    queryset = JobRun.objects.none()  # for the schema; get_queryset() picks the rows
    serializer_class = RunSerializer

    def get_queryset(self):
        user = self.request.user
        related = ("job", "pipeline", "dbt_project", "triggered_by")
        if self.action != "list":
            return JobRun.objects.visible_to(user).exclude(job__is_draft=True).select_related(*related)
        parent = self._number("parent")
        if parent is not None:
            runs = JobRun.objects.visible_to(user).filter(parent_id=parent)
        else:
            runs = top_level_runs(user)
        for name in ("job", "pipeline"):
            value = self._number(name)
            if value is not None:
                runs = runs.filter(**{f"{name}_id": value})
        status = self.request.query_params.get("status")
        if status:
            if status not in RunStatus.values:
                raise serializers.ValidationError({"status": f"One of {', '.join(RunStatus.values)}."})
            runs = runs.filter(status=status)
        return runs.select_related(*related).order_by("-created_at", "-id")

    def _number(self, name: str) -> int | None:
        value = self.request.query_params.get(name, "").strip()
        if not value:
            return None
        if not (value.isascii() and value.isdigit()):
            raise serializers.ValidationError({name: f"A {name} id is a whole number."})
        return int(value)

    @extend_schema(responses=DbtNodeResultSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="dbt-results")
    def dbt_results(self, request, pk=None):
        """A dbt step's per-node results from run_results.json: models, seeds and snapshots, then tests."""
        results = self.get_object().dbt_results.all()
        page = self.paginate_queryset(results)
        return self.get_paginated_response(DbtNodeResultSerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: RunSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Retry a failed or cancelled pipeline run from its failed step: steps that succeeded are reused."""
        from runs.pipelines import pipeline_retry

        again = pipeline_retry(run=self.get_object(), user=request.user)
        return Response(RunSerializer(again, context={"request": request}).data, status=202)

    @extend_schema(responses=RunEventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The run's log, oldest first."""
        events = self.get_object().events.all()
        page = self.paginate_queryset(events)
        return self.get_paginated_response(RunEventSerializer(page, many=True).data)

    @extend_schema(request=None, responses={200: RunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop a queued or running run; a running load rolls back and ends CANCELLED within seconds."""
        run = run_cancel(run=self.get_object(), user=request.user)
        return Response(RunSerializer(run, context={"request": request}).data)

    @extend_schema(responses=RejectedRowSerializer(many=True))
    @action(detail=True, methods=["get"])
    def rejects(self, request, pk=None):
        """Rows the load refused, in file order, with line, column, value and reason."""
        rejects = self.get_object().rejects.all()
        page = self.paginate_queryset(rejects)
        return self.get_paginated_response(RejectedRowSerializer(page, many=True).data)

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The rejects as CSV.")})
    @action(detail=True, methods=["get"], url_path="rejects/download")
    def rejects_csv(self, request, pk=None):
        """The rejects as a CSV file (line, column, value, reason, raw row), streamed."""
        run = self.get_object()
        return rejects_csv_response(run)


class _Echo:
    def write(self, value):
        return value


def rejects_csv_response(run: JobRun) -> StreamingHttpResponse:
    """Shared by the API and the admin."""
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["line", "column", "value", "reason", "raw"])
        for reject in run.rejects.iterator(chunk_size=2000):
            yield writer.writerow([reject.line, reject.column, reject.value, reject.reason, reject.raw])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-rejects.csv"'
    return response
