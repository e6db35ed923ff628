"""Every write to a Credential goes through here: API, admin and pages alike."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from credentials.connectors import ConnectionParams, TestResult, get_connector
from credentials.models import DEFAULT_PORTS, Credential, CredentialKind

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


def credential_params(credential: Credential) -> ConnectionParams:
    secret_options = json.loads(credential.secret_options) if credential.secret_options else {}
    return ConnectionParams(
        kind=credential.kind,
        host=credential.host,
        port=credential.port or DEFAULT_PORTS.get(credential.kind),
        database=credential.database,
        username=credential.username,
        password=credential.password or "",
        sslmode=credential.sslmode,
        options=dict(credential.extra_options or {}),
        secret_options=secret_options,
    )


def _validate(credential: Credential) -> None:
    errors: dict[str, list[str]] = {}
    if credential.kind in (CredentialKind.POSTGRESQL, CredentialKind.REDSHIFT):
        if not credential.host:
            errors.setdefault("host", []).append("A host is required for this kind of database.")
        if not credential.username:
            errors.setdefault("username", []).append("A user name is required for this kind of database.")
    if credential.port is not None and not 1 <= credential.port <= 65535:
        errors.setdefault("port", []).append("A port is between 1 and 65535.")
    if not isinstance(credential.extra_options, dict):
        errors.setdefault("extra_options", []).append("Extra options are a JSON object of option: value.")
    else:
        unknown = sorted(set(credential.extra_options) - ALLOWED_OPTIONS)
        if unknown:
            errors.setdefault("extra_options", []).append(
                f"Unsupported option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(ALLOWED_OPTIONS))}. "
                "Secrets go in the password or secret options, which are encrypted."
            )
    if errors:
        raise ValidationError(errors)
    credential.full_clean()


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
    _validate(credential)
    credential.save()
    return credential


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
    _validate(credential)
    credential.save()
    return credential


def credential_delete(*, credential: Credential) -> None:
    try:
        credential.delete()
    except ProtectedError as exc:
        jobs = ", ".join(sorted(str(job) for job in exc.protected_objects))
        raise ValidationError(
            f"Credential {credential.name!r} is used by job(s) {jobs}; change or delete them first."
        ) from None


def credential_test(*, credential: Credential) -> TestResult:
    """Connect with the stored settings and report the server version, or why it failed."""
    return get_connector(credential_params(credential)).test()
