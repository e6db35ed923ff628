"""The "New load" wizard: a draft's answers, step by step, and the job they make.

Every wizard page calls these functions and holds no logic of its own. A draft (WizardDraft) is
created by uploading a file; each step stores its answers in `draft.data`, checked as they are
given; the review step builds a hidden trial job from them (dry runs need a job), and saving
turns that into a job, or copies the answers onto the job being edited.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from credentials.models import Credential
from credentials.services import credential_params, credential_table_columns
from etlportal.validators import has_nul, nul_message, reject_nul
from jobs.coltypes import DATE_TYPES, parse_type
from jobs.inspection.header import normalize_names
from jobs.inspection.scan import SAMPLE_BYTES
from jobs.models import Job, LoadStrategy, Upload, WizardDraft
from jobs.services import (
    MAPPING_FIELDS,
    column_specs,
    job_create,
    job_update,
    mappings_build,
    source_names_of,
    upload_copy,
    upload_inspect,
    upload_store,
)
from jobs.transform import validate_columns

STEPS = ("file", "destination", "mapping", "strategy", "review")
STEP_TITLES = {
    "file": "File",
    "destination": "Destination",
    "mapping": "Mapping",
    "strategy": "Strategy",
    "review": "Review",
}


# -- starting ---------------------------------------------------------------------------------
@transaction.atomic
def draft_start(*, owner, file) -> WizardDraft:
    """Store the uploaded file, inspect it, and open a draft on it."""
    upload = upload_store(file=file, user=owner)
    upload_inspect(upload=upload)
    return WizardDraft.objects.create(owner=owner, upload=upload)


def draft_for_job(*, job: Job, owner) -> WizardDraft:
    """A draft holding a job's settings, to change them through the wizard's steps."""
    if job.source_id is None:
        raise ValidationError(f"Job {job.name!r} has no source file: start a new load with the file instead.")
    mappings = [
        {field: getattr(mapping, field) for field in MAPPING_FIELDS} for mapping in job.mappings.order_by("position")
    ]
    # The table as it is now, as the destination step reads it: its columns guide the mapping,
    # and an existing table is not shown as one to create.
    columns = credential_table_columns(credential=job.destination, schema=job.schema, table=job.table)
    data = {
        "name": job.name,
        "destination": job.destination_id,
        "schema": job.schema,
        "table": job.table,
        "create_table": job.create_table,
        "table_columns": None if columns is None else [[c.name, c.sql_type, c.nullable] for c in columns],
        "mappings": mappings,
        "mapped_file_columns": _file_columns(job.source),
        "load_strategy": job.load_strategy,
        "upsert_keys": list(job.upsert_keys),
        "max_rejected_rows": job.max_rejected_rows,
        "max_rejected_ratio": job.max_rejected_ratio,
    }
    return WizardDraft.objects.create(owner=owner, upload=job.source, job=job, data=data)


def _file_columns(upload: Upload) -> list[str]:
    """The file's column names as inspected: mappings made for other names need a review."""
    return [column["name"] for column in (upload.inspection or {}).get("columns", [])]


def draft_inspect(*, draft: WizardDraft, options: dict) -> dict:
    """Inspect the draft's file again with the user's overrides.

    A draft editing a job first gets its own copy of the Upload: the job (and every run of it
    until the draft is saved) keeps reading the file with the options it was saved with.
    """
    if draft.job is not None and draft.upload.jobs.filter(is_draft=False).exists():
        draft.upload = upload_copy(upload=draft.upload)
        draft.save(update_fields=["upload", "updated_at"])
    inspection = upload_inspect(upload=draft.upload, options=options)
    _forget_dry_run(draft)
    return inspection


# -- where the user is ------------------------------------------------------------------------
def draft_steps_done(draft: WizardDraft) -> set[str]:
    """Steps whose answers are in: a step's page may be opened once the steps before it are done."""
    done = set()
    inspection = draft.upload.inspection or {}
    if inspection.get("loadable") and inspection.get("columns"):
        done.add("file")
    data = draft.data
    if data.get("destination") and data.get("table") and draft_destination(draft) is not None:
        done.add("destination")
    if data.get("mappings") and data.get("mapped_file_columns", _file_columns(draft.upload)) == _file_columns(
        draft.upload
    ):
        done.add("mapping")
    if data.get("load_strategy"):
        done.add("strategy")
    return done


