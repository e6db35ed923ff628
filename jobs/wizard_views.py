"""The "New load" wizard's pages: one URL per step, the answers kept in a WizardDraft.

Views only read the request, call jobs.drafts (and the other apps' services) and render.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from credentials.forms import CredentialForm
from credentials.models import Credential
from credentials.selectors import get_credential_for_user
from credentials.services import credential_browse, credential_create, credential_test
from etlportal.pages import errors_of, found, go, render_page
from jobs import drafts
from jobs.coltypes import DATE_TYPES
from jobs.drafts import STEP_TITLES, STEPS
from jobs.models import LoadStrategy, ScanStatus, Transform, WizardDraft
from jobs.selectors import get_draft_for_user
from jobs.services import (
    UploadTooLarge,
    human_bytes,
    mapping_field_problems,
    mappings_build,
    mappings_preview,
    upload_check_length,
    upload_preview,
)
from runs.models import JobRun
from runs.services import run_create

PREVIEW_PAGE_SIZE = 20
TYPE_CHOICES = [
    "text",
    "boolean",
    "smallint",
    "integer",
    "bigint",
    "numeric(12,2)",
    "double precision",
    "date",
    "timestamp",
    "timestamptz",
    "uuid",
    "jsonb",
]


def _steps(draft: WizardDraft, current: str) -> list[dict[str, Any]]:
    done = drafts.draft_steps_done(draft)
    return [
        {
            "slug": step,
            "title": STEP_TITLES[step],
            "current": step == current,
            "done": step in done,
            "open": drafts.draft_may_open(draft, step),
        }
        for step in STEPS
    ]


def _context(draft: WizardDraft, step: str, **extra) -> dict[str, Any]:
    return {"draft": draft, "step": step, "steps": _steps(draft, step), "upload": draft.upload, **extra}


def _draft(request: HttpRequest, pk: int) -> WizardDraft:
    return found(get_draft_for_user(request.user, pk))


# -- step 1: upload ---------------------------------------------------------------------------
@csrf_exempt  # checked by _upload below, once the size is known to be allowed
@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        # Refuse an oversized body from its Content-Length before a byte of it is received: the
        # CSRF check reads the whole form, so it comes after this one.
        try:
            upload_check_length(request.META.get("CONTENT_LENGTH"))
        except UploadTooLarge as exc:
            return _upload_page(request, exc.messages[0], 413)
    return _upload(request)


@csrf_protect
def _upload(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _upload_page(request)
    if "file" not in request.FILES:
        return _upload_page(request, "Choose a CSV file to upload.", 400)
    try:
        draft = drafts.draft_start(owner=request.user, file=request.FILES["file"])
    except UploadTooLarge as exc:  # no Content-Length (chunked): measured while storing
        return _upload_page(request, exc.messages[0], 413)
    return go(request, "wizard-step", pk=draft.pk, step="file")


def _upload_page(request: HttpRequest, error: str = "", status: int = 200) -> HttpResponse:
    recent = WizardDraft.objects.visible_to(request.user).filter(owner=request.user, job=None)[:5]
    context = {
        "max_bytes": settings.UPLOAD_MAX_BYTES,
        "max_human": human_bytes(settings.UPLOAD_MAX_BYTES),
        "error": error,
        "recent": recent,
    }
    return render_page(
        request, "jobs/wizard/upload.html", context, fragment="jobs/wizard/_upload_form.html", status=status
    )


# -- the steps --------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def step(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    draft = _draft(request, pk)
    if step not in STEPS:
        raise Http404("No such step.")
    if not drafts.draft_may_open(draft, step):
        unfinished = drafts.draft_unfinished(draft)
        messages.info(request, unfinished[1] if unfinished else "Finish this step first.")
        return go(request, "wizard-step", pk=draft.pk, step=drafts.draft_first_open_step(draft))
    return {
        "file": _file_step,
        "destination": _destination_step,
        "mapping": _mapping_step,
        "strategy": _strategy_step,
        "review": _review_step,
    }[step](request, draft)


# -- step 1b: what is in the file ---------------------------------------------------------------
def _file_options(post, previous: dict[str, Any]) -> dict[str, Any]:
    """The override form as InspectOptions JSON: a blank field means "detect it".

    The null markers are an override only once the user changed them (or had before): the form
    always shows the detected ones, and posting them back unchanged must not freeze them."""
    options: dict[str, Any] = {}
    if post.get("encoding", "").strip():
        options["encoding"] = post["encoding"].strip()
    if post.get("delimiter", ""):
        options["delimiter"] = {"tab": "\t", "\\t": "\t"}.get(post["delimiter"], post["delimiter"])
    if post.get("quotechar") not in (None, "auto"):
        options["quotechar"] = "" if post["quotechar"] == "none" else post["quotechar"]
    if post.get("header") in ("yes", "no"):
        options["header"] = post["header"] == "yes"
    if post.get("null_markers_set") == "1":
        markers = [line.rstrip("\r") for line in post.get("null_markers", "").split("\n") if line.rstrip("\r")]
        if post.get("empty_is_null"):
            markers.insert(0, "")
        try:
            shown = json.loads(post.get("null_markers_shown") or "null")
        except ValueError:
            shown = None
        if "null_markers" in previous or not isinstance(shown, list) or set(markers) != set(shown):
            options["null_markers"] = markers
    column_types = {}
    for key, value in post.items():
        if key.startswith("type-") and value:
            column_types[key[len("type-") :]] = value
    if column_types:
        options["column_types"] = column_types
    return options


def _preview_context(draft: WizardDraft, page: int) -> dict[str, Any]:
    inspection = draft.upload.inspection or {}
    columns = inspection.get("columns", [])
    try:
        preview = upload_preview(upload=draft.upload, page=page, page_size=PREVIEW_PAGE_SIZE)
    except ValidationError as exc:
        return {"preview_error": " ".join(exc.messages), "columns": columns}
    conflicts = {(c["line"], c["value"], index) for index, column in enumerate(columns) for c in column["conflicts"]}
    markers = set(inspection.get("null_markers") or [])
    rows = []
    for row in preview["rows"]:
        cells = []
        for index, value in enumerate(row["fields"]):
            state = "conflict" if (row["line"], value, index) in conflicts else "null" if value in markers else ""
            cells.append({"value": value, "state": state})
        rows.append({"line": row["line"], "cells": cells})
    count = inspection.get("row_count")
    pages = None if count is None else max(1, -(-count // PREVIEW_PAGE_SIZE))
    problem = preview.get("problem")
    return {
        "columns": columns,
        "rows": rows,
        "page": page,
        "pages": pages,
        "has_next": preview["has_next"],
        "preview_error": f"Line {problem['line']}: {problem['reason']}" if problem else "",
    }


def _file_step(request: HttpRequest, draft: WizardDraft) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            drafts.draft_inspect(draft=draft, options=_file_options(request.POST, draft.upload.inspection_options))
        except ValidationError as exc:
            errors = errors_of(exc)
        except (LookupError, ValueError) as exc:
            errors = {"__all__": [str(exc)]}
        else:
            if request.POST.get("next") and drafts.draft_may_open(draft, "destination"):
                return go(request, "wizard-step", pk=draft.pk, step="destination")
    try:
        page = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        page = 1
    inspection = draft.upload.inspection or {}
    options = draft.upload.inspection_options or {}
    context = _context(
        draft,
        "file",
        inspection=inspection,
        options=options,
        errors=errors,
        type_choices=TYPE_CHOICES,
        scanning=draft.upload.scan_status in (ScanStatus.QUEUED, ScanStatus.RUNNING),
        null_markers_shown=json.dumps(inspection.get("null_markers") or []),
        null_markers_text="\n".join(marker for marker in inspection.get("null_markers") or [] if marker != ""),
        empty_is_null="" in (inspection.get("null_markers") or []),
        **_preview_context(draft, page),
    )
    return render_page(request, "jobs/wizard/file.html", context, fragment="jobs/wizard/_file_body.html")


@login_required
def preview_page(request: HttpRequest, pk: int) -> HttpResponse:
    draft = _draft(request, pk)
    try:
        page = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        page = 1
    context = _context(draft, "file", type_choices=TYPE_CHOICES, **_preview_context(draft, page))
    return render_page(request, "jobs/wizard/_preview.html", context)


@login_required
def scan_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Polled while the worker confirms a large file: progress, then a reload of the step."""
    draft = _draft(request, pk)
    upload = draft.upload
    if upload.scan_status in (ScanStatus.QUEUED, ScanStatus.RUNNING):
        return render_page(request, "jobs/wizard/_scan.html", {"upload": upload, "draft": draft})
    response = HttpResponse("")
    response["HX-Refresh"] = "true"  # the confirmed inspection: every number on the page changes
    return response


