"""Uploads and jobs: one function per action, shared by API, admin and pages."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from credentials.connectors import CONNECTORS
from jobs.coltypes import parse_type
from jobs.models import ColumnMapping, Job, LoadStrategy, Upload
from jobs.transform import ColumnSpec, validate_columns

JOB_FIELDS = ("name", "source", "destination", "schema", "table", "create_table", "load_strategy", "upsert_keys")
MAPPING_FIELDS = (
    "source_column",
    "destination_column",
    "destination_type",
    "transform",
    "expression",
    "default",
    "nullable",
)


class UploadTooLarge(ValidationError):
    def __init__(self, size: int, limit: int):
        super().__init__(
            f"The file is {human_bytes(size)}; the largest upload allowed is {human_bytes(limit)} (UPLOAD_MAX_BYTES).",
            code="too_large",
        )


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def upload_store(*, file: UploadedFile, user) -> Upload:
    """Store an uploaded file through the storage API, recording its size and sha256.

    Django has already spooled a large upload to a temporary file; both passes here
    read it in chunks, so the web process never holds the file in memory.
    """
    digest = hashlib.sha256()
    size = 0
    for chunk in file.chunks():
        digest.update(chunk)
        size += len(chunk)
    if size > settings.UPLOAD_MAX_BYTES:
        raise UploadTooLarge(size, settings.UPLOAD_MAX_BYTES)
    file.seek(0)
    original_name = os.path.basename(file.name or "upload.csv")[:255] or "upload.csv"
    upload = Upload(original_name=original_name, size=size, sha256=digest.hexdigest(), uploaded_by=user)
    upload.file.save(original_name, file, save=False)
    upload.save()
    return upload


def upload_delete(*, upload: Upload) -> None:
    """Delete an upload and its file, unless a job still loads from it."""
    jobs = sorted(upload.jobs.values_list("name", flat=True))
    if jobs:
        raise ValidationError(
            f"Upload {upload.original_name!r} is the source of job(s) {', '.join(jobs)}; "
            "give them another source or delete them first."
        )
    name = upload.file.name
    storage = upload.file.storage
    upload.delete()
    transaction.on_commit(lambda: storage.delete(name))


def column_specs(mappings) -> list[ColumnSpec]:
    return [
        ColumnSpec(
            destination_column=m.destination_column,
            destination_type=m.destination_type,
            source_column=m.source_column,
            transform=m.transform,
            expression=m.expression,
            default=m.default,
            nullable=m.nullable,
        )
        for m in mappings
    ]


def job_validate(job: Job, mappings: list[ColumnMapping]) -> None:
    """The rules a job and its mappings must satisfy to be saved and run.

    Also normalises each mapping's destination type to its canonical SQL spelling.
    """
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for field in ("schema", "table"):
        value = getattr(job, field)
        if not value:
            add(field, "This field is required.")
        elif len(value.encode()) > 63:
            add(field, f"{value!r} is longer than the 63-byte limit for identifiers.")
    if job.destination_id:
        connector = CONNECTORS[job.destination.kind]
        if not connector.supports_load:
            add("destination", f"Loading into {connector.label} is not available yet; choose a PostgreSQL destination.")
    if job.load_strategy != LoadStrategy.INSERT:
        add("load_strategy", f"The {job.load_strategy} strategy is not available yet; use INSERT.")
    for problem in validate_columns(column_specs(mappings)):
        add("mappings", problem[:1].upper() + problem[1:] + ".")
    destination_columns = {m.destination_column for m in mappings}
    if not isinstance(job.upsert_keys, list) or not all(isinstance(k, str) for k in job.upsert_keys):
        add("upsert_keys", "Key columns are a list of destination column names.")
    else:
        unknown = [key for key in job.upsert_keys if key not in destination_columns]
        if unknown:
            add("upsert_keys", f"Key column(s) {', '.join(unknown)} are not mapped destination columns.")
    for mapping in mappings:
        try:
            mapping.destination_type = parse_type(mapping.destination_type).sql
        except ValueError:
            pass  # already reported by validate_columns
    if errors:
        raise ValidationError(errors)
    job.full_clean(exclude=["owner", "destination", "source"])


def _build_mappings(job: Job, mappings: list[dict[str, Any]]) -> list[ColumnMapping]:
    built = []
    for position, data in enumerate(mappings, start=1):
        unknown = set(data) - set(MAPPING_FIELDS) - {"position"}
        if unknown:
            raise ValidationError({"mappings": [f"Unknown mapping field(s): {', '.join(sorted(unknown))}."]})
        values = {field: data[field] for field in MAPPING_FIELDS if field in data}
        built.append(ColumnMapping(job=job, position=position, **values))
    return built


def _save_job(job: Job, mappings: list[ColumnMapping], replace_mappings: bool) -> Job:
    job_validate(job, mappings)
    job.save()
    if replace_mappings:
        job.mappings.all().delete()
        for mapping in mappings:
            mapping.job = job
        ColumnMapping.objects.bulk_create(mappings)
    return job


@transaction.atomic
def job_create(*, owner, mappings: list[dict[str, Any]], **fields: Any) -> Job:
    unknown = set(fields) - set(JOB_FIELDS)
    if unknown:
        raise ValueError(f"unknown job field(s): {', '.join(sorted(unknown))}")
    job = Job(owner=owner, **fields)
    return _save_job(job, _build_mappings(job, mappings), replace_mappings=True)


@transaction.atomic
def job_update(*, job: Job, mappings: list[dict[str, Any]] | None = None, **fields: Any) -> Job:
    """Change job fields; when `mappings` is given it replaces the job's mappings."""
    unknown = set(fields) - set(JOB_FIELDS)
    if unknown:
        raise ValueError(f"unknown job field(s): {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(job, name, value)
    if mappings is None:
        return _save_job(job, list(job.mappings.all()), replace_mappings=False)
    return _save_job(job, _build_mappings(job, mappings), replace_mappings=True)


def job_delete(*, job: Job) -> None:
    """Delete a job and its run history, unless a run of it is queued or running."""
    from runs.models import RunStatus

    active = job.runs.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).values_list("pk", flat=True).first()
    if active is not None:
        raise ValidationError(f"Job {job.name!r} has a run in progress (run {active}); wait for it to finish first.")
    job.delete()
