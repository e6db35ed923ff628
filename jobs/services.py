"""Uploads and jobs: one function per action, shared by API, admin and pages."""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from credentials.connectors import CONNECTORS
from etlportal.validators import has_nul, nul_message
from jobs.coltypes import parse_type
from jobs.errors import SourceError
from jobs.inspection.scan import SCAN_WATCH
from jobs.models import ColumnMapping, Job, LoadStrategy, ScanStatus, Upload
from jobs.transform import ColumnSpec, validate_columns

logger = logging.getLogger(__name__)

ALERT_FIELDS = ("alert_emails", "alert_webhook_url", "alert_on_success", "alert_after_minutes")
JOB_FIELDS = (
    "name",
    "source",
    "destination",
    "schema",
    "table",
    "create_table",
    "load_strategy",
    "upsert_keys",
    "max_rejected_rows",
    "max_rejected_ratio",
    *ALERT_FIELDS,
)
MAPPING_FIELDS = (
    "source_column",
    "destination_column",
    "destination_type",
    "transform",
    "transform_args",
    "expression",
    "default",
    "nullable",
    "format",
    "true_words",
    "false_words",
)


# The job's text fields, as a message names them.
JOB_TEXT_LABELS = {
    "name": "The job name",
    "schema": "The schema",
    "table": "The table",
    "upsert_keys": "A key column",
    "alert_emails": "An e-mail address",
    "alert_webhook_url": "The webhook URL",
}


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


# Room for the multipart envelope around the file itself.
MULTIPART_OVERHEAD = 64 * 1024


def upload_check_length(content_length: str | None) -> None:
    """UploadTooLarge when a request's Content-Length says its body holds more than an allowed upload.

    Called before anything reads the body (the CSRF check reads a form's body), so an oversized
    upload is refused without receiving it; a body without a Content-Length is measured by upload_store.
    """
    try:
        length = int(content_length or 0)
    except ValueError:
        return
    if length > settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD:
        raise UploadTooLarge(length, settings.UPLOAD_MAX_BYTES)


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


def upload_in_use_by(upload: Upload) -> list[str]:
    """Names of the jobs that load from this upload (it cannot be deleted while there are any)."""
    return sorted(upload.jobs.values_list("name", flat=True))


def job_active_run_id(job: Job) -> int | None:
    """A queued or running run of the job, if any (the job cannot be deleted meanwhile)."""
    from runs.models import RunStatus

    return job.runs.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).values_list("pk", flat=True).first()


def upload_delete(*, upload: Upload) -> None:
    """Delete an upload and its file, unless a job still loads from it."""
    jobs = upload_in_use_by(upload)
    if jobs:
        raise ValidationError(
            f"Upload {upload.original_name!r} is the source of job(s) {', '.join(jobs)}; "
            "give them another source or delete them first."
        )
    name = upload.file.name
    storage = upload.file.storage
    upload.delete()
    if not Upload.objects.filter(file=name).exists():  # a wizard's copy (upload_copy) shares the file
        transaction.on_commit(lambda: storage.delete(name))


def upload_copy(*, upload: Upload) -> Upload:
    """Another Upload of the same stored file, with its own inspection and options to change.

    The file itself is not copied: it never changes, and upload_delete keeps it while any Upload names it.
    """
    copy = Upload(
        file=upload.file.name,
        original_name=upload.original_name,
        size=upload.size,
        sha256=upload.sha256,
        uploaded_by=upload.uploaded_by,
        inspection=upload.inspection,
        inspection_options=upload.inspection_options,
        scan_status=upload.scan_status,
        scan_progress=upload.scan_progress,
        scan_token=upload.scan_token,
        row_index=upload.row_index,
    )
    copy.save()
    return copy


def column_specs(mappings) -> list[ColumnSpec]:
    return [
        ColumnSpec(
            destination_column=m.destination_column,
            destination_type=m.destination_type,
            source_column=m.source_column,
            transform=m.transform,
            transform_args=dict(m.transform_args or {}),
            expression=m.expression,
            default=m.default,
            nullable=m.nullable,
            format=m.format,
            true_words=tuple(m.true_words or ()),
            false_words=tuple(m.false_words or ()),
        )
        for m in mappings
    ]