# -- step 2: destination ------------------------------------------------------------------------
def _destination_step(request: HttpRequest, draft: WizardDraft) -> HttpResponse:
    if request.method == "POST":
        credential = get_credential_for_user(request.user, _chosen_destination(request, draft))
        if credential is None:
            return _destination_page(request, draft, errors={"destination": ["Choose a destination, or create one."]})
        try:
            drafts.draft_set_destination(draft=draft, destination=credential, **_destination_values(request, draft))
        except ValidationError as exc:
            return _destination_page(request, draft, errors=errors_of(exc))
        return go(request, "wizard-step", pk=draft.pk, step="mapping")
    errors = {}
    if draft.data.get("destination") and drafts.draft_destination(draft) is None:
        errors = {"destination": ["The destination this load used was deleted, or is not yours: choose one."]}
    return _destination_page(request, draft, errors=errors)


def _chosen_destination(request: HttpRequest, draft: WizardDraft) -> str:
    chosen = (
        request.POST.get("destination")
        or request.GET.get("credential")
        or request.GET.get("destination")
        or draft.data.get("destination")
    )
    return str(chosen or "")


def _destination_values(request: HttpRequest, draft: WizardDraft) -> dict[str, Any]:
    """The step's fields: as posted from its form (its Test and Browse buttons post it too), else as saved."""
    data = draft.data
    posted = request.POST if "schema" in request.POST else None
    asked = request.GET  # a table picked from the browse list, without JavaScript
    return {
        "schema": posted["schema"] if posted else asked.get("pick_schema") or data.get("schema", "public"),
        "table": posted.get("table", "")
        if posted
        else asked.get("pick_table") or data.get("table") or _suggest_table(draft),
        "create_table": posted.get("create_table") == "on" if posted else data.get("create_table", True),
    }


