"""The stalled-scan reaper: a full pass whose worker (or queue message) was lost ends FAILED, saying why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services, tasks
from jobs.models import ScanStatus, Upload
from jobs.services import scans_reap_stalled
from jobs.tasks import confirm_upload, reap_stalled_scans
from tests.factories import make_upload

pytestmark = pytest.mark.django_db

TIMEOUT = 600


def upload_with_pass(user, status: str, progress: float = 0.0) -> Upload:
    """An inspected upload whose full pass is `status` (as a large file's would be)."""
    upload = make_upload(user)
    services.upload_inspect(upload=upload)
    Upload.objects.filter(pk=upload.pk).update(scan_status=status, scan_progress=progress)
    return Upload.objects.get(pk=upload.pk)


def reap_at(moment) -> int:
    return scans_reap_stalled(timeout_seconds=TIMEOUT, now=moment)


def first_problem(upload: Upload) -> dict:
    return Upload.objects.get(pk=upload.pk).inspection["problems"][0]


def test_a_running_pass_without_progress_for_longer_than_the_timeout_fails_with_why(alice):
    upload = upload_with_pass(alice, ScanStatus.RUNNING, progress=0.42)
    start = timezone.now()

    assert reap_at(start) == 0  # first seen: the clock starts
    assert reap_at(start + timedelta(seconds=TIMEOUT)) == 0
    assert Upload.objects.get(pk=upload.pk).scan_status == ScanStatus.RUNNING
    assert reap_at(start + timedelta(seconds=TIMEOUT + 60)) == 1

    reaped = Upload.objects.get(pk=upload.pk)
    assert reaped.scan_status == ScanStatus.FAILED
    assert reaped.inspection["problems"][0] == {
        "line": None,
        "reason": "the full pass over the file stopped at 42%: no progress for more than 600 s (its worker was "
        "lost), so the types, counts and problems shown are from the start of the file only: inspect again to "
        "run it again",
        "severity": "warning",
    }
    # The inspection of the start of the file still stands, without the reaper's note.
    assert reaped.inspection["columns"] == upload.inspection["columns"]
    assert reaped.inspection["loadable"] is True
    assert "scan_watch" not in reaped.inspection
    # Reaping again finds nothing new.
    assert reap_at(start + timedelta(seconds=2 * TIMEOUT)) == 0


def test_progress_restarts_the_clock(alice):
    upload = upload_with_pass(alice, ScanStatus.RUNNING, progress=0.1)
    start = timezone.now()
    reap_at(start)

    Upload.objects.filter(pk=upload.pk).update(scan_progress=0.2)

    assert reap_at(start + timedelta(seconds=TIMEOUT + 60)) == 0
    assert reap_at(start + timedelta(seconds=2 * TIMEOUT + 60)) == 0
    assert reap_at(start + timedelta(seconds=2 * TIMEOUT + 120)) == 1
    assert first_problem(upload)["reason"].startswith("the full pass over the file stopped at 20%")


def test_a_new_inspection_restarts_the_clock(alice):
    upload = upload_with_pass(alice, ScanStatus.RUNNING)
    start = timezone.now()
    reap_at(start)

    # The user inspects again (new options): a new pass, with its own token, starts.
    services.upload_inspect(upload=Upload.objects.get(pk=upload.pk), options={"header": True})
    Upload.objects.filter(pk=upload.pk).update(scan_status=ScanStatus.RUNNING, scan_progress=0.0)

    assert reap_at(start + timedelta(seconds=TIMEOUT + 60)) == 0
    assert Upload.objects.get(pk=upload.pk).scan_status == ScanStatus.RUNNING


def test_a_queued_pass_is_sent_again_once_and_then_runs(alice, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(tasks.confirm_upload, "delay", lambda *args: sent.append(args))
    upload = upload_with_pass(alice, ScanStatus.QUEUED)
    start = timezone.now()
    reap_at(start)

    with django_capture_on_commit_callbacks(execute=True):
        assert reap_at(start + timedelta(seconds=TIMEOUT + 60)) == 0
        assert reap_at(start + timedelta(seconds=TIMEOUT + 120)) == 0  # sent once, not on every beat

    assert sent == [(upload.pk, upload.scan_token)]
    assert Upload.objects.get(pk=upload.pk).scan_status == ScanStatus.QUEUED
    # The message a worker now receives runs the pass; the reaper's note is not part of its result.
    confirm_upload(*sent[0])
    done = Upload.objects.get(pk=upload.pk)
    assert done.scan_status == ScanStatus.DONE
    assert "scan_watch" not in done.inspection
    assert done.inspection["problems"] == []


def test_a_queued_pass_still_not_started_after_being_sent_again_fails(alice, monkeypatch):
    monkeypatch.setattr(tasks.confirm_upload, "delay", lambda *args: None)
    upload = upload_with_pass(alice, ScanStatus.QUEUED)
    start = timezone.now()
    reap_at(start)
    reap_at(start + timedelta(seconds=TIMEOUT + 60))  # sent again

    assert reap_at(start + timedelta(seconds=2 * TIMEOUT + 60)) == 0
    assert reap_at(start + timedelta(seconds=2 * TIMEOUT + 120)) == 1

    assert Upload.objects.get(pk=upload.pk).scan_status == ScanStatus.FAILED
    assert first_problem(upload)["reason"] == (
        "the full pass over the file was never started: no worker took it within 1200 s (the broker lost it, or "
        "every worker is busy), so the types, counts and problems shown are from the start of the file only: "
        "inspect again to run it again"
    )


def test_finished_failed_and_unscanned_uploads_are_left_alone(alice):
    done = upload_with_pass(alice, ScanStatus.DONE, progress=1.0)
    failed = upload_with_pass(alice, ScanStatus.FAILED)
    never = make_upload(alice)
    start = timezone.now()

    assert reap_at(start) == 0
    assert reap_at(start + timedelta(days=1)) == 0

    for upload in (done, failed, never):
        assert Upload.objects.get(pk=upload.pk).inspection == upload.inspection


def test_the_beat_task_uses_the_configured_timeout(alice, settings):
    settings.SCAN_STALL_TIMEOUT = 0
    upload = upload_with_pass(alice, ScanStatus.RUNNING)

    assert reap_stalled_scans.name == "jobs.tasks.reap_stalled_scans"
    assert reap_stalled_scans() == 0
    assert reap_stalled_scans() == 1
    assert Upload.objects.get(pk=upload.pk).scan_status == ScanStatus.FAILED


def test_a_pass_that_crashes_says_so_in_the_inspection(alice):
    upload = upload_with_pass(alice, ScanStatus.QUEUED)
    upload.file.storage.delete(upload.file.name)

    with pytest.raises(FileNotFoundError):
        confirm_upload(upload.pk, upload.scan_token)

    assert Upload.objects.get(pk=upload.pk).scan_status == ScanStatus.FAILED
    assert first_problem(upload) == {
        "line": None,
        "reason": "the full pass over the file failed (FileNotFoundError), so the types, counts and problems shown "
        "are from the start of the file only: inspect again to run it again",
        "severity": "warning",
    }
