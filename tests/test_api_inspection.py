"""Inspecting an upload through the API: detection, overrides, preview pages, the worker's full pass."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs import services
from jobs.models import Upload
from tests.conftest import client_for, wait_until
from tests.factories import make_upload

ORDERS = (
    "Order ID;Customer Name;Ordered On;Amount;Country\n"
    "1;Ada;2026-01-02;12.50;NA\n"
    "2;Grace;2026-01-03;7.25;DE\n"
    "3;Alan;2026-01-04;0.10;FR\n"
)


def upload(client, content: bytes, name: str = "orders.csv") -> int:
    response = client.post("/api/uploads/", {"file": SimpleUploadedFile(name, content)}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.django_db
def test_inspection_reports_encoding_dialect_header_columns_and_preview(alice):
    client = client_for(alice)
    upload_id = upload(client, ORDERS.encode())

    inspection = client.get(f"/api/uploads/{upload_id}/inspection/").json()

    assert inspection["encoding"]["codec"] == "utf-8"
    assert inspection["dialect"]["delimiter"] == ";"
    assert inspection["header"] is True
    assert [c["name"] for c in inspection["columns"]] == [
        "order_id",
        "customer_name",
        "ordered_on",
        "amount",
        "country",
    ]
    assert [c["original_name"] for c in inspection["columns"]][:2] == ["Order ID", "Customer Name"]
    types = {c["name"]: c["type"] for c in inspection["columns"]}
    assert types["order_id"] == "smallint"
    assert types["ordered_on"] == "date"
    assert types["amount"].startswith("numeric(")
    assert types["country"] == "text"
    country = inspection["columns"][4]
    assert country["null_count"] == 0  # "NA" is a country here, not a null
    assert inspection["row_count"] == 3 and inspection["confirmed"] is True
    assert inspection["preview"]["rows"][0] == {"line": 2, "fields": ["1", "Ada", "2026-01-02", "12.50", "NA"]}
    assert inspection["problems"] == [] and inspection["loadable"] is True
    assert inspection["scan"] == {"status": "done", "progress": 1.0}


@pytest.mark.django_db
def test_overrides_change_the_result_and_type_conflicts_are_listed_with_lines(alice):
    client = client_for(alice)
    upload_id = upload(client, ORDERS.encode())

    overridden = client.post(
        f"/api/uploads/{upload_id}/inspection/",
        {"null_markers": ["", "NA"], "column_types": {"customer_name": "integer"}},
        format="json",
    ).json()

    columns = {c["name"]: c for c in overridden["columns"]}
    assert columns["country"]["null_count"] == 1
    assert columns["customer_name"]["type"] == "integer" and columns["customer_name"]["overridden"] is True
    assert columns["customer_name"]["conflict_count"] == 3
    assert columns["customer_name"]["conflicts"][0] == {
        "line": 2,
        "value": "Ada",
        "reason": "is not a whole number (integer)",
    }
    assert overridden["options"] == {"null_markers": ["", "NA"], "column_types": {"customer_name": "integer"}}


@pytest.mark.django_db
def test_bad_overrides_are_400_naming_the_option(alice):
    client = client_for(alice)
    upload_id = upload(client, ORDERS.encode())

    response = client.post(
        f"/api/uploads/{upload_id}/inspection/",
        {"encoding": "klingon", "delimiter": ";;", "column_types": {"amount": "money"}},
        format="json",
    )

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"encoding", "delimiter", "column_types"}


@pytest.mark.django_db
def test_an_empty_file_is_refused_at_upload_and_explained_by_inspection(alice):
    client = client_for(alice)
    refused = client.post("/api/uploads/", {"file": SimpleUploadedFile("e.csv", b"")}, format="multipart")
    assert refused.status_code == 400
    assert refused.json() == {"file": ["The submitted file is empty."]}
    upload_id = make_upload(alice, "").pk  # stored some other way: inspection still explains it

    inspection = client.get(f"/api/uploads/{upload_id}/inspection/").json()

    assert inspection["loadable"] is False
    assert inspection["problems"] == [{"line": 1, "reason": "the file is empty", "severity": "error"}]
    assert client.get(f"/api/uploads/{upload_id}/preview/").json()["rows"] == []


@pytest.mark.django_db
def test_preview_pages_through_the_file_with_line_numbers(alice):
    client = client_for(alice)
    body = "id,name\n" + "".join(f"{i},row {i}\n" for i in range(1, 1001))
    upload_id = upload(client, body.encode())

    page = client.get(f"/api/uploads/{upload_id}/preview/?page=3&page_size=100").json()
    last = client.get(f"/api/uploads/{upload_id}/preview/?page=10&page_size=100").json()

    assert page["rows"][0] == {"line": 202, "fields": ["201", "row 201"]}
    assert len(page["rows"]) == 100 and page["has_next"] is True
    assert last["rows"][-1] == {"line": 1001, "fields": ["1000", "row 1000"]}
    assert last["has_next"] is False
    assert client.get(f"/api/uploads/{upload_id}/preview/?page=0").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_a_large_upload_is_confirmed_by_the_worker(alice, celery_worker, monkeypatch):
    monkeypatch.setattr(services, "SYNC_CONFIRM_BYTES", 1000)
    client = client_for(alice)
    rows = "".join(f"{i},{i * 3}.5,2026-02-{1 + i % 28:02d}\n" for i in range(1, 50_001))
    upload_id = upload(client, ("id,value,day\n" + rows + "x,1.5,2026-02-01\n").encode(), "big.csv")

    first = client.get(f"/api/uploads/{upload_id}/inspection/").json()
    assert first["scan"]["status"] == "queued"
    assert first["confirmed"] is False
    wait_until(lambda: Upload.objects.get(pk=upload_id).scan_status == "done", 60, "the worker's full pass")

    confirmed = client.get(f"/api/uploads/{upload_id}/inspection/").json()
    assert confirmed["confirmed"] is True and confirmed["row_count"] == 50_001
    identifier = confirmed["columns"][0]
    assert identifier["type"] == "integer"
    assert identifier["conflicts"] == [{"line": 50_002, "value": "x"}]
    page = client.get(f"/api/uploads/{upload_id}/preview/?page=500&page_size=100").json()
    assert page["rows"][0] == {"line": 49_902, "fields": ["49901", "149703.5", f"2026-02-{1 + 49901 % 28:02d}"]}


@pytest.mark.django_db
def test_a_non_utf8_byte_past_the_sample_is_found_by_the_full_pass_with_advice(alice):
    client = client_for(alice)
    ascii_rows = "".join(f"{i},plain ascii row number {i}\n" for i in range(1, 40_001))  # more than 1 MiB
    content = ("id,name\n" + ascii_rows).encode() + "40001,Müller\n".encode("cp1252")
    upload_id = upload(client, content, "late.csv")

    inspection = client.get(f"/api/uploads/{upload_id}/inspection/").json()

    assert inspection["encoding"]["codec"] == "utf-8"  # all the first MiB could tell
    assert inspection["loadable"] is False
    assert inspection["problems"][0]["line"] == 40_002
    assert inspection["problems"][0]["reason"].startswith("byte 0xfc cannot be decoded as utf-8")
    assert 'choose it ({"encoding": "cp1252"})' in inspection["problems"][1]["reason"]
    fixed = client.post(f"/api/uploads/{upload_id}/inspection/", {"encoding": "cp1252"}, format="json").json()
    assert fixed["loadable"] is True and fixed["row_count"] == 40_001


@pytest.mark.django_db
def test_option_values_of_the_wrong_kind_are_400_not_500(alice):
    client = client_for(alice)
    upload_id = upload(client, ORDERS.encode())

    for body, field in [
        ({"delimiter": 5}, "delimiter"),
        ({"encoding": 5}, "encoding"),
        ({"encoding": "rot13"}, "encoding"),
        ({"encoding": "idna"}, "encoding"),
        ({"header": "false"}, "header"),
        ({"null_markers": "NA"}, "null_markers"),
        ({"column_types": ["x"]}, "column_types"),
    ]:
        response = client.post(f"/api/uploads/{upload_id}/inspection/", body, format="json")
        assert response.status_code == 400, body
        assert field in response.json(), body


@pytest.mark.django_db
def test_no_null_markers_and_no_quote_character_are_choices_that_stick(alice):
    client = client_for(alice)
    upload_id = upload(client, b'id,name\n1,""\n2,NULL\n')

    result = client.post(
        f"/api/uploads/{upload_id}/inspection/", {"null_markers": [], "quotechar": ""}, format="json"
    ).json()

    assert result["options"] == {"null_markers": [], "quotechar": ""}
    assert result["null_markers"] == []
    assert result["dialect"]["quotechar"] == ""
    assert result["preview"]["rows"][0]["fields"] == ["1", '""']  # quotes are data now
    assert result["columns"][1]["null_count"] == 0


@pytest.mark.django_db
def test_far_pages_wait_for_the_index_and_a_stale_pass_writes_nothing(alice, monkeypatch):
    monkeypatch.setattr(services, "SYNC_CONFIRM_BYTES", 1000)
    client = client_for(alice)
    body = "id\n" + "".join(f"{i}\n" for i in range(1, 30_001))
    upload_id = upload(client, body.encode(), "big.csv")
    client.get(f"/api/uploads/{upload_id}/inspection/")  # queued; no worker runs in this test
    first_token = Upload.objects.get(pk=upload_id).scan_token

    far = client.get(f"/api/uploads/{upload_id}/preview/?page=200&page_size=100")
    near = client.get(f"/api/uploads/{upload_id}/preview/?page=2&page_size=100")
    client.post(f"/api/uploads/{upload_id}/inspection/", {"header": True}, format="json")  # a newer pass
    services.upload_confirm(upload_id=upload_id, token=first_token)  # the old pass arrives late

    assert far.status_code == 400
    assert "once the full pass over the file is done (now queued, 0%)" in far.json()["detail"][0]
    assert near.json()["rows"][0] == {"line": 102, "fields": ["101"]}
    current = Upload.objects.get(pk=upload_id)
    assert current.scan_status == "queued" and current.scan_token != first_token
    assert current.inspection["confirmed"] is False  # the stale pass wrote nothing
