from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from credentials import services
from credentials.models import Credential


class CredentialSerializer(serializers.ModelSerializer):
    # Secrets are write-only: accepted on create/update, never returned.
    password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False, style={"input_type": "password"}
    )
    secret_options = serializers.DictField(
        write_only=True, required=False, help_text="Encrypted at rest, never returned."
    )
    has_password = serializers.BooleanField(read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = Credential
        fields = [
            "id",
            "name",
            "kind",
            "host",
            "port",
            "database",
            "username",
            "password",
            "has_password",
            "secret_options",
            "sslmode",
            "extra_options",
            "owner",
            "created_at",
            "updated_at",
        ]
        # Uniqueness per owner is checked by the service (the owner is not an input).
        validators = []

    def create(self, validated_data):
        return services.credential_create(owner=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data):
        return services.credential_update(credential=instance, **validated_data)


TestResultSerializer = inline_serializer(
    "CredentialTestResult",
    fields={
        "ok": serializers.BooleanField(),
        "message": serializers.CharField(),
        "server_version": serializers.CharField(),
    },
)


class CredentialViewSet(viewsets.ModelViewSet):
    """Destinations. Users see their own; staff see all. Passwords are never returned."""

    queryset = Credential.objects.none()  # for the schema; get_queryset() picks the rows
    serializer_class = CredentialSerializer

    def get_queryset(self):
        return Credential.objects.visible_to(self.request.user).select_related("owner")

    def perform_destroy(self, instance):
        services.credential_delete(credential=instance)

    @extend_schema(request=None, responses=TestResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Connect with the stored settings: the server version, or a clear error with host and port."""
        result = services.credential_test(credential=self.get_object())
        return Response({"ok": result.ok, "message": result.message, "server_version": result.server_version})