def draft_unfinished(draft: WizardDraft) -> tuple[str, str] | None:
    """The first step before the review whose answers are missing, and what to do there; None if none."""
    done = draft_steps_done(draft)
    for step in STEPS[:-1]:
        if step in done:
            continue
        title = STEP_TITLES[step]
        if step == "file":
            return step, f"Complete the {title} step first: the file cannot be loaded as it is."
        if step == "destination" and draft.data.get("destination") and draft.data.get("table"):
            return step, f"The destination was deleted, or is not yours: choose one on the {title} step."
        if step == "mapping" and draft.data.get("mappings"):
            return step, f"The file's columns changed since the mappings were made: review them on the {title} step."
        what = {"destination": "choose where the rows go", "mapping": "map the columns", "strategy": "choose how"}
        return step, f"Complete the {title} step first: {what[step]}."
    return None


def draft_require_complete(draft: WizardDraft) -> None:
    """A ValidationError saying which step to complete, unless every step before the review is done."""
    unfinished = draft_unfinished(draft)
    if unfinished is not None:
        raise ValidationError(unfinished[1])


def draft_first_open_step(draft: WizardDraft) -> str:
    done = draft_steps_done(draft)
    for step in STEPS:
        if step not in done:
            return step
    return "review"


def draft_may_open(draft: WizardDraft, step: str) -> bool:
    done = draft_steps_done(draft)
    return all(earlier in done for earlier in STEPS[: STEPS.index(step)])


def draft_destination(draft: WizardDraft) -> Credential | None:
    pk = draft.data.get("destination")
    if not pk:
        return None
    return Credential.objects.visible_to(draft.owner).filter(pk=pk).first()


def _save_answers(draft: WizardDraft, data: dict[str, Any]) -> None:
    """Store a step's answers; when they changed, the dry run of the previous ones no longer counts."""
    if {k: v for k, v in data.items() if k != "dry_run"} != {k: v for k, v in draft.data.items() if k != "dry_run"}:
        data = {key: value for key, value in data.items() if key != "dry_run"}
    draft.data = data
    draft.save(update_fields=["data", "updated_at"])


def _forget_dry_run(draft: WizardDraft) -> None:
    """The answers changed: a dry run of the previous ones says nothing about these."""
    if draft.data.get("dry_run") is not None:
        draft.data = {key: value for key, value in draft.data.items() if key != "dry_run"}
        draft.save(update_fields=["data", "updated_at"])


# -- step 2: destination ----------------------------------------------------------------------
def draft_set_destination(
    *, draft: WizardDraft, destination: Credential, schema: str, table: str, create_table: bool
) -> WizardDraft:
    """Where the rows go. An existing table is read (its columns guide the mapping); a missing one
    needs create_table. Changing the table drops the mappings made for the previous one."""
    schema, table = schema.strip(), table.strip()
    errors: dict[str, list[str]] = {}
    for field, value in (("schema", schema), ("table", table)):
        if has_nul(value):
            errors[field] = [nul_message(f"The {field}")]
        elif not value:
            errors[field] = ["Required."]
        elif len(value.encode()) > 63:
            errors[field] = [f"{value!r} is longer than the 63-byte limit for identifiers."]
    if errors:
        raise ValidationError(errors)
    columns = credential_table_columns(credential=destination, schema=schema, table=table)
    if columns is None and not create_table:
        missing = f"{schema}.{table} does not exist in {destination.name}"
        raise ValidationError({"table": [f"{missing}: tick “Create the table”, or pick another table."]})
    data = dict(draft.data)
    same_table = (data.get("destination"), data.get("schema"), data.get("table")) == (destination.pk, schema, table)
    data.update(
        destination=destination.pk,
        schema=schema,
        table=table,
        create_table=bool(create_table),
        table_columns=None if columns is None else [[c.name, c.sql_type, c.nullable] for c in columns],
    )
    if not same_table:
        data.pop("mappings", None)
        data.pop("upsert_keys", None)
    _save_answers(draft, data)
    return draft


