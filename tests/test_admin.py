"""The Django admin a staff member works in: lists, filters, search, read-only runs, safe edits."""

from __future__ import annotations

import pytest

from jobs.models import Job
from runs.models import JobRun, RunEvent
from tests.conftest import client_for
from tests.factories import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(alice):
    job = make_job(alice)
    run = JobRun.objects.create(job=job, status="FAILED", error_message="boom", error_line=7, error_column="id")
    RunEvent.objects.create(run=run, message="Failed (line 7, column id): boom", level="error")
    return job


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/credentials/credential/?q=warehouse&kind__exact=postgresql",
        "/admin/jobs/upload/?q=simple",
        "/admin/jobs/job/?q=simple&load_strategy__exact=INSERT",
        "/admin/runs/jobrun/?status__exact=FAILED&q=boom",
        "/admin/runs/runevent/?level__exact=error",
        "/admin/django_celery_beat/periodictask/",
    ],
)
def test_admin_lists_filters_and_search_render(staff, job, url):
    page = client_for(staff).get(url)

    assert page.status_code == 200


def test_run_pages_are_read_only_and_show_the_log(staff, job):
    run = job.runs.get()
    client = client_for(staff)

    page = client.get(f"/admin/runs/jobrun/{run.pk}/change/")

    assert page.status_code == 200
    assert b"Failed (line 7, column id): boom" in page.content
    assert b'name="_save"' not in page.content  # no save button: run data is a record
    assert client.get("/admin/runs/jobrun/add/").status_code == 403
    assert client.post(f"/admin/runs/jobrun/{run.pk}/change/", {"status": "SUCCEEDED"}).status_code == 403
    run.refresh_from_db()
    assert run.status == "FAILED"


def job_admin_form(job, rows, **overrides) -> dict:
    """The POST body of the job change form: job fields, then (mapping, position, changes) rows."""
    form = {
        "name": job.name,
        "owner": job.owner_id,
        "source": job.source_id,
        "destination": job.destination_id,
        "schema": "public",
        "table": job.table,
        "create_table": "on",
        "load_strategy": "INSERT",
        "upsert_keys": "[]",
        "mappings-TOTAL_FORMS": str(len(rows)),
        "mappings-INITIAL_FORMS": str(len(rows)),
        "mappings-MIN_NUM_FORMS": "0",
        "mappings-MAX_NUM_FORMS": "1000",
        **overrides,
    }
    for index, (mapping, position, changes) in enumerate(rows):
        fields = {
            "id": mapping.pk,
            "job": job.pk,
            "position": str(position),
            "source_column": mapping.source_column,
            "destination_column": mapping.destination_column,
            "destination_type": mapping.destination_type,
            "transform": "",
            "nullable": "on",
            **changes,
        }
        form.update({f"mappings-{index}-{name}": value for name, value in fields.items()})
    return form


def test_job_edit_in_admin_is_validated_like_the_api(staff, job):
    mapping = job.mappings.get(position=1)
    form = job_admin_form(job, [(mapping, 1, {"destination_type": "integer("})], upsert_keys='["nope"]')

    page = client_for(staff).post(f"/admin/jobs/job/{job.pk}/change/", form)

    assert page.status_code == 200  # the form again, with errors; not a 500
    assert b"unknown column type" in page.content
    assert b"Key column(s) nope are not mapped destination columns." in page.content
    assert Job.objects.get(pk=job.pk).upsert_keys == []


def test_run_now_action_queues_a_run(staff, job):
    response = client_for(staff).post(
        "/admin/jobs/job/", {"action": "run_now", "_selected_action": [job.pk]}, follow=True
    )

    assert response.status_code == 200
    run = job.runs.order_by("-id").first()
    assert run.status == "PENDING" and run.trigger == "manual"
    assert f"run {run.pk} queued".encode() in response.content


