"""The credentials pages. Secrets are never shown: a stored password is "set", and is changed, not read."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods, require_POST

from credentials.forms import CredentialForm
from credentials.models import Credential
from credentials.selectors import get_credential_for_user
from credentials.services import (
    EDITABLE_FIELDS,
    credential_browse,
    credential_create,
    credential_delete,
    credential_test,
    credential_update,
)
from etlportal.pages import delete_page, found, go, render_page


@login_required
def credential_list(request: HttpRequest) -> HttpResponse:
    credentials = Credential.objects.visible_to(request.user).select_related("owner").order_by("name", "id")
    return render_page(request, "credentials/list.html", {"credentials": credentials})


@login_required
def credential_detail(request: HttpRequest, pk: int) -> HttpResponse:
    credential = found(get_credential_for_user(request.user, pk))
    jobs = credential.jobs.filter(is_draft=False).order_by("name")
    return render_page(request, "credentials/detail.html", {"credential": credential, "jobs": jobs})


@login_required
@require_http_methods(["GET", "POST"])
def credential_new(request: HttpRequest) -> HttpResponse:
    form = CredentialForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            credential = credential_create(owner=request.user, **form.service_fields())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Credential {credential.name} saved. Test it below.")
            return go(request, "credentials:detail", pk=credential.pk)
    return render_page(request, "credentials/form.html", {"form": form, "credential": None})


@login_required
@require_http_methods(["GET", "POST"])
def credential_edit(request: HttpRequest, pk: int) -> HttpResponse:
    credential = found(get_credential_for_user(request.user, pk))
    initial = {name: getattr(credential, name) for name in EDITABLE_FIELDS}
    initial["extra_options"] = json.dumps(credential.extra_options) if credential.extra_options else ""
    form = CredentialForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            credential_update(credential=credential, **form.service_fields())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Credential {credential.name} saved.")
            return go(request, "credentials:detail", pk=credential.pk)
    return render_page(request, "credentials/form.html", {"form": form, "credential": credential})


@login_required
@require_http_methods(["GET", "POST"])
def credential_remove(request: HttpRequest, pk: int) -> HttpResponse:
    credential = found(get_credential_for_user(request.user, pk))
    return delete_page(
        request,
        delete=lambda: credential_delete(credential=credential),
        template="credentials/confirm_delete.html",
        context={"credential": credential},
        done=f"Credential {credential.name} deleted.",
        back="credentials:list",
    )


@login_required
@require_POST
def credential_check(request: HttpRequest, pk: int) -> HttpResponse:
    credential = found(get_credential_for_user(request.user, pk))
    return render_page(request, "credentials/_test_result.html", {"result": credential_test(credential=credential)})


@login_required
def credential_tables(request: HttpRequest, pk: int) -> HttpResponse:
    credential = found(get_credential_for_user(request.user, pk))
    schema = request.GET.get("schema") or None
    context = {"credential": credential, "schema": schema}
    try:
        context["names"] = credential_browse(credential=credential, schema=schema)
    except ValidationError as exc:
        context["error"] = " ".join(exc.messages)
    return render_page(request, "credentials/_browse.html", context)
