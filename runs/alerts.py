"""Alerts: an e-mail and/or a JSON webhook when a job's or a pipeline's run fails (or succeeds, or
runs longer than expected). Sent by the worker after the run's transaction, never failing it; a
webhook that does not answer is tried again and its failure logged in the run. What is sent
names the run and what went wrong, never a secret; the webhook's own URL (which may carry a
token) is logged by host only.

The webhook's JSON (one object, Content-Type application/json):

    {"event": "run.failed" | "run.succeeded" | "run.slow",
     "run": {"id", "kind", "status", "trigger", "url", "created_at", "started_at", "finished_at",
             "duration_seconds", "rows_read", "rows_written", "rows_rejected",
             "error": {"message", "line", "column"} or null},
     "job": {"id", "name", "table"} or null,
     "pipeline": {"id", "name"} or null,
     "steps": [{"position", "name", "status", "error"}, ...]   (pipelines only)}
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from etlportal.netcheck import scheme_and_host
from runs.events import run_log
from runs.models import EventLevel, JobRun, RunKind, RunStatus

logger = logging.getLogger("etlportal.runs")

WEBHOOK_ATTEMPTS = 3
WEBHOOK_TIMEOUT_SECONDS = 10


def _subject(run: JobRun):
    return run.job or run.pipeline


def alerts_queue(run: JobRun) -> None:
    """After a run finished: queue its alert, if its job or pipeline wants one for this outcome."""
    subject = _subject(run)
    if subject is None or not subject.alerts_configured:
        return
    if run.status == RunStatus.FAILED:
        event = "run.failed"
    elif run.status == RunStatus.SUCCEEDED and subject.alert_on_success:
        event = "run.succeeded"
    else:
        return
    _send_later(run.pk, event)


def alerts_for_slow_runs() -> int:
    """Beat: runs still going past their job's or pipeline's alert_after_minutes, told once."""
    told = 0
    now = timezone.now()
    running = JobRun.objects.filter(
        status=RunStatus.RUNNING, parent__isnull=True, slow_alert_sent_at__isnull=True, started_at__isnull=False
    ).select_related("job", "pipeline")
    for run in running:
        subject = _subject(run)
        if not subject or not subject.alert_after_minutes or not subject.alerts_configured:
            continue
        if (now - run.started_at).total_seconds() < subject.alert_after_minutes * 60:
            continue
        if JobRun.objects.filter(pk=run.pk, slow_alert_sent_at__isnull=True).update(slow_alert_sent_at=now):
            _send_later(run.pk, "run.slow")
            told += 1
    return told


def _send_later(run_id: int, event: str) -> None:
    from runs.tasks import send_run_alerts

    transaction.on_commit(lambda: send_run_alerts.delay(run_id, event))


def payload(run: JobRun, event: str) -> dict:
    duration = None
    if run.started_at:
        duration = round(((run.finished_at or timezone.now()) - run.started_at).total_seconds(), 3)
    error = None
    if run.error_message:
        error = {"message": run.error_message, "line": run.error_line, "column": run.error_column or None}
    body = {
        "event": event,
        "run": {
            "id": run.pk,
            "kind": run.kind,
            "status": run.status,
            "trigger": run.trigger,
            "url": f"{settings.PORTAL_URL.rstrip('/')}/runs/{run.pk}/",
            "created_at": run.created_at.isoformat(),
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "duration_seconds": duration,
            "rows_read": run.rows_read,
            "rows_written": run.rows_written,
            "rows_rejected": run.rows_rejected,
            "error": error,
        },
        "job": {"id": run.job.pk, "name": run.job.name, "table": run.job.target} if run.job else None,
        "pipeline": {"id": run.pipeline.pk, "name": run.pipeline.name} if run.pipeline else None,
    }
    if run.kind == RunKind.PIPELINE:
        body["steps"] = [
            {
                "position": step.step_position,
                "name": step.title,
                "status": step.status,
                "error": step.error_message or None,
            }
            for step in run.steps.order_by("step_position", "attempt")
        ]
    return body


def _words(run: JobRun, event: str) -> tuple[str, str]:
    name = str(_subject(run))
    what = {"run.failed": "failed", "run.succeeded": "succeeded", "run.slow": "is taking longer than expected"}[event]
    lines = [f"Run {run.pk} of {name} {what}.", ""]
    if run.error_message:
        where = f" ({run.error_location})" if run.error_location else ""
        lines += [f"Error{where}: {run.error_message}", ""]
    lines += [
        f"Rows read {run.rows_read:,}, written {run.rows_written:,}, rejected {run.rows_rejected:,}.",
        f"{settings.PORTAL_URL.rstrip('/')}/runs/{run.pk}/",
    ]
    return f"[ETL Portal] {name}: run {run.pk} {what}", "\n".join(lines)


def alerts_send(*, run_id: int, event: str) -> None:
    run = JobRun.objects.select_related("job", "pipeline").get(pk=run_id)
    subject = _subject(run)
    if subject is None:
        return
    if subject.alert_emails:
        title, text = _words(run, event)
        try:
            send_mail(title, text, settings.DEFAULT_FROM_EMAIL, list(subject.alert_emails))
        except Exception as exc:  # an alert never fails anything: say why it did not go
            run_log(run, f"Alert e-mail not sent: {type(exc).__name__}: {exc}", level=EventLevel.WARNING, phase="alert")
        else:
            run_log(run, f"Alert e-mail sent to {len(subject.alert_emails)} address(es)", phase="alert")
    if subject.alert_webhook_url:
        _post(run, subject.alert_webhook_url, payload(run, event))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook answers; it does not send the alert (and its checks) somewhere else."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _link_local(url: str) -> bool:
    """Whether the URL's host is a link-local address (a cloud's metadata service, 169.254.169.254)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False  # the request says what is wrong with the host
    return any(ipaddress.ip_address(address.split("%")[0]).is_link_local for address in addresses)


def _post(run: JobRun, url: str, body: dict) -> None:
    where = scheme_and_host(url)  # the path or query may hold a token
    if _link_local(url):
        run_log(
            run,
            f"Alert webhook to {where} not sent: it is a link-local address (such as a cloud metadata service)",
            level=EventLevel.WARNING,
            phase="alert",
        )
        return
    data = json.dumps(body).encode()
    problem = ""
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/json", "User-Agent": "etlportal"}
        )
        try:
            with _OPENER.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                if 200 <= response.status < 300:
                    run_log(run, f"Alert webhook to {where} answered {response.status}", phase="alert")
                    return
                problem = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            problem = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        if attempt < WEBHOOK_ATTEMPTS:
            run_log(
                run,
                f"Alert webhook to {where} failed ({problem}), attempt {attempt} of {WEBHOOK_ATTEMPTS}; trying again",
                level=EventLevel.WARNING,
                phase="alert",
            )
            time.sleep(2**attempt)
    run_log(
        run,
        f"Alert webhook to {where} failed {WEBHOOK_ATTEMPTS} times ({problem}); the run's result is unchanged",
        level=EventLevel.WARNING,
        phase="alert",
    )
