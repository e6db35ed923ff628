"""A bad file fails the run with line, column and reason, and leaves the destination as it was."""

from __future__ import annotations

import pytest

from tests.conftest import client_for
from tests.test_api_load import create_credential, create_job, run_job, upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

HEADER = "order_id,customer,amount,ordered_on,paid\n"


@pytest.fixture
def existing_orders(dest):
    """A destination table that already holds two rows, which no failed load may touch."""
    dest.execute(
        f'CREATE TABLE "{dest.schema}".orders (id bigint NOT NULL, customer text, amount numeric(10,2), '
        "ordered_on date, paid boolean)"
    )
    dest.execute(
        f"INSERT INTO \"{dest.schema}\".orders VALUES (100, 'kept', 1.00, '2025-12-31', true), "
        "(101, 'also kept', 2.00, '2025-12-31', false)"
    )
    return dest


def table_contents(dest) -> list[tuple]:
    return dest.execute(f'SELECT * FROM "{dest.schema}".orders ORDER BY id').fetchall()


def load(alice, dest, text: str, **job_fields):
    client = client_for(alice)
    credential = create_credential(client)
    uploaded = upload(client, text)
    job = create_job(client, source=uploaded["id"], destination=credential["id"], schema=dest.schema, **job_fields)
    return run_job(client, job["id"])


def test_ragged_row_fails_with_its_line_and_leaves_the_table_unchanged(alice, existing_orders):
    before = table_contents(existing_orders)
    text = HEADER + "1,ada,1.00,2026-01-01,yes\n2,grace,2.00,2026-01-02\n3,alan,3.00,2026-01-03,no\n"

    run = load(alice, existing_orders, text)

    assert run.status == "FAILED"
    assert run.error_line == 3
    assert run.error_message == "expected 5 fields as in the header, found 4"
    assert run.rows_written == 0
    assert table_contents(existing_orders) == before


def test_bad_value_for_a_typed_column_names_line_column_and_value(alice, existing_orders):
    before = table_contents(existing_orders)
    rows = "".join(f"{i},c{i},{i}.00,2026-01-01,yes\n" for i in range(1, 7000))
    text = HEADER + rows + "7000,bad,12.5x,2026-01-01,yes\n"

    run = load(alice, existing_orders, text)

    assert run.status == "FAILED"
    assert (run.error_line, run.error_column, run.error_value) == (7001, "amount", "12.5x"), run.error_message
    assert run.error_message == "is not a number"
    assert (run.rows_read, run.rows_rejected) == (7000, 1)  # read up to the bad row; none were written
    assert run.rows_written == 0
    assert table_contents(existing_orders) == before
    assert run.events.filter(level="error", message__startswith="Failed (line 7001, column amount)").exists()


def test_database_rejection_points_at_the_source_line(alice, dest):
    """A value PostgreSQL itself refuses (a varchar too short in an existing table) names the file line."""
    dest.execute(f'CREATE TABLE "{dest.schema}".orders (id bigint, customer varchar(5), amount numeric(10,2), '
                 "ordered_on date, paid boolean)")  # fmt: skip
    text = HEADER + '1,ada,1.00,2026-01-01,yes\n2,"a\nb",2.00,2026-01-01,no\n3,toolongname,3,2026-01-01,no\n'

    run = load(alice, dest, text)

    assert run.status == "FAILED"
    assert run.error_line == 5  # record 3 starts on line 5: record 2 spans lines 3-4
    assert run.error_column == "customer"
    assert "value too long for type character varying(5)" in run.error_message
    assert run.error_message.endswith("Nothing was written.")
    assert dest.execute(f'SELECT count(*) FROM "{dest.schema}".orders').fetchone()[0] == 0


def test_failed_load_with_create_table_leaves_no_table_behind(alice, dest):
    run = load(alice, dest, HEADER + "1,ada,1.00,not-a-date,yes\n", table="fresh")

    assert run.status == "FAILED"
    assert (run.error_line, run.error_column) == (2, "ordered_on")
    exists = dest.execute("SELECT to_regclass(%s)", (f'"{dest.schema}".fresh',)).fetchone()[0]
    assert exists is None


def test_missing_table_without_create_table_is_a_clear_error(alice, dest):
    run = load(alice, dest, HEADER + "1,ada,1.00,2026-01-01,yes\n", table="absent", create_table=False)

    assert run.status == "FAILED"
    assert run.error_message.startswith(f"Table {dest.schema}.absent does not exist in database")
    assert "turn on 'create table'" in run.error_message


def test_missing_column_in_existing_table_is_named(alice, dest):
    dest.execute(f'CREATE TABLE "{dest.schema}".orders (id bigint, customer text)')

    run = load(alice, dest, HEADER + "1,ada,1.00,2026-01-01,yes\n")

    assert run.status == "FAILED"
    assert f"Table {dest.schema}.orders has no column(s) amount, ordered_on, paid" in run.error_message


def test_header_without_a_mapped_column_fails_before_loading(alice, dest):
    run = load(alice, dest, "order_id,customer,amount,paid\n1,ada,1.00,yes\n")

    assert run.status == "FAILED"
    assert run.error_line == 1
    assert "'ordered_on' not found in the header" in run.error_message


def test_unreachable_destination_names_host_and_port(alice, dest):
    client = client_for(alice)
    response = client.post(
        "/api/credentials/",
        {"name": "nowhere", "kind": "postgresql", "host": "127.0.0.1", "port": 1, "database": "x", "username": "u",
         "password": "p", "sslmode": "disable"},
        format="json",
    )  # fmt: skip
    credential = response.json()
    tested = client.post(f"/api/credentials/{credential['id']}/test/").json()
    assert tested["ok"] is False
    assert tested["message"].startswith("Cannot connect to PostgreSQL at 127.0.0.1:1 (database 'x'):")
    assert "refused" in tested["message"].lower()

    uploaded = upload(client, HEADER + "1,ada,1.00,2026-01-01,yes\n")
    job = create_job(client, source=uploaded["id"], destination=credential["id"], schema=dest.schema)
    run = run_job(client, job["id"])
    assert run.status == "FAILED"
    assert run.error_message.startswith("Cannot connect to PostgreSQL at 127.0.0.1:1")


def test_a_table_locked_by_another_session_fails_the_run_instead_of_hanging(alice, existing_orders):
    import psycopg

    from tests import services

    with psycopg.connect(services.DEST_URL) as holder:
        holder.execute(f'LOCK TABLE "{existing_orders.schema}".orders IN ACCESS EXCLUSIVE MODE')
        run = load(alice, existing_orders, HEADER + "1,ada,1.00,2026-01-01,yes\n")

    assert run.status == "FAILED"
    assert run.error_message.startswith(f"Waited more than 2 s for a lock on {existing_orders.schema}.orders")


def test_a_nul_byte_fails_the_run_with_its_line_and_position(alice, dest):
    run = load(alice, dest, HEADER + "1,ada,1.00,2026-01-01,yes\n2,gr\x00ace,2.00,2026-01-01,no\n")

    assert run.status == "FAILED"
    assert run.error_line == 3
    assert run.error_message == (
        "a NUL byte (0x00): the file may be binary, or UTF-16 without a byte order mark (byte 5 of the line)"
    )
