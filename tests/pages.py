"""Helpers for the page tests: a logged-in browser-like client and the steps of the wizard."""

from __future__ import annotations

from html.parser import HTMLParser

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


def get_counting_queries(client: Client, url: str) -> tuple[str, int]:
    """The page at url, and how many database queries serving it took."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        page = client.get(url).content.decode()
    return page, len(queries)


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


class _FormFields(HTMLParser):
    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.fields = form_id, False, {}
        self._select, self._textarea, self._first_option = None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") not in ("checkbox", "radio") or "checked" in attrs:
                self.fields[name] = attrs.get("value") or ("on" if attrs.get("type") == "checkbox" else "")
        elif tag == "select":
            self._select, self._first_option = name, None
        elif tag == "option" and self._select:
            if self._first_option is None:
                self._first_option = attrs.get("value", "")
                self.fields.setdefault(self._select, self._first_option)
            if "selected" in attrs:
                self.fields[self._select] = attrs.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data


def form_fields(page: str, form_id: str) -> dict[str, str]:
    """What a browser would submit from the form with this id, as the page renders it."""
    parser = _FormFields(form_id)
    parser.feed(page)
    return parser.fields
