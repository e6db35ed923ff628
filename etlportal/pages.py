"""Small helpers shared by the server-rendered pages of every app."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django_htmx.http import HttpResponseClientRedirect


def render_page(
    request: HttpRequest, template: str, context: dict, *, fragment: str | None = None, status: int = 200
) -> HttpResponse:
    """The whole page, or only its fragment when htmx asked for a part of it."""
    if fragment and request.htmx and not request.htmx.boosted:
        template = fragment
    return render(request, template, context, status=status)


def go(request: HttpRequest, to: str, *args, query: dict | None = None, **kwargs) -> HttpResponse:
    """Redirect after a POST: htmx follows HX-Redirect (a full page load), a plain form a 302.

    `query`: parameters added to the URL (?job=3)."""
    url = resolve_url(to, *args, **kwargs)
    if query:
        url += "?" + urlencode(query)
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def found(obj):
    """The object an access helper returned, or a 404 (never a 403 that would reveal it exists)."""
    if obj is None:
        raise Http404("Not found, or not yours.")
    return obj


def errors_of(exc: ValidationError) -> dict[str, list[str]]:
    """A ValidationError as {field: [messages]}; messages without a field under "__all__"."""
    if hasattr(exc, "error_dict"):
        return {
            field: [message for error in errors for message in error.messages]
            for field, errors in exc.error_dict.items()
        }
    return {"__all__": exc.messages}


def paginate(request: HttpRequest, queryset, per_page: int = 25):
    paginator = Paginator(queryset, per_page)
    return paginator.get_page(request.GET.get("page"))


def delete_page(request: HttpRequest, *, delete, template: str, context: dict, done: str, back: str) -> HttpResponse:
    """GET asks first; POST calls delete() (a service), then goes to `back`, or shows why not."""
    from django.contrib import messages

    error = ""
    if request.method == "POST":
        try:
            delete()
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, done)
            return go(request, back)
    return render_page(request, template, {**context, "error": error})


def attempt(request: HttpRequest, action, *, back: str, **back_kwargs) -> HttpResponse:
    """Run a service action returning a response; a ValidationError becomes a message on `back`."""
    from django.contrib import messages

    try:
        return action()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return go(request, back, **back_kwargs)