def specs_with_detected_formats(specs: list[ColumnSpec], inspection: dict) -> tuple[list[ColumnSpec], list[str]]:
    """Date and timestamp mappings without a format read the format inspection detected, when not ISO.

    ("31/01/2026" needs "%d/%m/%Y"; ISO values need none, and an ISO strptime pattern would refuse
    the other ISO layouts a column may mix.) Returns the specs and one sentence per format used.
    """
    from dataclasses import replace

    from jobs.coltypes import DATE_TYPES, check_date_format

    by_name: dict[str, dict] = {}
    for column in inspection.get("columns", []):
        by_name.setdefault(column["name"], column)
        by_name.setdefault(column.get("original_name") or column["name"], column)
    result, notes = [], []
    for spec in specs:
        column = by_name.get(spec.source_column) if spec.source_column else None
        detected = (column or {}).get("format", "")
        if (
            column
            and not spec.format
            and spec.column_type.name in DATE_TYPES
            and column.get("type") in DATE_TYPES
            and detected
            and not detected.startswith("%Y-%m-%d")
        ):
            try:
                check_date_format(spec.column_type.name, detected)
            except ValueError:
                pass  # e.g. a timestamp format for a date column: the mapping says what it wants
            else:
                spec = replace(spec, format=detected)
                notes.append(f"Column {spec.source_column!r} is read with the format inspection found: {detected}")
        result.append(spec)
    return result, notes


def job_validate(job: Job, mappings: list[ColumnMapping]) -> None:
    """The rules a job and its mappings must satisfy to be saved and run.

    Also normalises each mapping's destination type to its canonical SQL spelling.
    """
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for field, label in JOB_TEXT_LABELS.items():
        if has_nul(getattr(job, field)):
            add(field, nul_message(label))
    for field in ("schema", "table"):
        value = getattr(job, field)
        if has_nul(value):
            continue
        if not value:
            add(field, "This field is required.")
        elif len(value.encode()) > 63:
            add(field, f"{value!r} is longer than the 63-byte limit for identifiers.")
    if job.destination_id:
        connector = CONNECTORS[job.destination.kind]
        if not connector.supports_load:
            add("destination", f"Loading into {connector.label} is not available.")
    if job.load_strategy == LoadStrategy.UPSERT and not job.upsert_keys:
        add("upsert_keys", "An UPSERT needs its key columns: the destination columns that identify a row.")
    if job.max_rejected_ratio is not None and not 0 <= job.max_rejected_ratio <= 1:
        add("max_rejected_ratio", "A share of the rows read, from 0 to 1 (0.01 is 1%).")
    for field, problems in alert_problems(job).items():
        for problem in problems:
            add(field, problem)
    for problem in validate_columns(column_specs(mappings), source_names=_source_names(job)):
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


def alert_problems(subject) -> dict[str, list[str]]:
    """What is wrong with a job's or a pipeline's alert settings (runs.alerts sends them)."""
    from django.core.validators import URLValidator, validate_email

    errors: dict[str, list[str]] = {}
    emails = subject.alert_emails
    if not isinstance(emails, list) or not all(isinstance(email, str) for email in emails):
        errors["alert_emails"] = ["A list of e-mail addresses."]
    else:
        for email in emails:
            try:
                validate_email(email)
            except ValidationError:
                errors.setdefault("alert_emails", []).append(f"{email!r} is not an e-mail address.")
    if subject.alert_webhook_url:
        try:
            URLValidator(schemes=["http", "https"])(subject.alert_webhook_url)
        except ValidationError:
            errors["alert_webhook_url"] = ["An http:// or https:// address."]
    if subject.alert_after_minutes is not None and not 1 <= subject.alert_after_minutes <= 2**31 - 1:
        errors["alert_after_minutes"] = ["From 1 to 2147483647 minutes."]
    return errors


def _source_names(job: Job) -> list[str] | None:
    """The names expressions may use from the job's source file (None while it has none)."""
    return None if job.source_id is None else source_names_of(job.source)


def source_names_of(upload: Upload) -> list[str] | None:
    """The names expressions may use from a file: header names and their safe aliases.

    None (names not checked until the run) for a file with no rows.
    """
    inspection = upload.inspection or upload_inspect(upload=upload)
    if "columns" not in inspection:
        return None
    names = []
    for column in inspection["columns"]:
        names += [column["name"], column.get("original_name") or column["name"]]
    return names