def _destination_page(
    request: HttpRequest,
    draft: WizardDraft,
    *,
    errors: dict[str, list[str]] | None = None,
    fragment: str | None = None,
    status: int = 200,
    **extra,
) -> HttpResponse:
    """The destination step's page; with `fragment`, only that part for htmx."""
    # The user's own credentials, and the one the draft (or the job it edits) loads into: a staff
    # user editing someone's job keeps its destination.
    shown = Q(owner=request.user)
    for pk in (draft.data.get("destination"), draft.job.destination_id if draft.job else None):
        if pk:
            shown |= Q(pk=pk)
    context = _context(
        draft,
        "destination",
        credentials=Credential.objects.visible_to(request.user).filter(shown).order_by("name", "id"),
        chosen=_chosen_destination(request, draft),
        values=_destination_values(request, draft),
        errors=errors or {},
        credential_form=extra.pop("credential_form", None) or CredentialForm(),
        **extra,
    )
    return render_page(request, "jobs/wizard/destination.html", context, fragment=fragment, status=status)


def _suggest_table(draft: WizardDraft) -> str:
    from jobs.inspection.header import normalize_names

    stem = draft.upload.original_name.rsplit(".", 1)[0]
    return normalize_names([stem])[0]


@login_required
@require_http_methods(["GET", "POST"])
def browse(request: HttpRequest, pk: int) -> HttpResponse:
    """The destination's schemas, or one schema's tables, read live from the database.

    htmx swaps in the list; without JavaScript the step's Browse button posts its form here and
    the whole step comes back with the list in it (and the schema links are plain links)."""
    draft = _draft(request, pk)
    credential = get_credential_for_user(request.user, _chosen_destination(request, draft))
    context: dict[str, Any] = {"credential": credential, "browsed": True}
    if credential is None:
        context["error"] = "Choose a destination first."
    else:
        schema = request.GET.get("schema") if "schema" not in request.POST else None
        try:
            context["names"] = credential_browse(credential=credential, schema=schema)
        except ValidationError as exc:
            context["error"] = " ".join(exc.messages)
        context["browse_schema"] = schema
    return _destination_page(request, draft, fragment="jobs/wizard/_browse.html", **context)