# -- step 3: mapping --------------------------------------------------------------------------
def _detected_format(column: dict, type_sql: str) -> str:
    """The day/month format inspection found, for a date mapping (ISO needs none)."""
    try:
        name = parse_type(type_sql).name
    except ValueError:
        return ""
    detected = column.get("format", "")
    if name in DATE_TYPES and column.get("type") in DATE_TYPES and detected and not detected.startswith("%Y-%m-%d"):
        return detected
    return ""


def _our_type(table_type: str, inferred: str) -> str:
    """A table column's type in the mapping's vocabulary: the table's own when it parses, else the file's."""
    for candidate in (table_type, table_type.replace(" without time zone", ""), inferred):
        try:
            return parse_type(candidate).sql
        except ValueError:
            continue
    return "text"


ROOMY_PRECISION = 18


def _roomy(type_sql: str) -> str:
    """A new table's type for a column, with room for the next file: inspection gives the narrowest
    type this file's values fit (ids 1 to 4 are smallint, 10.50 is numeric(4,2)), a trap for a table
    that outlives it. Integers start at integer, decimals at 18 digits; the user can narrow them."""
    try:
        parsed = parse_type(type_sql)
    except ValueError:
        return type_sql
    if parsed.name == "smallint":
        return "integer"
    if parsed.name == "numeric" and parsed.params:
        precision, scale = parsed.params[0], parsed.params[1] if len(parsed.params) > 1 else 0
        if precision < ROOMY_PRECISION:
            return f"numeric({max(ROOMY_PRECISION, scale + 1)},{scale})"
    return parsed.sql


def draft_proposed_mappings(draft: WizardDraft) -> list[dict[str, Any]]:
    """Mappings to start from. Into an existing table: each table column matched to the file column
    of the same normalized name, with the table's type. Into a new table: every file column, with
    the type inspection found, given room to grow (_roomy)."""
    inspection = draft.upload.inspection or {}
    file_columns = inspection.get("columns", [])
    table_columns = draft.data.get("table_columns")
    proposals = []
    if table_columns is None:
        for column in file_columns:
            type_sql = _roomy(column.get("type") or "text")
            proposals.append(
                {
                    "source_column": column.get("original_name") or column["name"],
                    "destination_column": column["name"],
                    "destination_type": type_sql,
                    "format": _detected_format(column, type_sql),
                    "nullable": True,
                }
            )
        return proposals
    by_name = {}
    for column in file_columns:
        by_name.setdefault(column["name"], column)
        by_name.setdefault((column.get("original_name") or "").strip().lower(), column)
    for name, table_type, nullable in table_columns:
        normalized = normalize_names([name])[0]
        column = by_name.get(normalized) or by_name.get(name.strip().lower())
        if column is None:
            continue
        type_sql = _our_type(table_type, column.get("type") or "text")
        proposals.append(
            {
                "source_column": column.get("original_name") or column["name"],
                "destination_column": name,
                "destination_type": type_sql,
                "format": _detected_format(column, type_sql),
                "nullable": bool(nullable),
            }
        )
    return proposals


def draft_mappings(draft: WizardDraft) -> list[dict[str, Any]]:
    """The draft's mappings, or the proposed ones until the user saved some."""
    return draft.data.get("mappings") or draft_proposed_mappings(draft)


def draft_check_mappings(draft: WizardDraft, mappings: list[dict[str, Any]]) -> list[str]:
    """Problems with these mappings (one sentence each), as saving the job would find them."""
    try:
        built = mappings_build(mappings)
    except ValidationError as exc:
        return [message for messages in exc.message_dict.values() for message in messages]
    problems = validate_columns(column_specs(built), source_names=source_names_of(draft.upload))
    return [problem[:1].upper() + problem[1:] + "." for problem in problems]


def draft_set_mappings(*, draft: WizardDraft, mappings: list[dict[str, Any]]) -> WizardDraft:
    if not mappings:
        raise ValidationError({"mappings": ["Map at least one column."]})
    problems = draft_check_mappings(draft, mappings)
    if problems:
        raise ValidationError({"mappings": problems})
    data = dict(draft.data, mappings=mappings, mapped_file_columns=_file_columns(draft.upload))
    destinations = {m["destination_column"] for m in mappings}
    data["upsert_keys"] = [key for key in data.get("upsert_keys", []) if key in destinations]
    _save_answers(draft, data)
    return draft