def job_preview(*, job: Job, rows: int = 10) -> dict:
    """The job's mappings tried on the first rows of its file: output values, or why a row is rejected.

    What a user checks while editing mappings and calculated columns, before any run.
    """
    if job.source_id is None:
        raise ValidationError("The job has no source file to preview.")
    return mappings_preview(upload=job.source, mappings=list(job.mappings.order_by("position")), rows=rows)


def mappings_preview(*, upload: Upload, mappings: list[ColumnMapping], rows: int = 10) -> dict:
    """Mappings (saved or not) tried on the first rows of a file: output values, or why a row is rejected."""
    from jobs.transform import MappingError, preview_transform

    inspection = upload.inspection or upload_inspect(upload=upload)
    if "columns" not in inspection:
        raise ValidationError("The source file has no rows to preview.")
    page = upload_preview(upload=upload, page=1, page_size=rows)
    specs, _ = specs_with_detected_formats(column_specs(mappings), inspection)
    try:
        results = preview_transform(
            [column.get("original_name") or column["name"] for column in inspection["columns"]],
            specs,
            aliases=[column["name"] for column in inspection["columns"]],
            null_markers=inspection["null_markers"],
            rows=[(row["line"], row["fields"]) for row in page["rows"]],
        )
    except (MappingError, SourceError) as exc:
        raise ValidationError(str(exc)) from None
    return {"columns": [spec.destination_column for spec in specs], "rows": results}


def mappings_build(mappings: list[dict[str, Any]]) -> list[ColumnMapping]:
    """Unsaved ColumnMapping objects from mapping dicts (as the API takes them), their fields checked."""
    return _build_mappings(Job(), mappings)


# A PostgreSQL identifier is at most 63 bytes (NAMEDATALEN - 1); longer ones are cut, silently.
IDENTIFIER_MAX_BYTES = 63


def mapping_field_problems(data: dict[str, Any]) -> list[str]:
    """What the database would refuse in one mapping's fields: NUL characters, values too long.

    Each problem a sentence naming the column and the field, so a page can show it by its row.
    """
    column = data.get("destination_column") or data.get("expression") or data.get("source_column") or "?"
    column = column if isinstance(column, str) else "?"
    problems = []
    for field in MAPPING_FIELDS:
        value = data.get(field)
        label = ColumnMapping._meta.get_field(field).verbose_name
        if has_nul(value):
            problems.append(f"Column {column!r}: {nul_message(f'the {label}')}")
            continue
        if not isinstance(value, str):
            continue
        if field == "destination_type":
            try:
                value = parse_type(value).sql  # saved in its canonical spelling; unknown types are reported later
            except ValueError:
                continue
        if field == "destination_column" and len(value.encode()) > IDENTIFIER_MAX_BYTES:
            problems.append(
                f"Column {column!r}: the destination column is {len(value.encode())} bytes long; "
                f"PostgreSQL names are at most {IDENTIFIER_MAX_BYTES} bytes."
            )
            continue
        max_length = getattr(ColumnMapping._meta.get_field(field), "max_length", None)
        if max_length and len(value) > max_length:
            problems.append(f"Column {column!r}: the {label} is {len(value)} characters long; at most {max_length}.")
    return problems


def _build_mappings(job: Job, mappings: list[dict[str, Any]]) -> list[ColumnMapping]:
    built = []
    for position, data in enumerate(mappings, start=1):
        unknown = set(data) - set(MAPPING_FIELDS) - {"position"}
        if unknown:
            raise ValidationError({"mappings": [f"Unknown mapping field(s): {', '.join(sorted(unknown))}."]})
        problems = mapping_field_problems(data)
        if problems:
            raise ValidationError({"mappings": problems})
        values = {field: data[field] for field in MAPPING_FIELDS if field in data}
        for name, empty in (("transform_args", {}), ("true_words", []), ("false_words", []), ("format", "")):
            if name in values and values[name] is None:  # a blank admin field, or null in the API
                values[name] = empty
        column = values.get("destination_column") or f"#{position}"
        if not isinstance(values.get("transform_args", {}), dict):
            raise ValidationError(
                {"mappings": [f'Column {column!r}: transform_args is an object, e.g. {{"from": ",", "to": ""}}.']}
            )
        for name in ("true_words", "false_words"):
            words = values.get(name, [])
            if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
                raise ValidationError({"mappings": [f'Column {column!r}: {name} is a list of words, e.g. ["yes"].']})
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


