"""The product in a real browser: Debian's Chromium, driven by Playwright, against daphne serving the
ASGI application, a real Celery worker, the Redis channel layer and a PostgreSQL destination.

Screenshots of each wizard step and of the run page are saved in test-artifacts/screenshots/
(git-ignored) for a person to look at.
"""

from __future__ import annotations

import re

import pytest

from jobs.models import Job
from runs.models import JobRun, RunStatus
from tests.conftest import SCREENSHOTS
from tests.factories import make_credential, make_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

ORDERS = (
    "Order ID,Customer,Amount,Quantity,ZIP\n"
    "1,  alice  ,10.50,2,02134\n"
    "2,bob,3.25,4,10001\n"
    "3,carol,7.00,1,94105\n"
    "4,dave,1.10,10,60601\n"
)


def log_in(page, username: str, password: str) -> None:
    """Log in through the login page. The tests hash passwords with MD5 for speed, which the web
    server (real settings) does not verify: the password is stored as PBKDF2 first (few iterations)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    get_user_model().objects.filter(username=username).update(
        password=hasher.encode(password, hasher.salt(), iterations=1000)
    )
    page.goto(f"{page.base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{page.base}/")


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_csv_goes_through_the_wizard_and_loads_while_the_run_page_watches(page, alice, dest, tmp_path):
    make_credential(alice, name="warehouse")
    source = tmp_path / "orders.csv"
    source.write_text(ORDERS)
    log_in(page, "alice", "alice-password-1")

    # 1. Upload.
    page.click("nav >> text=New load")
    shot(page, "1-upload")
    page.set_input_files("#id_file", str(source))
    page.click("button:has-text('Upload and inspect')")
    page.wait_for_url(re.compile(r"/new/\d+/file/$"))

    # 2. The file: what was detected, and an override of a detected type.
    assert page.is_visible("text=utf-8")
    zip_header = page.locator("th", has_text="ZIP")
    assert "text" in zip_header.inner_text()  # zero-padded codes stay text
    page.select_option("select[name='type-quantity']", "bigint")
    page.click("button:has-text('Apply changes')")
    page.wait_for_function("document.querySelector(\"select[name='type-quantity']\").value === 'bigint'")
    shot(page, "2-file")
    page.click("button:has-text('Next: destination')")
    page.wait_for_url(re.compile(r"/destination/$"))

    # 3. The destination: a stored credential, the schema read live, a new table.
    page.wait_for_selector(f"#browse >> text={dest.schema}")
    page.fill("#id_schema", dest.schema)
    page.fill("#id_table", "orders")
    page.click("button:has-text('Test connection')")
    page.wait_for_selector("#test-result >> text=OK")
    shot(page, "3-destination")
    page.click("button:has-text('Next: mapping')")
    page.wait_for_url(re.compile(r"/mapping/$"))

    # 4. Mapping: a transform and a calculated column, checked live on the first rows.
    row = page.locator("#mapping-rows tr", has=page.locator("select[name$='-source_column'] >> nth=0")).nth(1)
    row.locator("select[name$='-transform']").select_option("trim")
    page.click("button:has-text('+ Calculated column')")
    page.wait_for_selector("#mapping-rows textarea[name$='-expression']")
    new_row = page.locator("#mapping-rows tr", has=page.locator("textarea"))
    new_row.locator("input[name$='-destination_column']").fill("total")
    new_row.locator("textarea[name$='-expression']").fill("amount * quantiy")
    page.wait_for_selector("#mapping-preview >> text=quantiy")  # the typo, explained
    new_row.locator("textarea[name$='-expression']").fill("amount * quantity")
    page.wait_for_selector("#mapping-preview >> text=21.00")  # 10.50 * 2
    assert page.locator("#mapping-preview td", has_text=re.compile(r"^alice$")).count() == 1
    shot(page, "4-mapping")
    page.click("button:has-text('Next: strategy')")
    page.wait_for_url(re.compile(r"/strategy/$"))

    # 5. Strategy, with the table's DDL shown before anything happens.
    assert "CREATE TABLE" in page.inner_text("#ddl")
    shot(page, "5-strategy")
    page.click("button:has-text('Next: review')")
    page.wait_for_url(re.compile(r"/review/$"))

    # 6. Review: the plan in words, a dry run on the worker, then run it.
    assert page.is_visible(f"text=Create table {dest.schema}.orders with 6 columns; insert 4 rows")
    page.click("button:has-text('Dry run')")
    page.wait_for_selector("#dry-run >> text=Would load", timeout=60_000)
    shot(page, "6-review")
    page.fill("#id_name", "orders from the browser")
    page.click("button:has-text('Run now')")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))

    # 7. The run page follows the run live: no reload (the marker survives) until SUCCEEDED.
    page.evaluate("window.__same_page = true")
    page.wait_for_selector("[data-status='SUCCEEDED']", timeout=90_000)
    assert page.evaluate("window.__same_page === true")
    page.wait_for_selector("#run-log >> text=Committing")
    shot(page, "7-run")

    run = JobRun.objects.get(job__name="orders from the browser", dry_run=False)
    assert (run.status, run.rows_written, run.rows_rejected) == (RunStatus.SUCCEEDED, 4, 0)
    rows = dest.execute(
        f'SELECT order_id, customer, amount, quantity, zip, total FROM "{dest.schema}".orders ORDER BY 1'
    )
    assert [tuple(map(str, row)) for row in rows.fetchall()] == [
        ("1", "alice", "10.50", "2", "02134", "21.00"),
        ("2", "bob", "3.25", "4", "10001", "13.00"),
        ("3", "carol", "7.00", "1", "94105", "7.00"),
        ("4", "dave", "1.10", "10", "60601", "11.00"),
    ]
    quantity_type = dest.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = 'orders' "
        "AND column_name = 'quantity'",
        (dest.schema,),
    ).fetchone()[0]
    assert quantity_type == "bigint"  # the type chosen over the inferred one
    assert page.errors == []


def test_a_malformed_file_shows_the_line_numbered_problem_in_the_wizard(page, alice, tmp_path):
    source = tmp_path / "broken.csv"
    source.write_bytes(b'id,note\n1,"fine, quoted"\n2,ok\n3,"never closed\n4,more\n')
    log_in(page, "alice", "alice-password-1")
    page.goto(f"{page.base}/new/")
    page.set_input_files("#id_file", str(source))
    page.click("button:has-text('Upload and inspect')")
    page.wait_for_url(re.compile(r"/new/\d+/file/$"))
    problem = page.locator(".notice.error", has_text="Line 4:")
    assert "the file ends inside a quoted field" in problem.inner_text()
    assert page.is_visible("text=This file cannot be loaded as it is")
    assert not page.is_visible("button:has-text('Next: destination')")
    shot(page, "malformed-file")


def test_an_upload_refused_with_a_4xx_shows_why(page, alice):
    log_in(page, "alice", "alice-password-1")
    page.goto(f"{page.base}/new/")
    # The browser would not send the form without a file: let it, for the server's 400.
    page.evaluate("document.getElementById('id_file').removeAttribute('required')")
    with page.expect_response(lambda response: response.url.endswith("/new/")) as answer:
        page.click("button:has-text('Upload and inspect')")
    assert answer.value.status == 400
    error = page.locator("#upload-form [data-upload-error]")
    error.wait_for(state="visible")
    assert "Choose a CSV file to upload." in error.inner_text()
    assert not page.errors


def test_another_user_cannot_open_the_run_page_or_its_socket(page, alice, bob):
    run = JobRun.objects.create(job=make_job(alice), status=RunStatus.RUNNING)
    socket_probe = """url => new Promise(resolve => {
        const socket = new WebSocket(url);
        let opened = false;
        socket.onopen = () => { opened = true; };
        socket.onclose = () => resolve(opened);
        setTimeout(() => { socket.close(); resolve(opened); }, 5000);
    })"""
    ws_url = page.base.replace("http://", "ws://") + f"/ws/runs/{run.pk}/live/"

    log_in(page, "bob", "bob-password-1")
    response = page.goto(f"{page.base}/runs/{run.pk}/")
    assert response.status == 404
    assert page.evaluate(socket_probe, ws_url) is False

    page.context.clear_cookies()
    log_in(page, "alice", "alice-password-1")
    assert page.goto(f"{page.base}/runs/{run.pk}/").status == 200
    assert page.evaluate(socket_probe, ws_url) is True


def test_pages_fit_a_phone_screen(chromium, web_server, alice):
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.base = web_server.url
    try:
        log_in(page, "alice", "alice-password-1")
        for path in ("/", "/new/", "/jobs/", "/runs/", "/credentials/"):
            page.goto(f"{page.base}{path}")
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"{path} is {overflow}px wider than the screen"
        shot(page, "phone-dashboard")
    finally:
        context.close()


def test_job_pages_work_without_javascript(chromium, web_server, alice, dest):
    make_job(alice, table="plain")
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.base = web_server.url
    try:
        log_in(page, "alice", "alice-password-1")
        page.click("nav >> text=Jobs")
        page.click("text=load plain")
        assert page.is_visible("h1:has-text('load plain')")
        page.click("button:has-text('Duplicate')")
        assert page.is_visible("h1:has-text('load plain (copy)')")
        assert Job.objects.filter(name="load plain (copy)").exists()
    finally:
        context.close()