@login_required
@require_POST
def test_destination(request: HttpRequest, pk: int) -> HttpResponse:
    """Connect with the chosen destination; without JavaScript, the whole step with the result."""
    draft = _draft(request, pk)
    credential = get_credential_for_user(request.user, request.POST.get("destination"))
    result = None if credential is None else credential_test(credential=credential)
    return _destination_page(request, draft, fragment="credentials/_test_result.html", result=result, tested=True)


@login_required
@require_POST
def new_destination(request: HttpRequest, pk: int) -> HttpResponse:
    """A credential made without leaving the wizard; the step comes back with it chosen."""
    draft = _draft(request, pk)
    form = CredentialForm(request.POST)
    if form.is_valid():
        try:
            credential = credential_create(owner=request.user, **form.service_fields())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Destination {credential.name} saved.")
            return go(request, "wizard-step", pk=draft.pk, step="destination", query={"credential": credential.pk})
    return _destination_page(
        request, draft, fragment="credentials/_form_fields.html", form=form, credential_form=form, inline=True
    )


# -- step 3: mapping --------------------------------------------------------------------------
def _rows_from_post(post) -> list[dict[str, Any]]:
    """The mapping table's rows as posted (included or not), in the order of their indexes."""
    indexes = set()
    for key in post:
        parts = key.split("-", 2)
        if len(parts) == 3 and parts[0] == "m" and parts[1].isdigit():
            indexes.add(int(parts[1]))
    rows = []
    for index in sorted(indexes)[:2000]:
        prefix = f"m-{index}-"
        rows.append({key[len(prefix) :]: value for key, value in post.items() if key.startswith(prefix)})
    return rows


def _transform_args(row: dict[str, str]) -> dict[str, Any]:
    name, first, second = row.get("transform", ""), row.get("arg1", ""), row.get("arg2", "")

    def number(text: str, default=None):
        text = text.strip()
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            return text  # the service says what is wrong with it

    if name == "replace":
        return {"from": first, "to": second}
    if name == "substring":
        return {"start": number(first, 1), "length": number(second)}
    if name == "regex_extract":
        args: dict[str, Any] = {"pattern": first}
        if second.strip():
            args["group"] = number(second)
        return args
    return {}