@transaction.atomic
def job_duplicate(*, job: Job, owner) -> Job:
    """A copy of the job and its mappings, named "… (copy)", owned by `owner`."""
    fields = {name: getattr(job, name) for name in JOB_FIELDS}
    fields["name"] = f"{job.name} (copy)"[:200]
    mappings = [{name: getattr(m, name) for name in MAPPING_FIELDS} for m in job.mappings.order_by("position")]
    return job_create(owner=owner, mappings=mappings, **fields)


def job_delete(*, job: Job) -> None:
    """Delete a job and its run history, unless a run of it is queued or running."""
    active = job_active_run_id(job)
    if active is not None:
        raise ValidationError(f"Job {job.name!r} has a run in progress (run {active}); wait for it to finish first.")
    from jobs.pipelines import pipelines_using

    used = pipelines_using(job)
    if used:
        raise ValidationError(f"Job {job.name!r} is a step of pipeline(s) {', '.join(used)}; remove those steps first.")
    job.delete()


OPTION_LABELS = {"null_markers": "A null marker", "column_types": "A column type", "encoding": "The encoding"}

# Files up to this size are confirmed in full while the user waits; larger ones by the worker.
SYNC_CONFIRM_BYTES = 16 * 1024 * 1024
PREVIEW_MAX_PAGE_SIZE = 500
PREVIEW_WITHOUT_INDEX = 10_000  # rows a preview may read from the start before the file is indexed


def _inspect_options(data: dict) -> dict:
    """Validate the user's overrides; ValidationError names the bad one."""
    import codecs

    from jobs.inspection.scan import InspectOptions

    if not isinstance(data, dict):
        raise ValidationError("Inspection options are a JSON object.")
    unknown = sorted(set(data) - set(InspectOptions.__dataclass_fields__))
    if unknown:
        raise ValidationError({"options": [f"Unknown option(s): {', '.join(unknown)}."]})
    errors: dict[str, list[str]] = {}
    for name in ("encoding", "delimiter", "quotechar", "escapechar"):
        if data.get(name) is not None and not isinstance(data[name], str):
            errors[name] = ["A string."]
    for name, value in data.items():
        if has_nul(value):
            errors[name] = [nul_message(OPTION_LABELS.get(name, name))]
    if data.get("skipinitialspace") is not None and not isinstance(data["skipinitialspace"], bool):
        errors["skipinitialspace"] = ["true, false, or null to detect it."]
    if data.get("header") is not None and not isinstance(data["header"], bool):
        errors["header"] = ["true, false, or null to detect it."]
    markers = data.get("null_markers")
    if markers is not None and not (isinstance(markers, list) and all(isinstance(m, str) for m in markers)):
        errors["null_markers"] = ['A list of strings, e.g. ["", "NULL", "NA"].']
    if data.get("column_types") is not None and not isinstance(data["column_types"], dict):
        errors["column_types"] = ["An object of column name: type."]
    if errors:
        raise ValidationError(errors)
    options = InspectOptions.from_json({key: value for key, value in data.items() if value is not None})
    if options.encoding:
        try:
            usable = codecs.lookup(options.encoding)._is_text_encoding and options.encoding.lower() not in {
                "idna",
                "punycode",
            }
        except LookupError:
            usable = False
        if not usable:
            errors["encoding"] = [f"Unknown encoding {options.encoding!r}; e.g. utf-8, cp1252, latin-1, utf-16."]
    if options.delimiter and len(options.delimiter) != 1 and options.delimiter not in ("\\t", "tab"):
        errors["delimiter"] = ["A delimiter is one character (or \\t for tab)."]
    for name in ("quotechar", "escapechar"):
        value = getattr(options, name)
        if value is not None and len(value) > 1:
            errors[name] = ["One character, or empty for none."]
    for column, type_name in options.column_types.items():
        try:
            parse_type(str(type_name))
        except ValueError as exc:
            errors.setdefault("column_types", []).append(f"{column}: {exc}")
    if errors:
        raise ValidationError(errors)
    return options.to_json()


