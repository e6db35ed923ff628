"""A credential's password never appears in an API response, admin page, run event or log line."""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from credentials.models import Credential
from runs.models import RunEvent
from tests.conftest import client_for, dest_credential_fields
from tests.test_api_load import create_job, run_job, upload

pytestmark = pytest.mark.django_db(transaction=True)

CANARY = "canary-Pa55w0rd-7f3e91"


def test_password_is_write_only_and_never_leaks(alice, staff, dest, celery_worker, caplog):
    caplog.set_level(logging.DEBUG)
    client = client_for(alice)
    seen: list[bytes] = []

    created = client.post("/api/credentials/", {"name": "w", **dest_credential_fields(CANARY)}, format="json")
    seen.append(created.content)
    assert created.status_code == 201
    assert created.json()["has_password"] is True
    credential_id = created.json()["id"]
    seen.append(client.get("/api/credentials/").content)
    seen.append(client.get(f"/api/credentials/{credential_id}/").content)
    seen.append(client.post(f"/api/credentials/{credential_id}/test/").content)

    # A change without a password keeps the stored one.
    renamed = client.patch(f"/api/credentials/{credential_id}/", {"name": "renamed"}, format="json")
    seen.append(renamed.content)
    assert Credential.objects.get(pk=credential_id).password == CANARY

    # Encrypted at rest: the raw column holds ciphertext.
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM credentials_credential WHERE id = %s", [credential_id])
        raw = cursor.fetchone()[0]
    assert CANARY not in raw and raw.startswith("gAAAA")  # a Fernet token

    # A run with it (the test server trusts the connection; the password is still sent).
    uploaded = upload(client, "order_id,customer,amount,ordered_on,paid\n1,a,1,2026-01-01,yes\n")
    job = create_job(client, source=uploaded["id"], destination=credential_id, schema=dest.schema)
    run = run_job(client, job["id"])
    assert run.status == "SUCCEEDED", run.error_message
    seen.append(client.get(f"/api/runs/{run.pk}/").content)
    seen.append(client.get(f"/api/runs/{run.pk}/events/").content)
    seen.append(client.get("/api/schema/").content)

    # Admin pages a staff member opens.
    admin = client_for(staff)
    for url in (
        "/admin/credentials/credential/",
        f"/admin/credentials/credential/{credential_id}/change/",
        f"/admin/runs/jobrun/{run.pk}/change/",
        "/admin/runs/runevent/",
    ):
        page = admin.get(url)
        assert page.status_code == 200, url
        seen.append(page.content)
    # The admin "Test connection" action reports its result as a message.
    action = admin.post(
        "/admin/credentials/credential/",
        {"action": "test_connection", "_selected_action": [credential_id]},
        follow=True,
    )
    assert b"Connected to PostgreSQL" in action.content
    seen.append(action.content)

    for body in seen:
        assert CANARY.encode() not in body
    events = " ".join(RunEvent.objects.values_list("message", flat=True))
    assert CANARY not in events
    assert CANARY not in caplog.text
    assert CANARY not in celery_worker.output()


def test_failed_connection_message_never_carries_the_password(alice):
    client = client_for(alice)
    fields = {**dest_credential_fields(CANARY), "host": "127.0.0.1", "port": 1}
    credential = client.post("/api/credentials/", {"name": "down", **fields}, format="json").json()

    result = client.post(f"/api/credentials/{credential['id']}/test/")

    assert result.json()["ok"] is False
    assert "127.0.0.1:1" in result.json()["message"]
    assert CANARY.encode() not in result.content


def test_admin_edits_keep_or_replace_the_password_without_showing_it(staff):
    admin = client_for(staff)
    fields = dest_credential_fields()
    form = {
        "name": "via admin",
        "kind": "postgresql",
        "host": fields["host"],
        "port": fields["port"],
        "database": fields["database"],
        "username": fields["username"],
        "new_password": CANARY,
        "sslmode": "disable",
        "extra_options": "{}",
        "owner": staff.pk,
    }
    added = admin.post("/admin/credentials/credential/add/", form)
    assert added.status_code == 302, added.content[:2000]
    credential = Credential.objects.get(name="via admin")
    assert credential.password == CANARY

    page = admin.get(f"/admin/credentials/credential/{credential.pk}/change/")
    assert CANARY.encode() not in page.content

    admin.post(f"/admin/credentials/credential/{credential.pk}/change/", {**form, "new_password": "", "host": "db2"})
    credential.refresh_from_db()
    assert (credential.host, credential.password) == ("db2", CANARY)
