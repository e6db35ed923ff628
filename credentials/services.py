"""Every write to a Credential goes through here: API, admin and pages alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.views.decorators.debug import sensitive_variables

from credentials.connectors import ConnectionParams, ConnectorError, TargetColumn, TestResult, get_connector
from credentials.models import DEFAULT_PORTS, Credential, CredentialKind
from etlportal.validators import has_nul, nul_message

# libpq options a user may set in extra_options. Anything secret (password, passfile,
# sslpassword) belongs in the encrypted fields, so it is refused here.
ALLOWED_OPTIONS = {
    "connect_timeout",
    "application_name",
    "options",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "target_session_attrs",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "gssencmode",
    "channel_binding",
}
EDITABLE_FIELDS = ("name", "kind", "host", "port", "database", "username", "sslmode", "extra_options")


def duckdb_path(database: str) -> Path:
    """The DuckDB file a credential names: a path inside DUCKDB_DIR, or ValueError."""
    root = Path(settings.DUCKDB_DIR)
    path = (root / database).resolve()
    if not path.is_relative_to(root) or path == root:
        raise ValueError(f"A DuckDB database is a file name inside {root} (DUCKDB_DIR), e.g. warehouse.duckdb.")
    return path


def credential_params(credential: Credential) -> ConnectionParams:
    secret_options = json.loads(credential.secret_options) if credential.secret_options else {}
    database = credential.database
    if credential.kind == CredentialKind.DUCKDB:
        database = str(duckdb_path(database))
    return ConnectionParams(
        kind=credential.kind,
        host=credential.host,
        port=credential.port or DEFAULT_PORTS.get(credential.kind),
        database=database,
        username=credential.username,
        password=credential.password or "",
        sslmode=credential.sslmode,
        options=dict(credential.extra_options or {}),
        secret_options=secret_options,
    )


def credential_validate(credential: Credential) -> None:
    """Everything a credential must satisfy before it is saved; ValidationError per field."""
    errors: dict[str, list[str]] = {}
    if credential.kind == CredentialKind.DUCKDB:
        try:
            duckdb_path(credential.database)
        except ValueError as exc:
            errors.setdefault("database", []).append(str(exc))
    if credential.kind in (CredentialKind.POSTGRESQL, CredentialKind.REDSHIFT):
        if not credential.host:
            errors.setdefault("host", []).append("A host is required for this kind of database.")
        if not credential.username:
            errors.setdefault("username", []).append("A user name is required for this kind of database.")
    if credential.port is not None and not 1 <= credential.port <= 65535:
        errors.setdefault("port", []).append("A port is between 1 and 65535.")
    for field in ("name", "host", "database", "username"):
        if has_nul(getattr(credential, field)):
            errors.setdefault(field, []).append(nul_message(f"The {field}"))
    if not isinstance(credential.extra_options, dict):
        errors.setdefault("extra_options", []).append("Extra options are a JSON object of option: value.")
    elif has_nul(credential.extra_options):
        errors.setdefault("extra_options", []).append(nul_message("Extra options"))
    else:
        unknown = sorted(set(credential.extra_options) - ALLOWED_OPTIONS)
        if unknown:
            errors.setdefault("extra_options", []).append(
                f"Unsupported option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(ALLOWED_OPTIONS))}. "
                "Secrets go in the password or secret options, which are encrypted."
            )
        not_scalar = sorted(
            key
            for key, value in credential.extra_options.items()
            if not isinstance(value, str | int) or isinstance(value, bool)
        )
        if not_scalar:
            errors.setdefault("extra_options", []).append(
                f"Option(s) {', '.join(not_scalar)} must be a string or a whole number."
            )
    if credential.pk and credential.jobs.exists():
        stored_kind = Credential.objects.filter(pk=credential.pk).values_list("kind", flat=True).first()
        if stored_kind != credential.kind:
            errors.setdefault("kind", []).append(
                "This credential is used by jobs; its kind cannot change. Create a new credential instead."
            )
    if errors:
        raise ValidationError(errors)
    credential.full_clean()


@sensitive_variables("password", "secret_options")
@transaction.atomic
def credential_create(
    *,
    owner,
    name: str,
    kind: str,
    database: str,
    host: str = "",
    port: int | None = None,
    username: str = "",
    password: str = "",
    sslmode: str = "prefer",
    extra_options: dict | None = None,
    secret_options: dict | None = None,
) -> Credential:
    credential = Credential(
        owner=owner,
        name=name,
        kind=kind,
        host=host,
        port=port,
        database=database,
        username=username,
        password=password or "",
        sslmode=sslmode,
        extra_options=extra_options or {},
        secret_options=json.dumps(secret_options) if secret_options else "",
    )
    credential_validate(credential)
    credential.save()
    return credential


@sensitive_variables("password", "secret_options")
@transaction.atomic
def credential_update(
    *, credential: Credential, password: str | None = None, secret_options: dict | None = None, **fields: Any
) -> Credential:
    """Change fields; a password or secret options of None keep the stored ones (secrets are write-only)."""
    for name, value in fields.items():
        if name not in EDITABLE_FIELDS:
            raise ValueError(f"{name} is not an editable credential field")
        setattr(credential, name, value)
    if password is not None:
        credential.password = password
    if secret_options is not None:
        credential.secret_options = json.dumps(secret_options) if secret_options else ""
    credential_validate(credential)
    credential.save()
    return credential


@transaction.atomic
def credential_delete(*, credential: Credential) -> None:
    """Delete a credential unless a job uses it; the wizard's trial jobs into it go first."""
    from jobs.drafts import trial_jobs_delete

    busy = trial_jobs_delete(credential.jobs.all())
    if busy:
        raise ValidationError(
            f"Credential {credential.name!r} is being dry-run by a load being set up ({', '.join(busy)}); "
            "try again when the dry run has finished."
        )
    try:
        credential.delete()
    except ProtectedError as exc:
        users: dict[str, list[str]] = {}
        for used_by in exc.protected_objects:
            users.setdefault(used_by._meta.verbose_name_plural, []).append(str(used_by))
        listed = " and ".join(f"{kind}: {', '.join(sorted(names))}" for kind, names in sorted(users.items()))
        raise ValidationError(
            f"Credential {credential.name!r} is used by {listed}. Change or delete them first."
        ) from None


def credential_test(*, credential: Credential) -> TestResult:
    """Connect with the stored settings and report the server version, or why it failed."""
    return get_connector(credential_params(credential)).test()


def credential_browse(*, credential: Credential, schema: str | None = None) -> list[str]:
    """The destination's schemas (schema None), or the tables of one schema; ValidationError saying why not."""
    try:
        return get_connector(credential_params(credential)).browse(schema)
    except ConnectorError as exc:
        raise ValidationError(exc.message) from None


def credential_table_columns(*, credential: Credential, schema: str, table: str) -> list[TargetColumn] | None:
    """The columns of schema.table at the destination, or None when it does not exist."""
    try:
        return get_connector(credential_params(credential)).describe_table(schema, table)
    except ConnectorError as exc:
        raise ValidationError(exc.message) from None