def _mapping_from_row(row: dict[str, str]) -> dict[str, Any]:
    mapping: dict[str, Any] = {
        "source_column": row.get("source_column", "") if not row.get("expression", "").strip() else "",
        "destination_column": row.get("destination_column", "").strip(),
        "destination_type": row.get("destination_type", "").strip() or "text",
        "transform": row.get("transform", ""),
        "transform_args": _transform_args(row),
        "expression": row.get("expression", "").strip(),
        "format": row.get("format", "").strip(),
        "nullable": row.get("nullable") == "on",
    }
    default = row.get("default", "")
    mapping["default"] = default if default != "" else None
    for name in ("true_words", "false_words"):  # kept from the job, as JSON in hidden fields
        text = row.get(name, "").strip()
        if text:
            try:
                mapping[name] = json.loads(text)
            except ValueError:
                mapping[name] = text  # the service says what a list of words is
    return mapping


def _mappings_from_post(post) -> list[dict[str, Any]]:
    return [_mapping_from_row(row) for row in _rows_from_post(post) if row.get("include") == "on"]


def _rows_for_form(mappings: list[dict[str, Any]], draft: WizardDraft) -> list[dict[str, Any]]:
    """Table rows for the mapping form: the mappings, then the file columns left out."""
    rows = []
    mapped_sources = set()
    for mapping in mappings:
        args = mapping.get("transform_args") or {}
        first = args.get("from", args.get("start", args.get("pattern", "")))
        second = args.get("to", args.get("length", args.get("group", "")))
        rows.append(
            {
                **mapping,
                "include": True,
                "arg1": "" if first is None else first,
                "arg2": "" if second is None else second,
                "default": mapping.get("default") or "",
                "calculated": bool(mapping.get("expression")),
                **_words_json(mapping),
            }
        )
        mapped_sources.add(mapping.get("source_column"))
    if draft.data.get("table_columns") is None:
        return rows
    for column in (draft.upload.inspection or {}).get("columns", []):
        source = column.get("original_name") or column["name"]
        if source not in mapped_sources:
            rows.append(
                {
                    "source_column": source,
                    "destination_column": column["name"],
                    "destination_type": column.get("type") or "text",
                    "include": False,
                    "nullable": True,
                    "arg1": "",
                    "arg2": "",
                    "default": "",
                    "calculated": False,
                }
            )
    return rows


def _words_json(mapping: dict[str, Any]) -> dict[str, str]:
    """A boolean mapping's true and false words, as the form's hidden fields carry them."""
    return {
        f"{name}_json": json.dumps(mapping[name]) if mapping.get(name) else "" for name in ("true_words", "false_words")
    }


def _mapping_context(draft: WizardDraft, rows: list[dict[str, Any]], **extra) -> dict[str, Any]:
    inspection = draft.upload.inspection or {}
    table_columns = draft.data.get("table_columns")
    return _context(
        draft,
        "mapping",
        rows=rows,
        sources=[c.get("original_name") or c["name"] for c in inspection.get("columns", [])],
        table_columns=table_columns,
        unmapped_table_columns=[
            name
            for name, _type, _nullable in table_columns or []
            if name not in {row["destination_column"] for row in rows if row.get("include")}
        ],
        transforms=Transform.choices,
        type_choices=TYPE_CHOICES,
        date_types=sorted(DATE_TYPES),
        **extra,
    )


def _rows_as_posted(post) -> list[dict[str, Any]]:
    """The mapping table's rows as the user left them, each with what the database would refuse in it."""
    rows = []
    for row in _rows_from_post(post):
        mapping = _mapping_from_row(row)
        included = row.get("include") == "on"
        rows.append(
            {
                **mapping,
                **row,
                "include": included,
                "nullable": row.get("nullable") == "on",
                "calculated": bool(mapping["expression"]) or "expression" in row,
                "problems": mapping_field_problems(mapping) if included else [],
                "true_words_json": row.get("true_words", ""),
                "false_words_json": row.get("false_words", ""),
            }
        )
    return rows


