"""Helpers for the page tests: a logged-in browser-like client and the steps of the wizard."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

ORDERS_CSV = (
    "Order ID,Customer,Amount,Quantity,Ordered On,Country\n"
    "1,  alice  ,10.50,2,2026-01-05,US\n"
    "2,bob,3.25,4,2026-01-06,NA\n"
    "3,carol,7.00,1,2026-01-07,DE\n"
)


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def htmx(client: Client, method: str, url: str, data=None, **extra):
    """A request as htmx sends it (HX-Request), so views answer with their fragment."""
    return getattr(client, method)(url, data or {}, HTTP_HX_REQUEST="true", **extra)


def start_wizard(client: Client, content: str = ORDERS_CSV, name: str = "orders.csv") -> int:
    """Upload a file through the wizard's first step; returns the draft's id."""
    response = client.post("/new/", {"file": SimpleUploadedFile(name, content.encode())})
    assert response.status_code == 302, response.content.decode()[:2000]
    # /new/<draft>/file/
    return int(response["Location"].strip("/").split("/")[1])


def mapping_post(rows: list[dict]) -> dict:
    """The mapping step's form fields for these rows (each a mapping dict, plus include)."""
    data = {}
    for index, row in enumerate(rows):
        for key, value in row.items():
            if isinstance(value, bool):
                if value:
                    data[f"m-{index}-{key}"] = "on"
            else:
                data[f"m-{index}-{key}"] = value
    return data
