from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action

from runs.models import JobRun, RunEvent, RunStatus


class RunEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunEvent
        fields = ["id", "created_at", "level", "phase", "message"]


class RunSerializer(serializers.ModelSerializer):
    job_name = serializers.CharField(source="job.name", read_only=True)
    triggered_by = serializers.CharField(source="triggered_by.username", read_only=True, default=None)
    error_location = serializers.CharField(read_only=True)

    class Meta:
        model = JobRun
        fields = [
            "id",
            "job",
            "job_name",
            "status",
            "trigger",
            "triggered_by",
            "phase",
            "rows_read",
            "rows_written",
            "rows_rejected",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
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
            OpenApiParameter(
                "status", OpenApiTypes.STR, enum=RunStatus.values, description="Only runs in this status."
            ),
        ]
    )
)
class RunViewSet(viewsets.ReadOnlyModelViewSet):
    """Runs with their counters; start one with POST /api/jobs/{id}/run/."""

    queryset = JobRun.objects.none()  # for the schema; get_queryset() picks the rows
    serializer_class = RunSerializer

    def get_queryset(self):
        runs = JobRun.objects.visible_to(self.request.user).select_related("job", "triggered_by")
        job = self.request.query_params.get("job")
        if job:
            try:
                runs = runs.filter(job_id=int(job))
            except ValueError:
                raise serializers.ValidationError({"job": "A job id is a whole number."}) from None
        status = self.request.query_params.get("status")
        if status:
            if status not in RunStatus.values:
                raise serializers.ValidationError({"status": f"One of {', '.join(RunStatus.values)}."})
            runs = runs.filter(status=status)
        return runs

    @extend_schema(responses=RunEventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The run's log, oldest first."""
        events = self.get_object().events.all()
        page = self.paginate_queryset(events)
        return self.get_paginated_response(RunEventSerializer(page, many=True).data)