def _mapping_step(request: HttpRequest, draft: WizardDraft) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and request.POST.get("add_calculated"):
        # "+ Calculated column" without JavaScript: the table as posted, and one more row.
        rows = _rows_as_posted(request.POST)
        rows.append(_calculated_row(len(rows)))
    elif request.method == "POST":
        try:
            drafts.draft_set_mappings(draft=draft, mappings=_mappings_from_post(request.POST))
        except ValidationError as exc:
            errors = errors_of(exc)
            rows = _rows_as_posted(request.POST)
        else:
            return go(request, "wizard-step", pk=draft.pk, step="strategy")
    else:
        rows = _rows_for_form(drafts.draft_mappings(draft), draft)
    return render_page(request, "jobs/wizard/mapping.html", _mapping_context(draft, rows, errors=errors))


@login_required
@require_POST
def mapping_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The mappings being edited, checked and tried on the file's first rows (live, as the user types)."""
    draft = _draft(request, pk)
    mappings = _mappings_from_post(request.POST)
    problems = drafts.draft_check_mappings(draft, mappings) if mappings else ["Include at least one column."]
    context: dict[str, Any] = {"problems": problems, "draft": draft}
    if not problems:
        try:
            context["preview"] = mappings_preview(upload=draft.upload, mappings=mappings_build(mappings), rows=8)
        except ValidationError as exc:
            context["problems"] = exc.messages
    context["calculated"] = [m["destination_column"] for m in mappings if m.get("expression")]
    return render_page(request, "jobs/wizard/_mapping_preview.html", context)


@login_required
def mapping_row(request: HttpRequest, pk: int) -> HttpResponse:
    """One more row for the mapping table: a calculated column."""
    draft = _draft(request, pk)
    try:
        index = int(request.GET.get("index", 0))
    except ValueError:
        index = 0
    context = _mapping_context(draft, [])
    context.update(row=_calculated_row(index), index=index)
    return render_page(request, "jobs/wizard/_mapping_row.html", context)


def _calculated_row(index: int) -> dict[str, Any]:
    return {
        "include": True,
        "calculated": True,
        "source_column": "",
        "destination_column": f"calculated_{index + 1}",
        "destination_type": "numeric(14,2)",
        "expression": "",
        "nullable": True,
        "arg1": "",
        "arg2": "",
        "default": "",
    }


# -- step 4: strategy -------------------------------------------------------------------------
def _int_or_none(text: str | None):
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return -1  # refused by the service with its message


def _ratio_or_none(text: str | None):
    text = (text or "").strip().rstrip("%")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return -1.0
    return value / 100  # the page asks for a percentage


def _strategy_step(request: HttpRequest, draft: WizardDraft) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    data = draft.data
    if request.method == "POST":
        values = {
            "load_strategy": request.POST.get("load_strategy", ""),
            "upsert_keys": request.POST.getlist("upsert_keys"),
            "max_rejected_rows": _int_or_none(request.POST.get("max_rejected_rows")),
            "max_rejected_ratio": _ratio_or_none(request.POST.get("max_rejected_percent")),
        }
        try:
            drafts.draft_set_strategy(draft=draft, **values)
        except ValidationError as exc:
            errors = errors_of(exc)
        else:
            if not request.POST.get("refresh"):
                return go(request, "wizard-step", pk=draft.pk, step="review")
    strategy = request.POST.get("load_strategy") or data.get("load_strategy") or LoadStrategy.INSERT
    keys = request.POST.getlist("upsert_keys") if request.method == "POST" else data.get("upsert_keys", [])
    rejected_rows = data.get("max_rejected_rows", 0)
    ratio = data.get("max_rejected_ratio")
    context = _context(
        draft,
        "strategy",
        strategy=strategy,
        strategies=LoadStrategy.choices,
        keys=keys,
        columns=[m["destination_column"] for m in data.get("mappings", [])],
        max_rejected_rows=request.POST.get("max_rejected_rows", "" if rejected_rows is None else rejected_rows),
        max_rejected_percent=request.POST.get("max_rejected_percent", "" if ratio is None else f"{ratio * 100:g}"),
        errors=errors,
        creates=data.get("table_columns") is None,
        ddl=_ddl(draft, strategy, keys),
    )
    return render_page(request, "jobs/wizard/strategy.html", context, fragment="jobs/wizard/_ddl.html")