def upload_inspect(*, upload: Upload, options: dict | None = None) -> dict:
    """Inspect an upload (again), with the user's overrides when given, and store the result.

    Small files are confirmed on every row right away; larger ones get the sample-based
    result now and a full confirmation pass queued on the worker.
    """
    from jobs.inspection.scan import InspectOptions, confirm, inspect_sample

    if options is not None:
        upload.inspection_options = _inspect_options(options)
    inspect_options = InspectOptions.from_json(upload.inspection_options)
    row_index = None
    with upload.file.storage.open(upload.file.name, "rb") as stream:
        inspection = inspect_sample(stream, size=upload.size, options=inspect_options)
        needs_full_pass = bool(inspection.get("columns")) and not inspection.get("confirmed")
        if needs_full_pass and upload.size <= SYNC_CONFIRM_BYTES:
            inspection, row_index = confirm(stream, inspection=inspection, options=inspect_options)
            needs_full_pass = False
    upload.inspection = inspection
    upload.row_index = row_index
    upload.scan_status = ScanStatus.QUEUED if needs_full_pass else ScanStatus.DONE
    upload.scan_progress = 0.0 if needs_full_pass else 1.0
    upload.scan_token = uuid.uuid4().hex
    upload.save(
        update_fields=["inspection", "inspection_options", "row_index", "scan_status", "scan_progress", "scan_token"]
    )
    if needs_full_pass:
        from jobs.tasks import confirm_upload

        token = upload.scan_token
        transaction.on_commit(lambda: confirm_upload.delay(upload.pk, token))
    return inspection


def upload_confirm(*, upload_id: int, token: str) -> None:
    """The worker's full pass over a large upload (claimed once; a duplicate delivery does nothing).

    `token` names the inspection it confirms: if the user re-inspected since, nothing is written.
    """
    from jobs.inspection.scan import InspectOptions, confirm

    mine = Upload.objects.filter(pk=upload_id, scan_token=token)
    if not mine.filter(scan_status=ScanStatus.QUEUED).update(scan_status=ScanStatus.RUNNING):
        return
    upload = Upload.objects.get(pk=upload_id)

    def on_progress(rows: int, offset: int) -> None:
        mine.update(scan_progress=min(offset / max(upload.size, 1), 0.99))

    try:
        with upload.file.storage.open(upload.file.name, "rb") as stream:
            inspection, row_index = confirm(
                stream,
                inspection=upload.inspection,
                options=InspectOptions.from_json(upload.inspection_options),
                on_progress=on_progress,
            )
    except Exception:
        mine.update(scan_status=ScanStatus.FAILED)
        raise
    mine.filter(scan_status=ScanStatus.RUNNING).update(
        inspection=inspection, row_index=row_index, scan_status=ScanStatus.DONE, scan_progress=1.0
    )


def upload_preview(*, upload: Upload, page: int = 1, page_size: int = 50) -> dict:
    """One page of data rows (1-based pages), read from the file by seeking near it.

    A problem in the file ends the page early: the rows before it, and `problem` (line, reason).
    """
    from jobs.inspection.records import RowIndex, read_page_until_problem
    from jobs.inspection.scan import reader_options

    if page < 1 or not 1 <= page_size <= PREVIEW_MAX_PAGE_SIZE:
        raise ValidationError(f"page is 1 or more; page_size is between 1 and {PREVIEW_MAX_PAGE_SIZE}.")
    inspection = upload.inspection or upload_inspect(upload=upload)
    if "columns" not in inspection:
        return {"page": page, "page_size": page_size, "rows": [], "row_count": 0, "has_next": False}
    first = (page - 1) * page_size
    row_count = inspection.get("row_count")
    if row_count is not None and first >= row_count:
        return {"page": page, "page_size": page_size, "rows": [], "row_count": row_count, "has_next": False}
    if upload.row_index is None and first + page_size > PREVIEW_WITHOUT_INDEX:
        # Until the full pass has indexed the file, a far page would mean reading up to it here.
        raise ValidationError(
            f"Rows past {PREVIEW_WITHOUT_INDEX:,} can be previewed once the full pass over the file is done "
            f"(now {upload.get_scan_status_display().lower() or 'not started'}, {upload.scan_progress:.0%})."
        )
    index = RowIndex.from_json(upload.row_index) if upload.row_index else None
    with upload.file.storage.open(upload.file.name, "rb") as stream:
        records, problem = read_page_until_problem(
            stream,
            index=index,
            first_record=first,
            count=page_size + 1,
            header=inspection["header"],
            **reader_options(inspection),
        )
    result = {
        "page": page,
        "page_size": page_size,
        "rows": [{"line": r.line, "fields": r.fields} for r in records[:page_size]],
        "row_count": row_count,
        "has_next": len(records) > page_size,
    }
    if problem is not None:  # the rows before it, and where the file cannot be read further
        result["problem"] = {"line": problem.line, "reason": problem.reason}
    return result


