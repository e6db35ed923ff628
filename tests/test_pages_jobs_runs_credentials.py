"""The jobs, runs, credentials, dashboard and login pages: status codes, who may see what, fragments."""

from __future__ import annotations

import pytest
from django.utils import timezone

from credentials.models import Credential
from jobs.models import Job
from jobs.services import job_create, upload_store
from runs.models import JobRun, RejectedRow, RunEvent, RunStatus
from tests.factories import make_credential
from tests.pages import ORDERS_CSV, browser, get_counting_queries, htmx

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = upload_store(file=SimpleUploadedFile("orders.csv", ORDERS_CSV.encode()), user=alice)
    mappings = [{"source_column": "Order ID", "destination_column": "id", "destination_type": "integer"}]
    return job_create(
        owner=alice,
        mappings=mappings,
        name="orders load",
        source=upload,
        destination=make_credential(alice),
        schema="s",
        table="orders",
        create_table=True,
    )


@pytest.fixture
def finished_run(job):
    now = timezone.now()
    run = JobRun.objects.create(
        job=job,
        status=RunStatus.FAILED,
        rows_read=3,
        rows_written=0,
        rows_rejected=1,
        started_at=now - timezone.timedelta(seconds=4),
        finished_at=now,
        error_message="Value 'x' is not a whole number (integer)",
        error_line=3,
        error_column="Order ID",
        error_value="x",
    )
    RunEvent.objects.create(run=run, message="Reading orders.csv")
    RejectedRow.objects.create(run=run, line=3, raw="x,bob", column="Order ID", value="x", reason="not a number")
    return run


PAGES = ["/", "/jobs/", "/runs/", "/credentials/", "/credentials/new/", "/new/"]


@pytest.mark.parametrize("url", PAGES)
def test_every_page_needs_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize("url", PAGES)
def test_every_page_renders_for_a_user_with_nothing_yet(alice, url):
    response = browser(alice).get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'src="/static/js/htmx-2.0.11.min.js"' in page  # vendored, no CDN
    assert "https://" not in page.split("</head>")[0]
    assert 'name="viewport"' in page


def test_login_and_logout(alice, client):
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "Log out" in client.get("/").content.decode()
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and client.get("/").status_code == 302


def test_a_wrong_password_says_so(alice, client):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200 and "correct username and password" in response.content.decode()


def test_the_admin_link_is_for_staff_only(alice, staff):
    assert 'href="/admin/"' not in browser(alice).get("/").content.decode()
    assert 'href="/admin/"' in browser(staff).get("/").content.decode()


# -- jobs -----------------------------------------------------------------------------------------
def test_job_list_detail_and_search(alice, job):
    client = browser(alice)
    assert "orders load" in client.get("/jobs/").content.decode()
    assert "orders load" not in htmx(client, "get", "/jobs/?q=nothing").content.decode()
    fragment = htmx(client, "get", "/jobs/?q=orders").content.decode()
    assert "<html" not in fragment and "orders load" in fragment
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "s.orders" in page and "Run now" in page and "Never run." in page


def test_the_job_list_shows_each_jobs_last_run_in_a_fixed_number_of_queries(alice, job):
    from datetime import timedelta

    from jobs.services import job_duplicate

    client = browser(alice)

    def listed(count: int) -> tuple[str, int]:
        while Job.objects.count() < count:
            copy = job_duplicate(job=job, owner=alice)
            # The newest is a dry run (not shown), the one before it the last run.
            for age, status, dry_run in ((3, "FAILED", False), (2, "SUCCEEDED", False), (1, "FAILED", True)):
                run = JobRun.objects.create(job=copy, status=status, dry_run=dry_run)
                JobRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=age))
        return get_counting_queries(client, "/jobs/")

    one, queries_for_one = listed(2)
    five, queries_for_five = listed(6)

    assert queries_for_five == queries_for_one
    for copy in Job.objects.exclude(pk=job.pk):
        last = copy.runs.get(status="SUCCEEDED")
        assert f'href="/runs/{last.pk}/"><span class="badge SUCCEEDED">' in five
    assert "badge FAILED" not in five
    assert "never" in five  # the job itself has not run


def test_another_users_job_is_not_found(bob, job):
    client = browser(bob)
    assert "orders load" not in client.get("/jobs/").content.decode()
    for url in (f"/jobs/{job.pk}/", f"/jobs/{job.pk}/delete/"):
        assert client.get(url).status_code == 404
    for url in (f"/jobs/{job.pk}/run/", f"/jobs/{job.pk}/edit/", f"/jobs/{job.pk}/duplicate/"):
        assert client.post(url).status_code == 404


def test_staff_see_every_job(staff, job):
    assert browser(staff).get(f"/jobs/{job.pk}/").status_code == 200