def _ddl(draft: WizardDraft, strategy: str, keys: list[str]) -> str:
    if draft.data.get("table_columns") is not None or not draft.data.get("mappings"):
        return ""
    shown = WizardDraft(
        upload=draft.upload, owner=draft.owner, data=dict(draft.data, load_strategy=strategy, upsert_keys=keys)
    )
    try:
        return drafts.draft_plan(shown)["ddl"]
    except Exception as exc:  # a DDL preview must never break the page: say why it is missing
        return f"-- the statement cannot be shown: {exc}"


# -- step 5: review ---------------------------------------------------------------------------
def _review_step(request: HttpRequest, draft: WizardDraft) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        action = request.POST.get("action", "save")
        try:
            job = drafts.draft_save(draft=draft, name=request.POST.get("name", ""))
        except ValidationError as exc:
            errors = errors_of(exc)
        else:
            if action == "run":
                run = run_create(job=job, user=request.user)
                return go(request, "runs:detail", pk=run.pk)
            messages.success(request, f"Job {job.name} saved.")
            if action == "schedule":
                return go(request, "schedules:new", query={"job": job.pk})
            return go(request, "jobs:detail", pk=job.pk)
    return _review_page(request, draft, errors=errors)


def _review_page(request: HttpRequest, draft: WizardDraft, **extra) -> HttpResponse:
    errors = extra.pop("errors", {})
    try:
        plan = drafts.draft_plan(draft)
    except ValidationError as exc:
        plan, errors = None, {**errors, **errors_of(exc)}
    ratio = draft.data.get("max_rejected_ratio")
    context = _context(
        draft,
        "review",
        plan=plan,
        errors=errors,
        mappings=draft.data.get("mappings", []),
        destination=drafts.draft_destination(draft),
        name=draft.data.get("name") or (draft.job.name if draft.job else drafts.default_job_name(draft)),
        dry_run=drafts.draft_current_dry_run(draft),
        max_rejected_percent=None if ratio is None else f"{ratio * 100:g}",
        strategy_label=dict(LoadStrategy.choices).get(draft.data.get("load_strategy"), ""),
        **extra,
    )
    return render_page(request, "jobs/wizard/review.html", context)


@login_required
@require_POST
def dry_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Build the trial job from the answers and dry-run it on the worker.

    htmx swaps in the run's part of the page (which polls it); a plain form gets the review page."""
    draft = _draft(request, pk)
    try:
        run = drafts.draft_dry_run(draft=draft, user=request.user)
    except ValidationError as exc:
        if request.htmx:
            return render_page(request, "jobs/wizard/_dry_run.html", {"draft": draft, "errors": errors_of(exc)})
        messages.error(request, " ".join(exc.messages))
        return go(request, "wizard-step", pk=draft.pk, step=drafts.draft_first_open_step(draft))
    if request.htmx:
        return render_page(request, "jobs/wizard/_dry_run.html", {"draft": draft, "run": run})
    return go(request, "wizard-step", pk=draft.pk, step="review")


@login_required
def dry_run_status(request: HttpRequest, pk: int, run_id: int) -> HttpResponse:
    draft = _draft(request, pk)
    run = JobRun.objects.filter(pk=run_id, job=draft.trial_job).first() if draft.trial_job else None
    run = found(run)
    response = render_page(request, "jobs/wizard/_dry_run.html", {"draft": draft, "run": run, "polled": True})
    if run.is_finished:
        response.status_code = 286  # htmx: stop polling
    return response


def sample_table(run: JobRun) -> dict[str, Any] | None:
    """A dry run's sample rows as a table."""
    if not run.sample:
        return None
    sample = run.sample
    if isinstance(sample, str):
        sample = json.loads(sample)
    return sample
