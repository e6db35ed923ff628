"""Jobs through the API: mappings with transforms and calculated columns, validated when saved and previewed."""

from __future__ import annotations

import pytest

from tests.conftest import client_for
from tests.factories import make_credential, make_upload

pytestmark = pytest.mark.django_db

ORDERS = (
    "Order ID,Unit Price,qty,code,when\n"
    "1,2.50,4,ab-12,31/01/2026\n"
    "2,1.25,0,cd-34,29/02/2026\n"
    "3,oops,2,ef-56,01/03/2026\n"
)


def job_body(alice, mappings, **extra):
    return {
        "name": "orders",
        "source": make_upload(alice, ORDERS, name="orders.csv").pk,
        "destination": make_credential(alice).pk,
        "table": "orders",
        "create_table": True,
        "mappings": mappings,
        **extra,
    }


MAPPINGS = [
    {"source_column": "Order ID", "destination_column": "id", "destination_type": "bigint"},
    {"source_column": "unit_price", "destination_column": "price", "destination_type": "numeric(8,2)"},
    {"source_column": "qty", "destination_column": "qty", "destination_type": "integer"},
    {
        "source_column": "code",
        "destination_column": "code",
        "transform": "regex_extract",
        "transform_args": {"pattern": "[a-z]+-([0-9]+)"},
        "destination_type": "integer",
    },
    {"source_column": "when", "destination_column": "day", "destination_type": "date", "format": "%d/%m/%Y"},
    {"destination_column": "total", "destination_type": "numeric(10,2)", "expression": "price * qty"},
    # `code` is the destination column (the integer 12), which wins over the source column.
    {"destination_column": "label", "expression": "concat(upper(substring(when, 4, 2)), '-', str(code), '#', str(id))"},
]


def test_an_unknown_name_or_bad_syntax_in_an_expression_is_refused_when_saved(alice):
    client = client_for(alice)
    mappings = [
        {"source_column": "qty", "destination_column": "qty", "destination_type": "integer"},
        {"destination_column": "total", "destination_type": "numeric(10,2)", "expression": "qty * unit_prize"},
        {"destination_column": "bad", "expression": "qty *"},
        {"destination_column": "evil", "expression": "().__class__"},
    ]

    response = client.post("/api/jobs/", job_body(alice, mappings), format="json")

    assert response.status_code == 400
    problems = response.json()["mappings"]
    assert len(problems) == 3
    assert problems[0].startswith("Column 'total': ") and "unit_prize" in problems[0]
    assert "unit_price" in problems[0]  # the names it could have meant are listed
    assert problems[1].startswith("Column 'bad': ")
    assert problems[2].startswith("Column 'evil': ")


def test_preview_shows_output_values_and_rejected_rows_with_their_reason(alice):
    client = client_for(alice)
    created = client.post("/api/jobs/", job_body(alice, MAPPINGS), format="json")
    assert created.status_code == 201, created.content

    preview = client.get(f"/api/jobs/{created.json()['id']}/preview/").json()

    assert preview["columns"] == ["id", "price", "qty", "code", "day", "total", "label"]
    first, second, third = preview["rows"]
    assert first == {
        "line": 2,
        "values": {
            "id": "1",
            "price": "2.50",
            "qty": "4",
            "code": "12",
            "day": "2026-01-31",
            "total": "10.00",
            "label": "01-12#1",
        },
    }
    assert second["line"] == 3 and second["column"] == "when" and "29/02/2026" in second["value"]
    assert third["line"] == 4 and third["column"] == "unit_price" and third["value"] == "oops"


def test_preview_rows_must_be_a_small_whole_number(alice):
    client = client_for(alice)
    created = client.post("/api/jobs/", job_body(alice, MAPPINGS[:1]), format="json").json()

    assert client.get(f"/api/jobs/{created['id']}/preview/?rows=500").status_code == 400
    assert client.get(f"/api/jobs/{created['id']}/preview/?rows=x").status_code == 400


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("transform_args", "ab", "Column 'id': transform_args is an object"),
        ("transform_args", 5, "Column 'id': transform_args is an object"),
        ("true_words", "si", "Column 'id': true_words is a list of words"),
        ("false_words", [1], "Column 'id': false_words is a list of words"),
    ],
)
def test_mapping_options_of_the_wrong_shape_are_a_400(alice, field, value, message):
    mapping = {"source_column": "Order ID", "destination_column": "id", "destination_type": "bigint", field: value}

    response = client_for(alice).post("/api/jobs/", job_body(alice, [mapping]), format="json")

    assert response.status_code == 400
    assert response.json()["mappings"][0].startswith(message)