def scan_stall_timeout() -> int:
    return settings.SCAN_STALL_TIMEOUT


def scans_reap_stalled(*, timeout_seconds: int | None = None, now: datetime | None = None) -> int:
    """Fail every full pass (scan) that made no progress for longer than the timeout; return how many.

    The Upload model has no timestamp for the pass, and this needs none: each call notes in
    the upload's inspection (under SCAN_WATCH) the pass's status and progress and since when
    they are so, and its own observations are the clock. A new inspection starts without the
    note, and the confirmed one drops it. A later call that finds them unchanged after the
    timeout acts:

    - RUNNING: the worker died mid-pass (a redelivered message finds the pass already claimed
      and does nothing, so it would stay RUNNING forever): FAILED, with a problem saying why.
    - QUEUED: the message may be lost (a broker restarted without persistence) or every worker
      busy: it is sent once more (a pass is claimed once, so a duplicate does nothing); still
      not started another timeout later, FAILED.

    Every write is conditional on the pass being still in the state observed (same token,
    status and progress), so a pass that moves on, or a new inspection, is never overwritten;
    and a reaped pass whose worker comes back writes nothing (it finishes only from RUNNING).
    """
    timeout = timeout_seconds if timeout_seconds is not None else scan_stall_timeout()
    now = now or timezone.now()
    reaped = 0
    active = Upload.objects.filter(scan_status__in=[ScanStatus.QUEUED, ScanStatus.RUNNING]).values_list(
        "pk", "scan_token", "scan_status", "scan_progress", "inspection"
    )
    for upload_id, token, status, progress, inspection in active:
        inspection = inspection or {}
        observed = Upload.objects.filter(pk=upload_id, scan_token=token, scan_status=status, scan_progress=progress)
        watch = inspection.get(SCAN_WATCH) or {}
        if (watch.get("status"), watch.get("progress")) != (status, progress) or "since" not in watch:
            # First seen in this state: start the clock.
            watch = {"status": status, "progress": progress, "since": now.isoformat()}
            observed.update(inspection={**inspection, SCAN_WATCH: watch})
            continue
        if now - datetime.fromisoformat(watch["since"]) <= timedelta(seconds=timeout):
            continue
        if status == ScanStatus.QUEUED and not watch.get("sent_again"):
            # Whoever restarts the clock sends the message: two reapers never both send.
            watch = {**watch, "since": now.isoformat(), "sent_again": True}
            if observed.update(inspection={**inspection, SCAN_WATCH: watch}):
                logger.warning("full pass of upload %s not started within %s s; queued again", upload_id, timeout)
                from jobs.tasks import confirm_upload

                transaction.on_commit(lambda upload_id=upload_id, token=token: confirm_upload.delay(upload_id, token))
            continue
        if status == ScanStatus.QUEUED:
            reason = (
                f"the full pass over the file was never started: no worker took it within {2 * timeout} s "
                "(the broker lost it, or every worker is busy), so the types, counts and problems shown are from "
                "the start of the file only: inspect again to run it again"
            )
        else:
            reason = (
                f"the full pass over the file stopped at {progress:.0%}: no progress for more than {timeout} s "
                "(its worker was lost), so the types, counts and problems shown are from the start of the file "
                "only: inspect again to run it again"
            )
        if scan_record_failure(upload_id=upload_id, token=token, status=status, reason=reason, progress=progress):
            logger.warning("full pass of upload %s failed: %s", upload_id, reason)
            reaped += 1
    return reaped


def scan_record_failure(*, upload_id: int, token: str, status: str, reason: str, progress: float | None = None) -> bool:
    """Mark the pass FAILED (from `status`, for this token) with `reason` as the inspection's first problem.

    A warning: the file is not at fault, and the inspection of the start of the file still
    stands. False when the pass had moved on (finished, re-inspected, progressed).
    """
    current = Upload.objects.filter(pk=upload_id, scan_token=token, scan_status=status)
    if progress is not None:
        current = current.filter(scan_progress=progress)
    found = list(current.values_list("inspection", flat=True))
    if not found:
        return False
    inspection = {key: value for key, value in (found[0] or {}).items() if key != SCAN_WATCH}
    problem = {"line": None, "reason": reason, "severity": "warning"}
    inspection["problems"] = [problem, *inspection.get("problems", [])]
    return bool(current.update(scan_status=ScanStatus.FAILED, inspection=inspection))
