"""Users see and act only on their own objects through the API; staff see all."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from jobs.models import Upload
from runs.models import JobRun
from tests.conftest import client_for
from tests.factories import make_credential, make_job, make_upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def bobs(bob):
    """Bob's credential, upload, job and run."""
    credential = make_credential(bob, name="bob's warehouse")
    job = make_job(bob, credential=credential)
    with transaction.atomic():
        run = JobRun.objects.create(job=job)
    return {"credentials": credential, "uploads": job.source, "jobs": job, "runs": run}


@pytest.mark.parametrize("kind", ["credentials", "uploads", "jobs", "runs"])
def test_alice_cannot_see_bobs_objects(alice, bobs, kind):
    client = client_for(alice)

    assert client.get(f"/api/{kind}/{bobs[kind].pk}/").status_code == 404
    assert client.get(f"/api/{kind}/").json()["results"] == []


@pytest.mark.parametrize("kind", ["credentials", "jobs"])
def test_alice_cannot_change_bobs_objects(alice, bobs, kind):
    client = client_for(alice)

    assert client.patch(f"/api/{kind}/{bobs[kind].pk}/", {"name": "mine now"}, format="json").status_code == 404
    assert type(bobs[kind]).objects.get(pk=bobs[kind].pk).name != "mine now"


@pytest.mark.parametrize("kind", ["credentials", "uploads", "jobs"])
def test_alice_cannot_delete_bobs_objects(alice, bobs, kind):
    client = client_for(alice)

    assert client.delete(f"/api/{kind}/{bobs[kind].pk}/").status_code == 404
    assert type(bobs[kind]).objects.filter(pk=bobs[kind].pk).exists()


def test_alice_cannot_run_bobs_job_test_his_credential_or_read_his_run_log(alice, bobs):
    client = client_for(alice)

    assert client.post(f"/api/jobs/{bobs['jobs'].pk}/run/").status_code == 404
    assert client.post(f"/api/credentials/{bobs['credentials'].pk}/test/").status_code == 404
    assert client.get(f"/api/runs/{bobs['runs'].pk}/events/").status_code == 404
    assert JobRun.objects.filter(job=bobs["jobs"]).count() == 1


def test_alice_cannot_point_her_job_at_bobs_credential_or_upload(alice, bobs):
    client = client_for(alice)
    own_upload = make_upload(alice)
    own_credential = make_credential(alice)
    mapping = [{"source_column": "id", "destination_column": "id", "destination_type": "integer"}]
    base = {"name": "sneaky", "table": "t", "mappings": mapping}

    with_bobs_credential = client.post(
        "/api/jobs/", {**base, "source": own_upload.pk, "destination": bobs["credentials"].pk}, format="json"
    )
    with_bobs_upload = client.post(
        "/api/jobs/", {**base, "source": bobs["uploads"].pk, "destination": own_credential.pk}, format="json"
    )

    assert with_bobs_credential.status_code == 400
    assert "destination" in with_bobs_credential.json()
    assert with_bobs_upload.status_code == 400
    assert "source" in with_bobs_upload.json()


def test_staff_see_everyones_objects(staff, bobs):
    client = client_for(staff)

    for kind in ("credentials", "uploads", "jobs", "runs"):
        assert client.get(f"/api/{kind}/{bobs[kind].pk}/").status_code == 200


def test_anonymous_requests_are_refused_and_tokens_work(alice):
    anonymous = APIClient()
    response = anonymous.get("/api/jobs/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"

    token = Token.objects.create(user=alice)
    with_token = APIClient()
    with_token.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert with_token.get("/api/jobs/").status_code == 200


def test_openapi_schema_and_docs_are_served(alice):
    client = client_for(alice)

    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/uploads/", "/api/credentials/{id}/test/", "/api/jobs/{id}/run/", "/api/runs/{id}/events/"} <= set(
        paths
    )
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn" not in docs.content.lower()  # assets come from this server (sidecar), not a CDN


def test_openapi_schema_is_valid_and_has_no_generator_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))

    assert "/api/jobs/{id}/run/" in (tmp_path / "schema.yml").read_text()


def test_deleting_a_credential_in_use_is_refused_with_the_job_named(alice):
    job = make_job(alice, table="orders")
    client = client_for(alice)

    response = client.delete(f"/api/credentials/{job.destination_id}/")

    assert response.status_code == 400
    assert response.json() == {
        "detail": ["Credential 'warehouse for orders' is used by jobs: load orders. Change or delete them first."]
    }


