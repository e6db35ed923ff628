from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from credentials.models import Credential
from etlportal.api import ShallowJSONParser
from jobs import services
from jobs.models import ColumnMapping, Job, Upload
from runs.api import RunSerializer
from runs.models import RunTrigger
from runs.services import run_create


class UploadSerializer(serializers.ModelSerializer):
    file = serializers.FileField(write_only=True, help_text="The CSV file (multipart/form-data).")
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True)

    class Meta:
        model = Upload
        fields = ["id", "file", "original_name", "size", "sha256", "uploaded_by", "uploaded_at"]
        read_only_fields = ["original_name", "size", "sha256", "uploaded_at"]


class InspectionOptionsSerializer(serializers.Serializer):
    """Documentation of the overrides; jobs.services validates them."""

    encoding = serializers.CharField(required=False, help_text="e.g. utf-8, cp1252, latin-1, utf-16")
    delimiter = serializers.CharField(required=False, help_text='One character, or "\\t" for tab.')
    quotechar = serializers.CharField(required=False, allow_blank=True)
    skipinitialspace = serializers.BooleanField(required=False, allow_null=True)
    escapechar = serializers.CharField(required=False, allow_blank=True)
    header = serializers.BooleanField(required=False, allow_null=True)
    null_markers = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    column_types = serializers.DictField(child=serializers.CharField(), required=False)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class UploadViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Source files. Upload with multipart/form-data, field `file`."""

    queryset = Upload.objects.none()  # for the schema; get_queryset() picks the rows
    serializer_class = UploadSerializer
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        return Upload.objects.visible_to(self.request.user).select_related("uploaded_by")

    def create(self, request, *args, **kwargs):
        # Refuse an oversized body from its Content-Length, before a byte of it is read.
        try:
            services.upload_check_length(request.META.get("CONTENT_LENGTH"))
        except services.UploadTooLarge as exc:
            raise PayloadTooLarge(exc.messages[0]) from None
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        try:
            upload = services.upload_store(file=serializer.validated_data["file"], user=self.request.user)
        except services.UploadTooLarge as exc:  # no Content-Length (chunked): measured while storing
            raise PayloadTooLarge(exc.messages[0]) from None
        serializer.instance = upload

    def perform_destroy(self, instance):
        services.upload_delete(upload=instance)

    @extend_schema(
        request=InspectionOptionsSerializer,
        responses=OpenApiTypes.OBJECT,
        description=(
            "GET: what is in the file (encoding with confidence, dialect, header, columns with inferred types, "
            "conflicting values with their lines, statistics, first preview page, problems with line numbers). "
            "POST: override any of encoding, delimiter, quotechar, escapechar, skipinitialspace, header, "
            "null_markers, column_types "
            "and inspect again. Large files are confirmed on every row by the worker: see `scan`."
        ),
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[ShallowJSONParser])
    def inspection(self, request, pk=None):
        upload = self.get_object()
        if request.method == "POST" or upload.inspection is None:
            options = request.data if request.method == "POST" else None
            services.upload_inspect(upload=upload, options=options)
        return Response(
            {
                **upload.inspection,
                "options": upload.inspection_options,
                "scan": {"status": upload.scan_status, "progress": upload.scan_progress},
            }
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT, description="1-based page of data rows."),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="Rows per page, up to 500."),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        """Any page of the file's data rows, with their line numbers."""
        try:
            page = int(request.query_params.get("page", 1))
            page_size = int(request.query_params.get("page_size", 50))
        except ValueError:
            raise serializers.ValidationError({"page": "page and page_size are whole numbers."}) from None
        return Response(services.upload_preview(upload=self.get_object(), page=page, page_size=page_size))


class ColumnMappingSerializer(serializers.ModelSerializer):
    position = serializers.IntegerField(read_only=True)

    class Meta:
        model = ColumnMapping
        fields = ["position", *services.MAPPING_FIELDS]


class OwnedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """Only the requesting user's objects (all for staff) can be referenced; others look missing."""

    def get_queryset(self):
        return super().get_queryset().visible_to(self.context["request"].user)


class JobSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    source = OwnedPrimaryKeyField(queryset=Upload.objects.all(), allow_null=True, required=False)
    destination = OwnedPrimaryKeyField(queryset=Credential.objects.all())
    mappings = ColumnMappingSerializer(many=True, help_text="In order; replaces all mappings on update.")
    alert_emails = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Addresses told when a run fails."
    )

    class Meta:
        model = Job
        fields = ["id", "owner", *services.JOB_FIELDS, "mappings", "created_at", "updated_at"]

    def create(self, validated_data):
        return services.job_create(owner=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data):
        return services.job_update(job=instance, **validated_data)


class RunRequestSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=False, help_text="Read, transform and check; write nothing.")


class JobViewSet(viewsets.ModelViewSet):
    """Load jobs with their column mappings."""

    queryset = Job.objects.none()  # for the schema; get_queryset() picks the rows
    serializer_class = JobSerializer

    def get_queryset(self):
        jobs = Job.objects.visible_to(self.request.user).filter(is_draft=False)  # not the wizard's trial jobs
        return jobs.select_related("owner").prefetch_related("mappings")

    def perform_destroy(self, instance):
        services.job_delete(job=instance)

    @extend_schema(
        parameters=[OpenApiParameter("rows", OpenApiTypes.INT, description="How many rows (1 to 50, default 10).")],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        """The mappings (transforms, conversions, calculated columns) tried on the file's first rows.

        {"columns": [...], "rows": [{"line": 2, "values": {...}} or {"line": 3, "error": "...",
        "column": "...", "value": "..."}]}: what the load would write, or why it would reject a row.
        """
        try:
            rows = int(request.query_params.get("rows", 10))
        except ValueError:
            raise serializers.ValidationError({"rows": "A whole number from 1 to 50."}) from None
        if not 1 <= rows <= 50:
            raise serializers.ValidationError({"rows": "A whole number from 1 to 50."})
        return Response(services.job_preview(job=self.get_object(), rows=rows))

    @extend_schema(request=RunRequestSerializer, responses={202: RunSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Queue a run of this job; follow it at /api/runs/{id}/ (or over the websocket).

        With {"dry_run": true} the run reads and transforms the whole file and checks the
        destination table, but writes nothing: counts, the first rejects and sample rows.
        """
        options = RunRequestSerializer(data=request.data)
        options.is_valid(raise_exception=True)
        run = run_create(
            job=self.get_object(),
            trigger=RunTrigger.API,
            user=request.user,
            dry_run=options.validated_data["dry_run"],
        )
        return Response(RunSerializer(run, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)