def credential_form(staff, **overrides):
    fields = {
        "name": "via admin",
        "kind": "postgresql",
        "host": "db.internal",
        "port": "5432",
        "database": "analytics",
        "username": "loader",
        "new_password": "",
        "sslmode": "prefer",
        "extra_options": "{}",
        "owner": staff.pk,
    }
    return {**fields, **overrides}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"extra_options": '{"bogus": 1}'}, b"Unsupported option(s) bogus"),
        ({"extra_options": '{"connect_timeout": [1]}'}, b"must be a string or a whole number"),
        ({"port": "70000"}, b"A port is between 1 and 65535."),
        ({"host": ""}, b"A host is required for this kind of database."),
        ({"kind": "duckdb", "database": "/etc/passwd"}, b"A DuckDB database is a file name inside"),
    ],
)
def test_bad_credential_input_in_admin_shows_the_form_again(staff, overrides, message):
    page = client_for(staff).post("/admin/credentials/credential/add/", credential_form(staff, **overrides))

    assert page.status_code == 200
    assert message in page.content


def test_reordering_mappings_in_admin_saves_through_the_service(staff, job):
    first, second = job.mappings.order_by("position")
    form = job_admin_form(job, [(first, 2, {}), (second, 1, {})])

    response = client_for(staff).post(f"/admin/jobs/job/{job.pk}/change/", form)

    assert response.status_code == 302
    assert list(job.mappings.order_by("position").values_list("destination_column", flat=True)) == ["name", "id"]


def test_adding_a_job_in_admin_creates_it_with_its_mappings(staff, job):
    form = job_admin_form(job, [], name="added in admin", table="added")
    form.update(
        {
            "mappings-TOTAL_FORMS": "1",
            "mappings-0-position": "1",
            "mappings-0-source_column": "name",
            "mappings-0-destination_column": "label",
            "mappings-0-destination_type": "VARCHAR(20)",
            "mappings-0-nullable": "on",
        }
    )

    response = client_for(staff).post("/admin/jobs/job/add/", form)

    assert response.status_code == 302
    added = Job.objects.get(name="added in admin")
    assert response["Location"].endswith("/admin/jobs/job/")
    assert list(added.mappings.values_list("destination_column", "destination_type")) == [("label", "varchar(20)")]


def test_a_job_with_a_run_in_progress_cannot_be_deleted_in_admin(staff, job):
    JobRun.objects.create(job=job, status="RUNNING")

    response = client_for(staff).post(f"/admin/jobs/job/{job.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert Job.objects.filter(pk=job.pk).exists()


def test_dry_run_action_queues_a_dry_run(staff, job):
    response = client_for(staff).post(
        "/admin/jobs/job/", {"action": "dry_run", "_selected_action": [job.pk]}, follow=True
    )

    run = job.runs.order_by("-id").first()
    assert run.dry_run is True and run.status == "PENDING"
    assert f"dry run {run.pk} queued".encode() in response.content


def test_cancel_action_and_rejects_download(staff, job):
    from runs.models import RejectedRow

    failed = job.runs.get()
    RejectedRow.objects.create(run=failed, line=4, raw="3,x", column="amount", value="x", reason="is not a number")
    JobRun.objects.filter(pk=failed.pk).update(rows_rejected=1)
    queued = JobRun.objects.create(job=job, status="PENDING")
    client = client_for(staff)

    response = client.post(
        "/admin/runs/jobrun/", {"action": "cancel_runs", "_selected_action": [queued.pk, failed.pk]}, follow=True
    )

    queued.refresh_from_db()
    assert queued.status == "CANCELLED"
    assert f"Run {queued.pk}: cancel requested.".encode() in response.content
    assert f"Run {failed.pk} has already finished (Failed)".encode() in response.content
    page = client.get(f"/admin/runs/jobrun/{failed.pk}/change/")
    assert b"Download 1 rejected rows (CSV)" in page.content and b"is not a number" in page.content
    download = client.get(f"/admin/runs/jobrun/{failed.pk}/rejects.csv")
    assert b"".join(download.streaming_content).decode().splitlines() == [
        "line,column,value,reason,raw",
        '4,amount,x,is not a number,"3,x"',
    ]


def test_each_run_page_lists_its_own_rejects(staff, job):
    from runs.models import RejectedRow

    first, second = job.runs.get(), JobRun.objects.create(job=job, status="SUCCEEDED", rows_rejected=1)
    RejectedRow.objects.create(run=first, line=4, raw="a", column="c", value="v", reason="reason of the first run")
    RejectedRow.objects.create(run=second, line=9, raw="b", column="c", value="w", reason="reason of the second run")

    page = client_for(staff).get(f"/admin/runs/jobrun/{second.pk}/change/")

    assert b"reason of the second run" in page.content
    assert b"reason of the first run" not in page.content