# -- step 4: strategy -------------------------------------------------------------------------
def draft_set_strategy(
    *,
    draft: WizardDraft,
    load_strategy: str,
    upsert_keys: list[str],
    max_rejected_rows: int | None,
    max_rejected_ratio: float | None,
) -> WizardDraft:
    errors: dict[str, list[str]] = {}
    if load_strategy not in LoadStrategy.values:
        errors["load_strategy"] = ["Choose INSERT, UPSERT or TRUNCATE_INSERT."]
    mapped = [m["destination_column"] for m in draft.data.get("mappings", [])]
    keys = [key for key in upsert_keys if key] if load_strategy == LoadStrategy.UPSERT else []
    if load_strategy == LoadStrategy.UPSERT and not keys:
        errors["upsert_keys"] = ["An UPSERT needs its key columns: the columns that identify a row."]
    unknown = [key for key in keys if key not in mapped]
    if unknown:
        errors["upsert_keys"] = [f"Not a mapped column: {', '.join(unknown)}."]
    if max_rejected_rows is not None and max_rejected_rows < 0:
        errors["max_rejected_rows"] = ["A number of rows, 0 or more."]
    if max_rejected_ratio is not None and not 0 <= max_rejected_ratio <= 1:
        # The page asks for a percentage (the ratio is it over 100): say it in its terms.
        errors["max_rejected_ratio"] = ["Most rejected share: a percentage of the rows read, from 0 to 100."]
    if errors:
        raise ValidationError(errors)
    data = dict(
        draft.data,
        load_strategy=load_strategy,
        upsert_keys=keys,
        max_rejected_rows=max_rejected_rows,
        max_rejected_ratio=max_rejected_ratio,
    )
    _save_answers(draft, data)
    return draft


# -- step 5: review ---------------------------------------------------------------------------
def _job_fields(draft: WizardDraft) -> dict[str, Any]:
    data = draft.data
    return {
        "name": data.get("name") or default_job_name(draft),
        "source": draft.upload,
        "destination": draft_destination(draft),
        "schema": data["schema"],
        "table": data["table"],
        "create_table": data.get("create_table", False),
        "load_strategy": data["load_strategy"],
        "upsert_keys": data.get("upsert_keys", []),
        "max_rejected_rows": data.get("max_rejected_rows"),
        "max_rejected_ratio": data.get("max_rejected_ratio"),
    }


def default_job_name(draft: WizardDraft) -> str:
    data = draft.data
    return f"{draft.upload.original_name} → {data.get('schema', '')}.{data.get('table', '')}"[:200]


@transaction.atomic
def draft_trial_job(*, draft: WizardDraft) -> Job:
    """The hidden job the review step dry-runs: the draft's answers, checked as a job is when saved."""
    draft_require_complete(draft)
    fields = _job_fields(draft)
    if fields["destination"] is None:
        raise ValidationError("Choose a destination first.")
    mappings = draft.data.get("mappings", [])
    if draft.trial_job is not None:
        return job_update(job=draft.trial_job, mappings=mappings, **fields)
    job = job_create(owner=draft.owner, mappings=mappings, **fields)
    job.is_draft = True
    job.save(update_fields=["is_draft"])
    draft.trial_job = job
    draft.save(update_fields=["trial_job", "updated_at"])
    return job


def draft_dry_run(*, draft: WizardDraft, user):
    """Dry-run the draft's answers on the worker (through its trial job); the review shows this run
    until an answer changes."""
    from runs.services import run_create

    run = run_create(job=draft_trial_job(draft=draft), user=user, dry_run=True)
    draft.data = dict(draft.data, dry_run=run.pk)
    draft.save(update_fields=["data", "updated_at"])
    return run


def draft_current_dry_run(draft: WizardDraft):
    """The dry run of the draft's answers as they are now, if one was started since they last changed."""
    if draft.trial_job_id is None or draft.data.get("dry_run") is None:
        return None
    return draft.trial_job.runs.filter(pk=draft.data["dry_run"], dry_run=True).first()