def test_run_now_and_dry_run_create_runs_and_open_their_page(alice, job):
    client = browser(alice)
    response = client.post(f"/jobs/{job.pk}/run/")
    run = JobRun.objects.get()
    assert response["Location"] == f"/runs/{run.pk}/" and not run.dry_run
    JobRun.objects.update(status=RunStatus.SUCCEEDED)
    client.post(f"/jobs/{job.pk}/run/", {"dry_run": "1"})
    assert JobRun.objects.filter(dry_run=True).count() == 1


def test_an_htmx_post_is_redirected_with_hx_redirect(alice, job):
    response = htmx(browser(alice), "post", f"/jobs/{job.pk}/run/")
    assert response["HX-Redirect"] == f"/runs/{JobRun.objects.get().pk}/"


def test_duplicate_copies_the_job_and_its_mappings(alice, job):
    response = browser(alice).post(f"/jobs/{job.pk}/duplicate/")
    copy = Job.objects.get(name="orders load (copy)")
    assert response["Location"] == f"/jobs/{copy.pk}/"
    assert [m.destination_column for m in copy.mappings.all()] == ["id"]


def test_delete_asks_first_then_deletes(alice, job):
    client = browser(alice)
    page = client.get(f"/jobs/{job.pk}/delete/").content.decode()
    assert "Delete orders load?" in page and "stay as they are" in page
    assert Job.objects.filter(pk=job.pk).exists()
    response = client.post(f"/jobs/{job.pk}/delete/")
    assert response["Location"] == "/jobs/" and not Job.objects.filter(pk=job.pk).exists()


def test_a_job_with_a_run_in_progress_is_not_deleted(alice, job):
    JobRun.objects.create(job=job, status=RunStatus.RUNNING)
    response = browser(alice).post(f"/jobs/{job.pk}/delete/")
    assert response.status_code == 200 and "has a run in progress" in response.content.decode()
    assert Job.objects.filter(pk=job.pk).exists()


# -- runs -------------------------------------------------------------------------------------------
def test_run_page_shows_counters_error_with_line_log_and_rejects(alice, finished_run):
    page = browser(alice).get(f"/runs/{finished_run.pk}/").content.decode()
    assert "Failed" in page and "is not a whole number" in page
    assert "line 3, column Order ID" in page and "<code>x</code>" in page
    assert "Reading orders.csv" in page
    assert f"/runs/{finished_run.pk}/rejects.csv" in page and "not a number" in page
    assert f'ws-connect="/ws/runs/{finished_run.pk}/live/"' in page
    assert "Run again" in page and ">Cancel<" not in page


def test_run_page_fragment_for_htmx(alice, finished_run):
    body = htmx(browser(alice), "get", f"/runs/{finished_run.pk}/").content.decode()
    assert "<html" not in body and 'data-status="FAILED"' in body


def test_an_active_run_has_a_cancel_button_that_requests_the_cancel(alice, job):
    run = JobRun.objects.create(job=job, status=RunStatus.RUNNING, started_at=timezone.now(), progress=0.5)
    client = browser(alice)
    assert ">Cancel<" in client.get(f"/runs/{run.pk}/").content.decode()
    response = client.post(f"/runs/{run.pk}/cancel/")
    assert response["Location"] == f"/runs/{run.pk}/"
    run.refresh_from_db()
    assert run.cancel_requested_at is not None


def test_rejects_download_as_csv(alice, finished_run):
    response = browser(alice).get(f"/runs/{finished_run.pk}/rejects.csv")
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines() == ["line,column,value,reason,raw", '3,Order ID,x,not a number,"x,bob"']


def test_another_users_run_is_not_found(bob, finished_run):
    client = browser(bob)
    assert client.get(f"/runs/{finished_run.pk}/").status_code == 404
    assert client.get(f"/runs/{finished_run.pk}/rejects.csv").status_code == 404
    assert client.post(f"/runs/{finished_run.pk}/cancel/").status_code == 404
    assert f"#{finished_run.pk}" not in client.get("/runs/").content.decode()


def test_run_history_filters_and_refreshes_while_runs_are_active(alice, job, finished_run):
    client = browser(alice)
    active = JobRun.objects.create(job=job, status=RunStatus.RUNNING)
    page = client.get("/runs/").content.decode()
    assert f"#{finished_run.pk}" in page and f"#{active.pk}" in page
    assert 'hx-trigger="every 3s"' in page  # something is running: the table refreshes itself
    failed = htmx(client, "get", "/runs/?status=FAILED").content.decode()
    assert "<html" not in failed and f"#{finished_run.pk}" in failed and f"#{active.pk}" not in failed
    assert 'hx-trigger="every 3s"' not in failed
    today = timezone.localdate().isoformat()
    assert f"#{active.pk}" in htmx(client, "get", f"/runs/?since={today}&until={today}").content.decode()
    assert f"#{active.pk}" not in htmx(client, "get", "/runs/?until=2000-01-01").content.decode()
    assert f"#{active.pk}" in htmx(client, "get", f"/runs/?job={job.pk}&trigger=manual").content.decode()


