from django.conf import settings
from django.db import models
from encrypted_model_fields.fields import EncryptedCharField, EncryptedTextField

from etlportal.querysets import OwnedQuerySet


class CredentialKind(models.TextChoices):
    POSTGRESQL = "postgresql", "PostgreSQL"
    REDSHIFT = "redshift", "Amazon Redshift"
    DUCKDB = "duckdb", "DuckDB"


class SSLMode(models.TextChoices):
    DISABLE = "disable", "disable"
    ALLOW = "allow", "allow"
    PREFER = "prefer", "prefer"
    REQUIRE = "require", "require"
    VERIFY_CA = "verify-ca", "verify-ca"
    VERIFY_FULL = "verify-full", "verify-full"


DEFAULT_PORTS = {CredentialKind.POSTGRESQL: 5432, CredentialKind.REDSHIFT: 5439}


class Credential(models.Model):
    """Where data goes. Secrets are encrypted at rest and write-only everywhere.

    For DuckDB, `database` is the path of the database file on the worker.
    """

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=CredentialKind.choices, default=CredentialKind.POSTGRESQL)
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    database = models.CharField(max_length=1024, help_text="Database name; for DuckDB, the database file path.")
    username = models.CharField(max_length=255, blank=True)
    password = EncryptedCharField(max_length=1024, blank=True)
    # Secret connection options (e.g. a MotherDuck token), JSON, encrypted like the password.
    secret_options = EncryptedTextField(blank=True, default="")
    sslmode = models.CharField(max_length=20, choices=SSLMode.choices, default=SSLMode.PREFER)
    # Non-secret driver options (connect_timeout, application_name, ...).
    extra_options = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credentials")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="credential_unique_name_per_owner")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def has_password(self) -> bool:
        return bool(self.password)