def estimated_rows(upload: Upload) -> tuple[int | None, bool]:
    """(rows, exact): the count of the full pass, or an estimate: the file's data bytes over the
    average size of the rows sampled (the sample is the first 2,000 rows, often far less than a MiB)."""
    inspection = upload.inspection or {}
    if inspection.get("confirmed") and inspection.get("row_count") is not None:
        return inspection["row_count"], True
    sampled = inspection.get("sampled_rows")
    if not sampled:
        return None, False
    if inspection.get("sampled_bytes"):
        data_bytes = upload.size - inspection.get("data_offset", 0)
        return round(sampled * data_bytes / inspection["sampled_bytes"]), False
    return round(sampled * upload.size / min(upload.size, SAMPLE_BYTES)), False  # inspected before sampled_bytes


def draft_plan(draft: WizardDraft) -> dict[str, Any]:
    """What saving and running would do, in words and SQL: the table, the DDL, the rows."""
    from credentials.connectors import LoadPlan, TargetColumn, get_connector

    data = draft.data
    mappings = data.get("mappings", [])
    target = f"{data['schema']}.{data['table']}"
    creates = data.get("table_columns") is None
    rows, exact = estimated_rows(draft.upload)
    count = "an unknown number of" if rows is None else f"{rows:,}" if exact else f"~{rows:,}"
    verb = {
        LoadStrategy.INSERT: f"insert {count} rows into {target}",
        LoadStrategy.UPSERT: f"upsert {count} rows into {target} on ({', '.join(data.get('upsert_keys', []))})",
        LoadStrategy.TRUNCATE_INSERT: f"replace every row of {target} with {count} rows",
    }[data["load_strategy"]]
    sentence = (f"Create table {target} with {len(mappings)} columns; " if creates else "") + verb
    ddl = ""
    destination = draft_destination(draft)
    if creates and destination is not None:
        columns = []
        for mapping in mappings:
            try:
                sql_type = parse_type(mapping.get("destination_type") or "text").sql
            except ValueError:
                sql_type = "text"
            columns.append(TargetColumn(mapping["destination_column"], sql_type, mapping.get("nullable", True)))
        plan = LoadPlan(
            data["schema"],
            data["table"],
            columns,
            data["load_strategy"],
            create_table=True,
            key_columns=tuple(data.get("upsert_keys", [])),
        )
        connector = get_connector(credential_params(destination))
        ddl = connector.ddl(plan)
    return {"sentence": sentence[:1].upper() + sentence[1:] + ".", "ddl": ddl, "creates": creates, "target": target}


@transaction.atomic
def draft_save(*, draft: WizardDraft, name: str = "") -> Job:
    """Make the draft a job (or update the job it edits); the draft is gone afterwards."""
    draft_require_complete(draft)
    name = name.strip()
    reject_nul("name", "The job name", name)
    if name:
        draft.data = dict(draft.data, name=name)
    if draft.job is not None:
        fields = _job_fields(draft)  # the source too: the draft's own copy when its options changed
        job = job_update(job=draft.job, mappings=draft.data.get("mappings", []), **fields)
        # Its trial job goes with the draft (jobs.signals), unless a dry run of it is still going.
    else:
        job = draft_trial_job(draft=draft)
        job.is_draft = False
        job.save(update_fields=["is_draft", "updated_at"])
    draft.delete()
    return job


# -- trial jobs -------------------------------------------------------------------------------
def trial_jobs_delete(jobs) -> list[str]:
    """Delete the trial jobs (is_draft) among `jobs`, but those with a dry run queued or running
    (deleting them would delete the run under its worker): their names are returned."""
    from runs.models import RunStatus

    trial = jobs.filter(is_draft=True)
    busy = trial.filter(runs__status__in=[RunStatus.PENDING, RunStatus.RUNNING]).distinct()
    names = sorted(busy.values_list("name", flat=True))
    Job.objects.filter(pk__in=trial.exclude(pk__in=busy.values("pk")).values("pk")).delete()
    return names


def trial_jobs_cleanup() -> int:
    """Delete the trial jobs no draft holds any more (a draft saved or deleted during a dry run)."""
    held = WizardDraft.objects.filter(trial_job__isnull=False).values("trial_job")
    orphans = Job.objects.filter(is_draft=True).exclude(pk__in=held)
    before = orphans.count()
    trial_jobs_delete(orphans)
    return before - orphans.count()
