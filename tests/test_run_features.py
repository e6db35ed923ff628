"""Error budget and rejects, dry runs, UPSERT counts and cancel: through the API and a real worker."""

from __future__ import annotations

import csv
import io

import pytest

from runs.models import JobRun, RunStatus
from tests.conftest import client_for, dest_credential_fields, wait_for_run, wait_until
from tests.test_api_load import create_credential, create_job, upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

HEADER = "order_id,customer,amount,ordered_on,paid\n"
GOOD = "1,ada,1.50,2026-01-01,yes\n2,grace,2.50,2026-01-02,no\n"
BAD_AMOUNT = "3,alan,12.5x,2026-01-03,yes\n"
BAD_DATE = "4,edsger,4.00,2026-02-30,no\n"
RAGGED = "5,barbara,5.00\n"
MORE = "6,donald,6.00,2026-01-06,yes\n"
FILE = HEADER + GOOD + BAD_AMOUNT + BAD_DATE + RAGGED + MORE  # lines 2-3 good, 4-6 bad, 7 good


def start(client, job_id: int, **body) -> dict:
    response = client.post(f"/api/jobs/{job_id}/run/", body, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def setup_job(alice, dest, text: str = FILE, **job_fields):
    client = client_for(alice)
    credential = create_credential(client)
    uploaded = upload(client, text)
    job = create_job(client, source=uploaded["id"], destination=credential["id"], schema=dest.schema, **job_fields)
    return client, job


def table(dest, name="orders"):
    return dest.execute(f'SELECT id, customer FROM "{dest.schema}"."{name}" ORDER BY id').fetchall()


def test_rejects_within_the_budget_load_the_good_rows_and_are_downloadable(alice, dest):
    client, job = setup_job(alice, dest, max_rejected_rows=3)

    run = wait_for_run(start(client, job["id"])["id"])

    assert run.status == RunStatus.SUCCEEDED, run.error_message
    assert (run.rows_read, run.rows_written, run.rows_rejected) == (6, 3, 3)
    assert table(dest) == [(1, "ada"), (2, "grace"), (6, "donald")]
    log = list(run.events.values_list("message", flat=True))
    # The inspection knew about the bad rows: no server-side attempt, one pass row by row.
    assert "Converting row by row: the inspection found problems in rows (line 6)." in log
    rejects = client.get(f"/api/runs/{run.pk}/rejects/").json()["results"]
    assert [(r["line"], r["column"], r["value"]) for r in rejects] == [
        (4, "amount", "12.5x"),
        (5, "ordered_on", "2026-02-30"),
        (6, "", "5,barbara,5.00"),
    ]
    assert rejects[0]["raw"] == "3,alan,12.5x,2026-01-03,yes"
    assert rejects[2]["reason"] == "expected 5 fields as in the header, found 3"
    download = client.get(f"/api/runs/{run.pk}/rejects/download/")
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="run-{run.pk}-rejects.csv"'
    table_rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert table_rows[0] == ["line", "column", "value", "reason", "raw"]
    assert [row[0] for row in table_rows[1:]] == ["4", "5", "6"]


def test_over_the_budget_nothing_is_written_and_the_first_rejects_are_kept(alice, dest):
    client, job = setup_job(alice, dest, max_rejected_rows=2)

    run = wait_for_run(start(client, job["id"])["id"])

    assert run.status == RunStatus.FAILED
    assert run.error_message.startswith(
        "3 rows rejected of 5 read, over the job's error budget (at most 2 rows). Nothing was written. "
        "The first: line 4, column 'amount': "
    )
    assert (run.error_line, run.error_column, run.error_value) == (4, "amount", "12.5x")
    assert run.rows_written == 0
    assert dest.execute("SELECT to_regclass(%s)", (f"{dest.schema}.orders",)).fetchone()[0] is None
    assert run.rejects.count() == 3
    # A failed load reports its worker's peak memory too, just before its outcome.
    messages = list(run.events.values_list("message", flat=True))
    assert messages[-2].startswith("Peak memory of the worker process during the run: "), messages


@pytest.mark.parametrize(("ratio", "status"), [(0.5, RunStatus.SUCCEEDED), (0.4, RunStatus.FAILED)])
def test_a_ratio_budget_is_judged_on_all_rows_read(alice, dest, ratio, status):
    client, job = setup_job(alice, dest, max_rejected_rows=None, max_rejected_ratio=ratio)

    run = wait_for_run(start(client, job["id"])["id"])

    assert run.status == status  # 3 rejected of 6 read
    if status == RunStatus.FAILED:
        assert run.error_message.startswith(
            "3 rows rejected of 6 read, over the job's error budget (at most 40.00% of the rows read)."
        )
        assert dest.execute("SELECT to_regclass(%s)", (f"{dest.schema}.orders",)).fetchone()[0] is None
    else:
        assert table(dest) == [(1, "ada"), (2, "grace"), (6, "donald")]


def test_a_dry_run_writes_nothing_and_reports_counts_rejects_and_sample_rows(alice, dest):
    client, job = setup_job(alice, dest, max_rejected_rows=5)

    run = wait_for_run(start(client, job["id"], dry_run=True)["id"])

    assert run.status == RunStatus.SUCCEEDED, run.error_message
    assert run.dry_run is True
    assert (run.rows_read, run.rows_written, run.rows_rejected) == (6, 0, 3)
    assert run.sample["columns"] == ["id", "customer", "amount", "ordered_on", "paid"]
    assert run.sample["rows"] == [
        ["1", "ada", "1.50", "2026-01-01", "true"],
        ["2", "grace", "2.50", "2026-01-02", "false"],
        ["6", "donald", "6.00", "2026-01-06", "true"],
    ]
    assert [reject.line for reject in run.rejects.all()] == [4, 5, 6]
    assert dest.execute("SELECT to_regclass(%s)", (f"{dest.schema}.orders",)).fetchone()[0] is None
    messages = list(run.events.values_list("message", flat=True))
    assert f"Table {dest.schema}.orders does not exist; the load would create it with 5 columns." in messages


def test_a_dry_run_over_budget_says_the_real_run_would_fail(alice, dest):
    client, job = setup_job(alice, dest)

    run = wait_for_run(start(client, job["id"], dry_run=True)["id"])

    assert run.status == RunStatus.FAILED
    assert run.error_message.startswith("A real run would fail: 3 rows rejected of 6 read")
    assert run.rows_read == 6  # a dry run reads on past the budget, to count everything


def test_upsert_counts_reach_the_run(alice, dest):
    dest.execute(
        f'CREATE TABLE "{dest.schema}".orders (id bigint PRIMARY KEY, customer text, amount numeric(10,2), '
        "ordered_on date, paid boolean)"
    )
    dest.execute(
        f"INSERT INTO \"{dest.schema}\".orders VALUES (1, 'ada', 1.50, '2026-01-01', true), "
        "(2, 'old name', 2.50, '2026-01-02', false)"
    )
    client, job = setup_job(alice, dest, text=HEADER + GOOD + MORE, load_strategy="UPSERT", upsert_keys=["id"])

    run = wait_for_run(start(client, job["id"])["id"])

    assert run.status == RunStatus.SUCCEEDED, run.error_message
    assert (run.rows_inserted, run.rows_updated, run.rows_unchanged, run.rows_written) == (1, 1, 1, 2)
    assert table(dest) == [(1, "ada"), (2, "grace"), (6, "donald")]
    log = list(run.events.values_list("message", flat=True))
    assert "Fast path: the Arrow reader, values converted a block at a time" in log  # a clean file


def test_cancel_stops_a_running_load_which_rolls_back(alice, dest):
    rows = "".join(f"{i},c{i},{i}.00,2026-01-01,yes\n" for i in range(1, 400_001))
    client, job = setup_job(alice, dest, text=HEADER + rows)
    run_id = start(client, job["id"])["id"]
    wait_until(lambda: JobRun.objects.get(pk=run_id).rows_read > 0, timeout=60)

    response = client.post(f"/api/runs/{run_id}/cancel/")

    assert response.status_code == 200
    assert response.json()["cancel_requested_at"] is not None
    run = wait_for_run(run_id, timeout=60)
    assert run.status == RunStatus.CANCELLED
    assert run.error_message == "Cancelled while loading; the load was rolled back and nothing was written."
    assert dest.execute("SELECT to_regclass(%s)", (f"{dest.schema}.orders",)).fetchone()[0] is None
    again = client.post(f"/api/runs/{run_id}/cancel/")
    assert again.status_code == 400
    assert again.json() == {"detail": [f"Run {run_id} has already finished (Cancelled); there is nothing to cancel."]}


def test_a_load_into_duckdb_through_the_worker(alice, settings):
    import duckdb

    client = client_for(alice)
    credential = client.post(
        "/api/credentials/", {"name": "local", "kind": "duckdb", "database": "warehouse.duckdb"}, format="json"
    ).json()
    uploaded = upload(client, HEADER + GOOD + MORE)
    job = create_job(
        client,
        source=uploaded["id"],
        destination=credential["id"],
        schema="analytics",
        load_strategy="UPSERT",
        upsert_keys=["id"],
    )

    first = wait_for_run(start(client, job["id"])["id"])
    second = wait_for_run(start(client, job["id"])["id"])

    assert first.status == RunStatus.SUCCEEDED, first.error_message
    assert (first.rows_inserted, first.rows_updated, first.rows_unchanged) == (3, 0, 0)
    assert (second.rows_inserted, second.rows_updated, second.rows_unchanged) == (0, 0, 3)
    with duckdb.connect(str(settings.DUCKDB_DIR / "warehouse.duckdb"), read_only=True) as conn:
        rows = conn.execute("SELECT id, customer, amount::VARCHAR, paid FROM analytics.orders ORDER BY id").fetchall()
    assert rows == [(1, "ada", "1.50", True), (2, "grace", "2.50", False), (6, "donald", "6.00", True)]


def test_a_redshift_destination_replaces_all_rows_through_the_worker(alice, dest):
    """Redshift's plan (batched INSERTs, DELETE, no COPY) runs against PostgreSQL, which accepts its SQL."""
    dest.execute(
        f'CREATE TABLE "{dest.schema}".orders (id bigint, customer varchar(65535), amount numeric(10,2), '
        "ordered_on date, paid boolean)"
    )
    dest.execute(f"INSERT INTO \"{dest.schema}\".orders VALUES (99, 'gone', 1.00, '2026-01-01', true)")
    client = client_for(alice)
    fields = {**dest_credential_fields(), "kind": "redshift"}
    credential = client.post("/api/credentials/", {"name": "rs", **fields}, format="json").json()
    uploaded = upload(client, HEADER + GOOD + MORE)
    job = create_job(
        client,
        source=uploaded["id"],
        destination=credential["id"],
        schema=dest.schema,
        create_table=False,
        load_strategy="TRUNCATE_INSERT",
    )

    run = wait_for_run(start(client, job["id"])["id"])

    assert run.status == RunStatus.SUCCEEDED, run.error_message
    assert run.rows_written == 3
    assert table(dest) == [(1, "ada"), (2, "grace"), (6, "donald")]


def test_values_only_the_load_finds_bad_send_the_fast_path_back_to_the_row_path(alice, dest):
    """A column inspected as text (too few values to call "x" a stray) mapped as integer."""
    mappings = [
        {"source_column": "id", "destination_column": "id", "destination_type": "integer"},
        {"source_column": "code", "destination_column": "code", "destination_type": "integer"},
    ]
    client, job = setup_job(alice, dest, text="id,code\n1,10\n2,20\n3,x\n", mappings=mappings, max_rejected_rows=1)

    run = wait_for_run(start(client, job["id"])["id"])

    assert run.status == RunStatus.SUCCEEDED, run.error_message
    assert (run.rows_read, run.rows_written, run.rows_rejected) == (3, 2, 1)
    log = list(run.events.values_list("message", flat=True))
    assert any(message.startswith("The fast path cannot load this file as it is") for message in log)
    assert [(r.line, r.column, r.value) for r in run.rejects.all()] == [(4, "code", "x")]
    assert dest.execute(f'SELECT id, code FROM "{dest.schema}".orders ORDER BY id').fetchall() == [(1, 10), (2, 20)]


def test_a_day_first_date_column_loads_with_the_format_inspection_found(alice, dest):
    rows = "".join(f"{i},{i:02d}/02/2026\n" for i in range(1, 26))
    mappings = [
        {"source_column": "id", "destination_column": "id", "destination_type": "integer"},
        {"source_column": "when", "destination_column": "day", "destination_type": "date"},  # no format given
    ]
    client, job = setup_job(alice, dest, text="id,when\n" + rows, mappings=mappings)

    preview = client.get(f"/api/jobs/{job['id']}/preview/?rows=1").json()
    run = wait_for_run(start(client, job["id"])["id"])

    assert preview["rows"][0]["values"] == {"id": "1", "day": "2026-02-01"}
    assert run.status == RunStatus.SUCCEEDED, run.error_message
    log = list(run.events.values_list("message", flat=True))
    assert "Column 'when' is read with the format inspection found: %d/%m/%Y" in log
    days = dest.execute(f'SELECT day::text FROM "{dest.schema}".orders ORDER BY id').fetchall()
    assert days[0] == ("2026-02-01",) and days[-1] == ("2026-02-25",)
