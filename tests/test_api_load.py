"""The first load path, end to end: API upload -> credential -> job -> run -> worker -> PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from runs.models import JobRun, RunEvent
from tests.conftest import client_for, dest_credential_fields, wait_for_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

ORDERS = (
    "order_id,customer,amount,ordered_on,paid\n"
    "1,  ada lovelace ,12.50,2026-01-02,yes\n"
    '2,"Hopper, Grace",7.25,2026-01-03,no\n'
    "3,alan turing,0.10,2026-01-04,true\n"
)

MAPPINGS = [
    {"source_column": "order_id", "destination_column": "id", "destination_type": "bigint", "nullable": False},
    {"source_column": "customer", "destination_column": "customer", "destination_type": "text", "transform": "trim"},
    {"source_column": "amount", "destination_column": "amount", "destination_type": "numeric(10,2)"},
    {"source_column": "ordered_on", "destination_column": "ordered_on", "destination_type": "date"},
    {"source_column": "paid", "destination_column": "paid", "destination_type": "boolean"},
]


def upload(client, text: str | bytes, name: str = "orders.csv") -> dict:
    content = text.encode() if isinstance(text, str) else text
    response = client.post("/api/uploads/", {"file": SimpleUploadedFile(name, content)}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def create_credential(client, name: str = "warehouse", password: str = "") -> dict:
    response = client.post("/api/credentials/", {"name": name, **dest_credential_fields(password)}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def create_job(client, *, source: int, destination: int, schema: str, table: str = "orders", **extra) -> dict:
    body = {
        "name": f"load {table}",
        "source": source,
        "destination": destination,
        "schema": schema,
        "table": table,
        "create_table": True,
        "mappings": MAPPINGS,
        **extra,
    }
    response = client.post("/api/jobs/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def run_job(client, job_id: int) -> JobRun:
    response = client.post(f"/api/jobs/{job_id}/run/")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "PENDING"
    return wait_for_run(response.json()["id"])


def test_csv_goes_from_api_upload_through_the_worker_into_postgresql(alice, dest):
    client = client_for(alice)
    uploaded = upload(client, ORDERS)
    assert uploaded["size"] == len(ORDERS.encode())
    assert len(uploaded["sha256"]) == 64
    credential = create_credential(client)
    tested = client.post(f"/api/credentials/{credential['id']}/test/").json()
    assert tested["ok"] is True and tested["server_version"]
    job = create_job(client, source=uploaded["id"], destination=credential["id"], schema=dest.schema)

    run = run_job(client, job["id"])

    assert run.status == "SUCCEEDED", run.error_message
    assert (run.rows_read, run.rows_written, run.rows_rejected) == (3, 3, 0)
    assert run.started_at and run.finished_at and run.finished_at >= run.started_at
    rows = dest.execute(
        f'SELECT id, customer, amount, ordered_on, paid FROM "{dest.schema}".orders ORDER BY id'
    ).fetchall()
    assert rows == [
        (1, "ada lovelace", Decimal("12.50"), date(2026, 1, 2), True),
        (2, "Hopper, Grace", Decimal("7.25"), date(2026, 1, 3), False),
        (3, "alan turing", Decimal("0.10"), date(2026, 1, 4), True),
    ]
    column_types = dict(
        dest.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s",
            (dest.schema,),
        ).fetchall()
    )
    assert column_types == {
        "id": "bigint",
        "customer": "text",
        "amount": "numeric",
        "ordered_on": "date",
        "paid": "boolean",
    }

    api_run = client.get(f"/api/runs/{run.pk}/").json()
    assert api_run["status"] == "SUCCEEDED" and api_run["rows_written"] == 3
    messages = [event["message"] for event in client.get(f"/api/runs/{run.pk}/events/").json()["results"]]
    assert messages[0].startswith("Queued (api) by alice")
    assert any(m.startswith("Creating table") for m in messages)
    assert any(m.startswith("Wrote 3 rows") for m in messages)
    assert messages[-1] == "Succeeded"


def test_a_second_run_appends_and_counts_exactly(alice, dest):
    client = client_for(alice)
    credential = create_credential(client)
    rows = [["order_id", "customer", "amount", "ordered_on", "paid"]]
    rows += [[str(i), f"customer {i}", f"{i}.99", "2026-02-01", "no"] for i in range(1, 2501)]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    uploaded = upload(client, buffer.getvalue(), "big.csv")
    job = create_job(client, source=uploaded["id"], destination=credential["id"], schema=dest.schema)

    first = run_job(client, job["id"])
    second = run_job(client, job["id"])

    assert (first.status, second.status) == ("SUCCEEDED", "SUCCEEDED")
    assert second.rows_written == 2500
    count, total = dest.execute(f'SELECT count(*), sum(amount) FROM "{dest.schema}".orders').fetchone()
    assert count == 5000
    assert total == 2 * sum(Decimal(f"{i}.99") for i in range(1, 2501))
    assert RunEvent.objects.filter(run=second, phase="prepare").count() == 0  # the table already existed


def test_the_load_reads_the_file_as_inspected_encoding_delimiter_and_null_markers(alice, dest):
    client = client_for(alice)
    text = "Kunde Name;Betrag;Land\r\nJürgen „Jo“ Müller;12,50 €;DE\r\nZoë;NULL;NA\r\n"
    uploaded = upload(client, text.encode("cp1252"), "kunden.csv")
    inspection = client.get(f"/api/uploads/{uploaded['id']}/inspection/").json()
    assert inspection["encoding"]["codec"] == "cp1252"
    assert inspection["dialect"]["delimiter"] == ";"
    credential = create_credential(client)
    mappings = [
        {"source_column": "kunde_name", "destination_column": "name", "destination_type": "text"},
        {"source_column": "Betrag", "destination_column": "betrag", "destination_type": "text"},
        {"source_column": "land", "destination_column": "land", "destination_type": "varchar(2)"},
    ]

    job = create_job(client, source=uploaded["id"], destination=credential["id"], schema=dest.schema, mappings=mappings)
    run = run_job(client, job["id"])

    assert run.status == "SUCCEEDED", run.error_message
    rows = dest.execute(f'SELECT name, betrag, land FROM "{dest.schema}".orders ORDER BY name').fetchall()
    assert rows == [("Jürgen „Jo“ Müller", "12,50 €", "DE"), ("Zoë", None, "NA")]
    log = " ".join(run.events.values_list("message", flat=True))
    assert "Reading as cp1252, semicolon-delimited, with a header row" in log