def test_an_upsert_without_keys_and_a_budget_ratio_over_one_are_refused_when_saved(alice):
    client = client_for(alice)
    upload = make_upload(alice)
    body = {
        "name": "j",
        "source": upload.pk,
        "destination": make_credential(alice).pk,
        "table": "t",
        "load_strategy": "UPSERT",
        "max_rejected_ratio": 1.5,
        "mappings": [{"source_column": "id", "destination_column": "id"}],
    }

    response = client.post("/api/jobs/", body, format="json")

    assert response.status_code == 400
    errors = response.json()
    assert errors["upsert_keys"] == ["An UPSERT needs its key columns: the destination columns that identify a row."]
    assert errors["max_rejected_ratio"] == ["A share of the rows read, from 0 to 1 (0.01 is 1%)."]


def test_duckdb_files_are_confined_to_duckdb_dir(alice, settings):
    client = client_for(alice)

    for outside in ("/etc/passwd", "../../escape.duckdb", ""):
        response = client.post(
            "/api/credentials/", {"name": f"d{outside}", "kind": "duckdb", "database": outside}, format="json"
        )
        assert response.status_code == 400, outside
        assert "database" in response.json()
    inside = client.post("/api/credentials/", {"name": "ok", "kind": "duckdb", "database": "w.duckdb"}, format="json")
    assert inside.status_code == 201
    tested = client.post(f"/api/credentials/{inside.json()['id']}/test/").json()
    assert tested["ok"] is True and "w.duckdb does not exist yet" in tested["message"]
    assert str(settings.DUCKDB_DIR) not in tested["message"]  # no server paths in messages


def test_things_in_use_cannot_be_deleted_or_changed_under_a_job(alice):
    client = client_for(alice)
    job = make_job(alice, table="orders")
    JobRun.objects.create(job=job, status="RUNNING")

    job_delete = client.delete(f"/api/jobs/{job.pk}/")
    upload_delete = client.delete(f"/api/uploads/{job.source_id}/")
    kind_change = client.patch(f"/api/credentials/{job.destination_id}/", {"kind": "redshift"}, format="json")

    assert job_delete.status_code == 400
    assert "has a run in progress" in job_delete.json()["detail"][0]
    assert upload_delete.status_code == 400
    assert "is the source of job(s) load orders" in upload_delete.json()["detail"][0]
    assert kind_change.status_code == 400
    assert "its kind cannot change" in kind_change.json()["kind"][0]


def test_bad_query_and_option_values_are_400_not_500(alice):
    client = client_for(alice)
    fields = {"name": "x", "kind": "postgresql", "host": "h", "database": "d", "username": "u"}

    assert client.get("/api/runs/?job=\u00b2").status_code == 400
    assert client.get("/api/runs/?status=LOST").status_code == 400
    nested = client.post("/api/credentials/", {**fields, "extra_options": {"connect_timeout": [1]}}, format="json")
    assert nested.status_code == 400
    assert nested.json()["extra_options"] == ["Option(s) connect_timeout must be a string or a whole number."]
    port = client.post("/api/credentials/", {**fields, "port": 70000}, format="json")
    assert port.status_code == 400
    huge = client.post(
        "/api/jobs/",
        {"name": "j", "table": "t", "destination": make_credential(alice).pk,
         "mappings": [{"source_column": "a", "destination_column": "a", "destination_type": "varchar(99999999999)"}]},
        format="json",
    )  # fmt: skip
    assert huge.status_code == 400


def test_an_upload_over_the_size_limit_is_refused_with_413_and_not_stored(alice, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    client = client_for(alice)

    small = client.post("/api/uploads/", {"file": SimpleUploadedFile("ok.csv", b"a\n" * 400)}, format="multipart")
    big = client.post("/api/uploads/", {"file": SimpleUploadedFile("big.csv", b"a\n" * 600)}, format="multipart")
    huge = client.post("/api/uploads/", {"file": SimpleUploadedFile("huge.csv", b"a\n" * 60_000)}, format="multipart")

    assert small.status_code == 201
    assert big.status_code == 413
    assert big.json() == {"detail": "The file is 1.2 KB; the largest upload allowed is 1.0 KB (UPLOAD_MAX_BYTES)."}
    assert huge.status_code == 413  # refused from its Content-Length
    assert "the largest upload allowed is 1.0 KB" in huge.json()["detail"]
    assert Upload.objects.count() == 1