def test_a_bad_date_filter_is_a_message(alice, finished_run):
    response = browser(alice).get("/runs/?since=yesterday")
    assert response.status_code == 200 and "is not a date" in response.content.decode()
    fragment = htmx(browser(alice), "get", "/runs/?until=2026-13-01").content.decode()
    assert "<html" not in fragment and "Until: &#x27;2026-13-01&#x27; is not a date (YYYY-MM-DD)." in fragment


def test_dashboard_counts_and_charts(alice, job, finished_run):
    JobRun.objects.create(
        job=job,
        status=RunStatus.SUCCEEDED,
        rows_written=1234,
        started_at=timezone.now() - timezone.timedelta(seconds=10),
        finished_at=timezone.now(),
    )
    page = browser(alice).get("/").content.decode()
    assert "50%" in page  # one of two finished runs succeeded
    assert ">1234<" in page  # rows loaded
    assert page.count("<svg") == 2 and "Runs per day by status" in page
    assert "orders load" in page  # slowest jobs, recently failed
    assert "is not a whole number" in page


def test_dashboard_shows_only_the_users_own_runs(bob, finished_run):
    page = browser(bob).get("/").content.decode()
    assert "orders load" not in page and "No failures." in page


# -- credentials ----------------------------------------------------------------------------------
def test_credential_pages_never_show_the_password(alice):
    from credentials.services import credential_create
    from tests.conftest import dest_credential_fields

    credential = credential_create(owner=alice, name="wh", **dest_credential_fields(password="canary-S3cret"))
    client = browser(alice)
    for url in ("/credentials/", f"/credentials/{credential.pk}/", f"/credentials/{credential.pk}/edit/"):
        page = client.get(url).content.decode()
        assert "canary-S3cret" not in page, url
    assert "set (never shown)" in client.get(f"/credentials/{credential.pk}/").content.decode()


def test_create_edit_keeps_the_password_when_left_blank(alice):
    from tests.conftest import dest_credential_fields

    client = browser(alice)
    fields = dest_credential_fields(password="first-pass")
    response = client.post("/credentials/new/", {"name": "wh", **fields})
    credential = Credential.objects.get(name="wh")
    assert response["Location"] == f"/credentials/{credential.pk}/"
    edit = {**fields, "name": "wh2", "password": ""}
    client.post(f"/credentials/{credential.pk}/edit/", edit)
    credential.refresh_from_db()
    assert (credential.name, credential.password) == ("wh2", "first-pass")
    client.post(f"/credentials/{credential.pk}/edit/", {**edit, "password": "second-pass"})
    credential.refresh_from_db()
    assert credential.password == "second-pass"


def test_a_credential_form_error_is_shown_by_its_field(alice):
    response = browser(alice).post("/credentials/new/", {"name": "x", "kind": "postgresql", "database": "d"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "A host is required" in page
    bad_json = browser(alice).post(
        "/credentials/new/", {"name": "x", "kind": "duckdb", "database": "w.duckdb", "extra_options": "{nope"}
    )
    assert "Not JSON" in bad_json.content.decode()


def test_credential_test_and_browse_fragments(alice, existing):
    credential = make_credential(alice)
    client = browser(alice)
    result = htmx(client, "post", f"/credentials/{credential.pk}/test/").content.decode()
    assert "OK" in result and "Connected to PostgreSQL" in result
    schemas = htmx(client, "get", f"/credentials/{credential.pk}/browse/").content.decode()
    assert existing.schema in schemas
    tables = htmx(client, "get", f"/credentials/{credential.pk}/browse/?schema={existing.schema}").content.decode()
    assert "<li>t</li>" in tables


def test_a_credential_in_use_is_not_deleted(alice, job):
    credential = job.destination
    response = browser(alice).post(f"/credentials/{credential.pk}/delete/")
    assert response.status_code == 200 and "is used by jobs: orders load" in response.content.decode()
    assert Credential.objects.filter(pk=credential.pk).exists()


def test_another_users_credential_is_not_found(bob, alice):
    credential = make_credential(alice)
    client = browser(bob)
    for url in ("", "edit/", "delete/", "browse/"):
        assert client.get(f"/credentials/{credential.pk}/{url}").status_code == 404
    assert client.post(f"/credentials/{credential.pk}/test/").status_code == 404
