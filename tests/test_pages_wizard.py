"""The "New load" wizard's pages: every step, its fragments, its errors, and who may open it."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Job, WizardDraft
from runs.models import JobRun
from tests.factories import make_credential
from tests.pages import ORDERS_CSV, browser, form_fields, htmx, mapping_post, start_wizard

pytestmark = pytest.mark.django_db


def _through_destination(client, draft_id, credential, schema, table="orders", create=True):
    data = {"destination": credential.pk, "schema": schema, "table": table}
    if create:
        data["create_table"] = "on"
    return client.post(f"/new/{draft_id}/destination/", data)


def _row(source, destination, type_sql, **extra):
    return {"include": True, "source_column": source, "destination_column": destination,
            "destination_type": type_sql, "nullable": True, **extra}  # fmt: skip


ROWS = [
    _row("Order ID", "order_id", "integer", nullable=False),
    _row("Customer", "customer", "text", transform="trim"),
    _row("Amount", "amount", "numeric(12,2)"),
    _row("Quantity", "quantity", "integer"),
    _row("", "total", "numeric(14,2)", expression="amount * quantity"),
    _row("Country", "country", "text", include=False),
]


def test_login_is_required_for_every_wizard_page(client):
    for url in ("/new/", "/new/1/file/", "/new/1/mapping/", "/new/1/preview/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_upload_page_shows_the_size_limit_and_a_drop_zone(alice, settings):
    settings.UPLOAD_MAX_BYTES = 5_000_000
    page = browser(alice).get("/new/").content.decode()
    assert "Up to 5.0 MB" in page
    assert 'class="dropzone"' in page
    assert 'hx-encoding="multipart/form-data"' in page  # upload progress through htmx


def test_an_oversized_upload_is_refused_with_both_sizes_and_no_draft(alice, settings):
    settings.UPLOAD_MAX_BYTES = 100
    response = browser(alice).post("/new/", {"file": SimpleUploadedFile("big.csv", b"a,b\n" + b"1,2\n" * 200)})
    assert response.status_code == 413
    assert "the largest upload allowed is 100 bytes" in response.content.decode()
    assert not WizardDraft.objects.exists()


def test_upload_without_a_file_says_so(alice):
    response = browser(alice).post("/new/", {})
    assert response.status_code == 400
    assert "Choose a CSV file" in response.content.decode()


def test_upload_opens_the_file_step_with_what_was_detected(alice):
    client = browser(alice)
    draft_id = start_wizard(client)
    page = client.get(f"/new/{draft_id}/file/").content.decode()
    assert "orders.csv" in page
    assert "utf-8" in page and "Header row" in page
    # Inferred types and statistics under each column's name; "NA" is a value, not NULL.
    assert "integer" in page or "smallint" in page
    assert "numeric(4,2)" in page
    assert ">NA<" in page


def test_a_malformed_file_shows_its_problem_with_the_line_and_cannot_go_on(alice):
    client = browser(alice)
    draft_id = start_wizard(client, 'id,note\n1,"fine, quoted"\n2,ok\n3,"never closed\n4,more\n', name="bad.csv")
    page = client.get(f"/new/{draft_id}/file/").content.decode()
    assert "Line 4:" in page and "the file ends inside a quoted field" in page
    assert "cannot be loaded as it is" in page
    # The next steps stay closed.
    response = client.get(f"/new/{draft_id}/destination/")
    assert response.status_code == 302 and response["Location"].endswith(f"/new/{draft_id}/file/")


def test_overriding_a_type_lists_the_values_it_would_reject(alice):
    client = browser(alice)
    draft_id = start_wizard(client)
    response = htmx(client, "post", f"/new/{draft_id}/file/", {"type-country": "boolean", "null_markers_set": "1"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body  # the fragment, for htmx
    assert "won&#x27;t fit" in body or "won't fit" in body
    upload = WizardDraft.objects.get(pk=draft_id).upload
    assert upload.inspection_options["column_types"] == {"country": "boolean"}


def test_a_bad_override_is_a_message_not_a_500(alice):
    client = browser(alice)
    draft_id = start_wizard(client)
    response = client.post(f"/new/{draft_id}/file/", {"encoding": "no-such-codec"})
    assert response.status_code == 200
    assert "encoding" in response.content.decode().lower()


def test_preview_pages_are_fragments(alice):
    client = browser(alice)
    draft_id = start_wizard(client, "n\n" + "".join(f"{i}\n" for i in range(1, 60)), name="numbers.csv")
    body = htmx(client, "get", f"/new/{draft_id}/preview/?page=2").content.decode()
    assert "<html" not in body
    assert 'title="21"' in body and 'title="40"' in body and 'title="41"' not in body  # values 21-40 on page 2


def test_another_users_draft_is_not_found(alice, bob):
    draft_id = start_wizard(browser(alice))
    for step in ("file", "destination", "mapping", "strategy", "review"):
        assert browser(bob).get(f"/new/{draft_id}/{step}/").status_code == 404
    assert browser(bob).get(f"/new/{draft_id}/preview/").status_code == 404


def test_destination_step_refuses_a_missing_table_unless_it_is_created(alice, dest):
    client = browser(alice)
    credential = make_credential(alice)
    draft_id = start_wizard(client)
    response = _through_destination(client, draft_id, credential, dest.schema, create=False)
    assert response.status_code == 200
    assert f"{dest.schema}.orders does not exist" in response.content.decode()
    response = _through_destination(client, draft_id, credential, dest.schema)
    assert response.status_code == 302 and response["Location"].endswith("/mapping/")


def test_destination_step_browses_schemas_and_tables_live(alice, existing):
    client = browser(alice)
    credential = make_credential(alice)
    draft_id = start_wizard(client)
    schemas = htmx(client, "get", f"/new/{draft_id}/browse/?destination={credential.pk}").content.decode()
    assert existing.schema in schemas
    tables = htmx(client, "get", f"/new/{draft_id}/browse/?destination={credential.pk}&schema={existing.schema}")
    assert 'data-pick-table="t"' in tables.content.decode()


def test_test_connection_reports_the_server_or_why_not(alice):
    from credentials.services import credential_create

    client = browser(alice)
    draft_id = start_wizard(client)
    good = make_credential(alice)
    bad = credential_create(
        owner=alice,
        name="nowhere",
        kind="postgresql",
        host="127.0.0.1",
        port=1,
        database="x",
        username="x",
        sslmode="disable",
    )
    ok = htmx(client, "post", f"/new/{draft_id}/test/", {"destination": good.pk}).content.decode()
    assert "OK" in ok and "Connected to PostgreSQL" in ok
    failed = htmx(client, "post", f"/new/{draft_id}/test/", {"destination": bad.pk}).content.decode()
    assert "Failed" in failed and "127.0.0.1:1" in failed


def test_a_destination_made_inline_comes_back_chosen_and_its_password_never_shows(alice):
    from tests.conftest import dest_credential_fields

    client = browser(alice)
    draft_id = start_wizard(client)
    fields = dest_credential_fields(password="canary-Pa55word")
    response = client.post(f"/new/{draft_id}/new-destination/", {"name": "made here", **fields})
    assert response.status_code == 302 and "?credential=" in response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert "made here" in page and "canary-Pa55word" not in page


def test_mapping_proposes_every_file_column_for_a_new_table(alice, dest):
    client = browser(alice)
    draft_id = start_wizard(client)
    _through_destination(client, draft_id, make_credential(alice), dest.schema)
    page = client.get(f"/new/{draft_id}/mapping/").content.decode()
    for name in ("order_id", "customer", "amount", "quantity", "ordered_on", "country"):
        assert f'value="{name}"' in page
    from jobs.drafts import draft_proposed_mappings

    proposed = {
        m["destination_column"]: m["destination_type"] for m in draft_proposed_mappings(WizardDraft.objects.get())
    }
    # Inferred smallint and numeric(4,2): proposed with room for the next file; the rest as inferred.
    assert proposed == {
        "order_id": "integer",
        "customer": "text",
        "amount": "numeric(18,2)",
        "quantity": "integer",
        "ordered_on": "date",
        "country": "text",
    }


def test_mapping_matches_an_existing_tables_columns_by_normalized_name(alice, dest):
    dest.execute(f'CREATE TABLE "{dest.schema}".orders (order_id bigint, customer text, extra text)')
    client = browser(alice)
    draft_id = start_wizard(client)
    _through_destination(client, draft_id, make_credential(alice), dest.schema, create=False)
    page = client.get(f"/new/{draft_id}/mapping/").content.decode()
    assert "Table columns no file column matches" in page and "extra" in page
    draft = WizardDraft.objects.get(pk=draft_id)
    from jobs.drafts import draft_proposed_mappings

    proposed = {
        m["destination_column"]: (m["source_column"], m["destination_type"]) for m in draft_proposed_mappings(draft)
    }
    assert proposed == {"order_id": ("Order ID", "bigint"), "customer": ("Customer", "text")}


def test_the_mapping_preview_shows_transformed_rows_and_a_calculated_column(alice, dest):
    client = browser(alice)
    draft_id = start_wizard(client)
    _through_destination(client, draft_id, make_credential(alice), dest.schema)
    body = htmx(client, "post", f"/new/{draft_id}/mapping/preview/", mapping_post(ROWS)).content.decode()
    assert "<html" not in body
    assert ">alice<" in body  # trimmed
    assert ">21.00<" in body  # 10.50 * 2
    assert "calculated" in body


def test_an_expression_with_an_unknown_name_is_explained_live(alice, dest):
    client = browser(alice)
    draft_id = start_wizard(client)
    _through_destination(client, draft_id, make_credential(alice), dest.schema)
    rows = [*ROWS[:4], dict(ROWS[4], expression="amount * quantiy")]
    body = htmx(client, "post", f"/new/{draft_id}/mapping/preview/", mapping_post(rows)).content.decode()
    assert "quantiy" in body and "quantity" in body  # the unknown name, and the suggestion
    rows = [*ROWS[:4], dict(ROWS[4], expression="__import__('os')")]
    body = htmx(client, "post", f"/new/{draft_id}/mapping/preview/", mapping_post(rows)).content.decode()
    assert 'class="notice error"' in body


def test_a_new_calculated_row_is_a_fragment(alice, dest):
    client = browser(alice)
    draft_id = start_wizard(client)
    _through_destination(client, draft_id, make_credential(alice), dest.schema)
    body = htmx(client, "get", f"/new/{draft_id}/mapping/row/?index=7").content.decode()
    assert body.strip().startswith("<tr") and 'name="m-7-expression"' in body


def _to_review(client, alice, dest, strategy="INSERT", keys=()):
    draft_id = start_wizard(client)
    credential = alice.credentials.filter(name="warehouse").first() or make_credential(alice)
    _through_destination(client, draft_id, credential, dest.schema)
    response = client.post(f"/new/{draft_id}/mapping/", mapping_post(ROWS))
    assert response.status_code == 302, response.content.decode()[:3000]
    data = {"load_strategy": strategy, "max_rejected_rows": "0", "upsert_keys": list(keys)}
    response = client.post(f"/new/{draft_id}/strategy/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    return draft_id


def test_strategy_needs_keys_for_an_upsert_and_shows_the_ddl(alice, dest):
    client = browser(alice)
    draft_id = start_wizard(client)
    _through_destination(client, draft_id, make_credential(alice), dest.schema)
    client.post(f"/new/{draft_id}/mapping/", mapping_post(ROWS))
    response = client.post(f"/new/{draft_id}/strategy/", {"load_strategy": "UPSERT", "max_rejected_rows": "0"})
    assert "An UPSERT needs its key columns" in response.content.decode()
    ddl = htmx(
        client,
        "post",
        f"/new/{draft_id}/strategy/",
        {"load_strategy": "UPSERT", "upsert_keys": ["order_id"], "refresh": "1"},
    )
    body = ddl.content.decode()
    assert "<html" not in body
    assert f"CREATE TABLE &quot;{dest.schema}&quot;.&quot;orders&quot;" in body
    assert "PRIMARY KEY (&quot;order_id&quot;)" in body


def test_review_states_the_plan_and_saves_a_job(alice, dest):
    client = browser(alice)
    draft_id = _to_review(client, alice, dest)
    page = client.get(f"/new/{draft_id}/review/").content.decode()
    assert f"Create table {dest.schema}.orders with 5 columns; insert 3 rows into {dest.schema}.orders." in page
    response = client.post(f"/new/{draft_id}/review/", {"name": "orders nightly", "action": "save"})
    job = Job.objects.get(name="orders nightly")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert not job.is_draft
    assert [m.destination_column for m in job.mappings.all()] == ["order_id", "customer", "amount", "quantity", "total"]
    assert not WizardDraft.objects.filter(pk=draft_id).exists()


def test_run_now_from_the_review_opens_the_run_page(alice, dest):
    client = browser(alice)
    draft_id = _to_review(client, alice, dest)
    response = client.post(f"/new/{draft_id}/review/", {"name": "orders", "action": "run"})
    run = JobRun.objects.get()
    assert response["Location"] == f"/runs/{run.pk}/"
    assert run.job.name == "orders" and not run.dry_run


def test_a_dry_run_from_the_review_polls_until_finished(alice, dest):
    client = browser(alice)
    draft_id = _to_review(client, alice, dest)
    body = htmx(client, "post", f"/new/{draft_id}/dry-run/").content.decode()
    run = JobRun.objects.get()
    assert run.dry_run and run.job.is_draft
    assert f"/new/{draft_id}/dry-run/{run.pk}/" in body and 'hx-trigger="every 1s"' in body
    JobRun.objects.filter(pk=run.pk).update(status="SUCCEEDED", rows_read=3, rows_written=3)
    done = htmx(client, "get", f"/new/{draft_id}/dry-run/{run.pk}/")
    assert done.status_code == 286  # htmx stops polling
    assert "Would load" in done.content.decode()
    # The trial job is nobody's job: not in the list, not openable as a job.
    assert run.job.name not in client.get("/jobs/").content.decode()
    assert client.get(f"/jobs/{run.job_id}/").status_code == 404


def test_editing_a_job_goes_through_the_wizard_and_changes_that_job(alice, dest):
    client = browser(alice)
    draft_id = _to_review(client, alice, dest)
    client.post(f"/new/{draft_id}/review/", {"name": "orders", "action": "save"})
    job = Job.objects.get(name="orders")
    response = client.post(f"/jobs/{job.pk}/edit/")
    edit_id = int(response["Location"].strip("/").split("/")[1])
    assert "Editing job" in client.get(f"/new/{edit_id}/review/").content.decode()
    client.post(f"/new/{edit_id}/strategy/", {"load_strategy": "TRUNCATE_INSERT", "max_rejected_rows": "5"})
    client.post(f"/new/{edit_id}/review/", {"name": "orders renamed", "action": "save"})
    job.refresh_from_db()
    assert (job.name, job.load_strategy, job.max_rejected_rows) == ("orders renamed", "TRUNCATE_INSERT", 5)
    assert Job.objects.count() == 1


# -- review findings ----------------------------------------------------------------------------
def test_an_early_dry_run_says_which_step_to_complete(alice, dest):
    client = browser(alice)
    draft_id = start_wizard(client)
    response = htmx(client, "post", f"/new/{draft_id}/dry-run/")
    assert response.status_code == 200
    assert "Complete the Destination step first" in response.content.decode()
    _through_destination(client, draft_id, make_credential(alice), dest.schema)
    response = htmx(client, "post", f"/new/{draft_id}/dry-run/")
    assert "Complete the Mapping step first" in response.content.decode()
    assert not JobRun.objects.exists() and not Job.objects.exists()


def test_nul_characters_are_refused_with_the_field_named(alice, dest):
    client = browser(alice)
    response = client.get("/jobs/", {"q": "ord\x00ers"})
    assert response.status_code == 200 and "Search: the search contains a NUL character" in response.content.decode()
    draft_id = start_wizard(client)
    response = client.post(f"/new/{draft_id}/file/", {"null_markers_set": "1", "null_markers": "N\x00A"})
    assert response.status_code == 200
    assert "null_markers: A null marker contains a NUL character" in response.content.decode()
    assert "null_markers" not in WizardDraft.objects.get(pk=draft_id).upload.inspection_options
    _through_destination(client, draft_id, make_credential(alice), dest.schema)
    rows = [dict(ROWS[0], destination_column="order\x00id"), *ROWS[1:4]]
    response = client.post(f"/new/{draft_id}/mapping/", mapping_post(rows))
    assert response.status_code == 200
    assert "the destination column contains a NUL character" in response.content.decode()
    client.post(f"/new/{draft_id}/mapping/", mapping_post(ROWS))
    client.post(f"/new/{draft_id}/strategy/", {"load_strategy": "INSERT", "max_rejected_rows": "0"})
    response = client.post(f"/new/{draft_id}/review/", {"name": "orders\x00", "action": "save"})
    assert response.status_code == 200
    assert "name: The job name contains a NUL character" in response.content.decode()
    assert not Job.objects.filter(is_draft=False).exists()


def test_a_credentials_extra_options_with_a_nul_are_refused_by_the_field(alice):
    from tests.conftest import dest_credential_fields

    fields = {"name": "w", **dest_credential_fields(), "extra_options": '{"application_name": "a\\u0000b"}'}
    response = browser(alice).post("/credentials/new/", fields)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Extra options contains a NUL character" in page and 'class="errorlist"' in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("destination_column", "x" * 64, "the destination column is 64 bytes long"),
        ("destination_column", "é" * 32, "the destination column is 64 bytes long"),
        ("format", "%d" * 60, "the format is 120 characters long; at most 100"),
        ("default", "0" * 1001, "the default is 1001 characters long; at most 1000"),
    ],
)
def test_an_over_long_mapping_field_is_shown_on_its_row(alice, dest, field, value, message):
    client = browser(alice)
    draft_id = start_wizard(client)
    _through_destination(client, draft_id, make_credential(alice), dest.schema)
    rows = [ROWS[0], dict(ROWS[2], **{field: value}), ROWS[3]]
    response = client.post(f"/new/{draft_id}/mapping/", mapping_post(rows))
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    row_problems = page.split('class="row-problems"')
    assert len(row_problems) == 2 and message in row_problems[1].split("</tr>")[0]
    assert "mappings" not in WizardDraft.objects.get(pk=draft_id).data


def test_the_steps_navigation_swaps_whole_pages(alice, dest):
    client = browser(alice)
    draft_id = _to_review(client, alice, dest)
    page = client.get(f"/new/{draft_id}/review/").content.decode()
    steps = page.split('<ol class="steps"')[1].split("</ol>")[0]
    assert 'hx-boost="true"' in steps and "hx-target" not in steps and "hx-get" not in steps
    assert f'href="/new/{draft_id}/file/"' in steps
    # A boosted request (what htmx sends for those links) gets the whole page, never a fragment.
    boosted = client.get(f"/new/{draft_id}/file/", HTTP_HX_REQUEST="true", HTTP_HX_BOOSTED="true")
    assert "<html" in boosted.content.decode() and 'id="file-body"' in boosted.content.decode()


def test_preview_pages_keep_the_type_choices(alice):
    client = browser(alice)
    draft_id = start_wizard(client, "n\n" + "".join(f"{i}\n" for i in range(1, 60)), name="numbers.csv")
    body = htmx(client, "get", f"/new/{draft_id}/preview/?page=2").content.decode()
    assert '<option value="boolean"' in body and '<option value="timestamptz"' in body


def test_an_oversized_upload_is_refused_before_its_body_is_read(alice, settings):
    from django.test import Client

    settings.UPLOAD_MAX_BYTES = 100
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    big = SimpleUploadedFile("big.csv", b"a,b\n" + b"1,2\n" * 40_000)
    # No CSRF token: the CSRF check would read the body; the size is refused first, from the header.
    response = client.post("/new/", {"file": big}, HTTP_HX_REQUEST="true")
    assert response.status_code == 413
    body = response.content.decode()
    assert "the largest upload allowed is 100 bytes" in body and "<html" not in body
    # A small upload still needs its CSRF token.
    response = client.post("/new/", {"file": SimpleUploadedFile("s.csv", b"a\n1\n")})
    assert response.status_code == 403
    assert not WizardDraft.objects.exists()


def test_the_review_estimates_a_large_files_rows_from_its_average_row(alice, dest, settings):
    import re

    from jobs.services import SYNC_CONFIRM_BYTES

    settings.UPLOAD_MAX_BYTES = 64 * 1024 * 1024
    line = "{:07d},a customer name,12.50\n"
    rows = SYNC_CONFIRM_BYTES // len(line.format(0)) + 50_000  # past the size confirmed while the user waits
    content = "id,customer,amount\n" + "".join(line.format(i) for i in range(rows))
    client = browser(alice)
    draft_id = start_wizard(client, content, name="big.csv")
    assert not WizardDraft.objects.get(pk=draft_id).upload.inspection["confirmed"]
    _through_destination(client, draft_id, make_credential(alice), dest.schema, table="big")
    page = client.get(f"/new/{draft_id}/mapping/").content.decode()
    assert client.post(f"/new/{draft_id}/mapping/", form_fields(page, "mapping-form")).status_code == 302
    client.post(f"/new/{draft_id}/strategy/", {"load_strategy": "INSERT", "max_rejected_rows": "0"})
    page = client.get(f"/new/{draft_id}/review/").content.decode()
    estimate = int(re.search(r"insert ~([\d,]+) rows", page).group(1).replace(",", ""))
    assert abs(estimate - rows) / rows < 0.01


def test_trial_jobs_never_keep_a_credential_from_being_deleted(alice, dest):
    client = browser(alice)
    draft_id = _to_review(client, alice, dest)
    htmx(client, "post", f"/new/{draft_id}/dry-run/")
    trial = Job.objects.get(is_draft=True)
    credential = trial.destination
    response = client.post(f"/credentials/{credential.pk}/delete/")
    assert response.status_code == 200 and "being dry-run" in response.content.decode()  # its dry run is queued
    JobRun.objects.update(status="SUCCEEDED")
    response = client.post(f"/credentials/{credential.pk}/delete/")
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Job.objects.exists() and not credential.__class__.objects.filter(pk=credential.pk).exists()
    assert WizardDraft.objects.get(pk=draft_id).trial_job is None


def test_a_drafts_trial_job_goes_with_the_draft_or_after_its_dry_run(alice, dest):
    from jobs.drafts import trial_jobs_cleanup

    client = browser(alice)
    draft_id = _to_review(client, alice, dest)
    htmx(client, "post", f"/new/{draft_id}/dry-run/")
    JobRun.objects.update(status="SUCCEEDED")
    WizardDraft.objects.get(pk=draft_id).delete()
    assert not Job.objects.exists()
    # Editing a job: saved during a dry run, the trial job stays until the run is over.
    job = _saved_job(client, alice, dest)
    edit_id = _edit(client, job)
    htmx(client, "post", f"/new/{edit_id}/dry-run/")
    run = JobRun.objects.get(job__is_draft=True)
    response = client.post(f"/new/{edit_id}/review/", {"name": "orders", "action": "save"})
    assert response.status_code == 302
    assert JobRun.objects.filter(pk=run.pk).exists()  # not deleted under its worker
    assert trial_jobs_cleanup() == 0
    JobRun.objects.filter(pk=run.pk).update(status="SUCCEEDED")
    assert trial_jobs_cleanup() == 1
    assert list(Job.objects.values_list("name", flat=True)) == ["orders"]


def _saved_job(client, alice, dest):
    draft_id = _to_review(client, alice, dest)
    client.post(f"/new/{draft_id}/review/", {"name": "orders", "action": "save"})
    return Job.objects.get(name="orders", is_draft=False)


def _edit(client, job) -> int:
    response = client.post(f"/jobs/{job.pk}/edit/")
    assert response.status_code == 302, response.content.decode()[:2000]
    return int(response["Location"].strip("/").split("/")[1])


def test_editing_a_job_whose_destination_is_gone_asks_for_one(alice, dest):
    from jobs.services import job_update

    client = browser(alice)
    job = _saved_job(client, alice, dest)
    edit_id = _edit(client, job)
    # Meanwhile the job moves to another destination and the old one is deleted.
    old = job.destination
    job_update(job=job, destination=make_credential(alice, name="other"))
    old.delete()
    response = client.post(f"/new/{edit_id}/review/", {"name": "orders", "action": "save"})
    assert response.status_code == 302 and response["Location"].endswith(f"/new/{edit_id}/destination/")
    page = client.get(response["Location"]).content.decode()
    assert "The destination was deleted, or is not yours: choose one on the Destination step." in page
    assert "The destination this load used was deleted" in page
    job.refresh_from_db()
    assert job.destination.name == "other"


def test_editing_a_jobs_file_options_leaves_the_job_alone_until_saved(alice, dest):
    client = browser(alice)
    job = _saved_job(client, alice, dest)
    before = dict(job.source.inspection_options)
    edit_id = _edit(client, job)
    client.post(f"/new/{edit_id}/file/", {"null_markers_set": "1", "null_markers": "NA"})
    job.refresh_from_db()
    assert job.source.inspection_options == before
    assert "NA" not in job.source.inspection["null_markers"]
    draft = WizardDraft.objects.get(pk=edit_id)
    assert draft.upload_id != job.source_id and draft.upload.inspection_options["null_markers"] == ["NA"]
    client.post(f"/new/{edit_id}/review/", {"name": "orders", "action": "save"})
    job.refresh_from_db()
    assert job.source.inspection_options["null_markers"] == ["NA"]
    assert job.source.file.name == draft.upload.file.name  # the same stored file


def test_mappings_made_for_other_file_columns_must_be_reviewed(alice, dest):
    client = browser(alice)
    draft_id = _to_review(client, alice, dest)
    client.post(f"/new/{draft_id}/file/", {"header": "no", "null_markers_set": "1"})
    response = client.get(f"/new/{draft_id}/review/")
    assert response.status_code == 302 and response["Location"].endswith(f"/new/{draft_id}/mapping/")
    response = client.post(f"/new/{draft_id}/review/", {"name": "orders", "action": "save"})
    assert response.status_code == 302 and response["Location"].endswith("/mapping/")
    assert not Job.objects.filter(is_draft=False).exists()
    page = client.get(f"/new/{draft_id}/mapping/").content.decode()
    assert "The file&#x27;s columns changed since the mappings were made" in page


def test_editing_a_job_into_an_existing_table_knows_the_table(alice, dest):
    client = browser(alice)
    job = _saved_job(client, alice, dest)
    dest.execute(f'CREATE TABLE "{dest.schema}".orders (order_id integer, customer text)')
    edit_id = _edit(client, job)
    assert WizardDraft.objects.get(pk=edit_id).data["table_columns"] == [
        ["order_id", "integer", True],
        ["customer", "text", True],
    ]
    page = client.get(f"/new/{edit_id}/strategy/").content.decode()
    assert "The table exists" in page and "The table will be created" not in page


def test_editing_a_job_keeps_its_boolean_words(alice, dest):
    from jobs.services import job_create, upload_store

    upload = upload_store(file=SimpleUploadedFile("orders.csv", ORDERS_CSV.encode()), user=alice)
    mappings = [
        {"source_column": "Order ID", "destination_column": "id", "destination_type": "integer"},
        {"source_column": "Country", "destination_column": "us", "destination_type": "boolean",
         "true_words": ["US"], "false_words": ["DE", "NA"]},
    ]  # fmt: skip
    credential = make_credential(alice)
    job = job_create(owner=alice, mappings=mappings, name="flags", source=upload,
                     destination=credential, schema=dest.schema, table="flags", create_table=True)  # fmt: skip
    client = browser(alice)
    edit_id = _edit(client, job)
    page = client.get(f"/new/{edit_id}/mapping/").content.decode()
    response = client.post(f"/new/{edit_id}/mapping/", form_fields(page, "mapping-form"))
    assert response.status_code == 302, response.content.decode()[:3000]
    client.post(f"/new/{edit_id}/review/", {"name": "flags", "action": "save"})
    us = job.mappings.get(destination_column="us")
    assert (us.true_words, us.false_words) == (["US"], ["DE", "NA"])


def test_staff_editing_someone_elses_job_keep_its_destination(alice, staff, dest):
    job = _saved_job(browser(alice), alice, dest)
    client = browser(staff)
    edit_id = _edit(client, job)
    page = client.get(f"/new/{edit_id}/destination/").content.decode()
    assert f'<option value="{job.destination_id}" selected>warehouse' in page
    fields = form_fields(page, "destination-form")
    assert client.post(f"/new/{edit_id}/destination/", fields).status_code == 302
    client.post(f"/new/{edit_id}/review/", {"name": "orders", "action": "save"})
    job.refresh_from_db()
    assert job.destination.owner == alice


def test_the_inline_new_destination_without_javascript_is_a_whole_page(alice):
    client = browser(alice)
    draft_id = start_wizard(client)
    response = client.post(f"/new/{draft_id}/new-destination/", {"name": "", "kind": "postgresql"})
    page = response.content.decode()
    assert response.status_code == 200 and "<html" in page and "Where should the rows go?" in page
    assert "This field is required." in page
    fragment = htmx(client, "post", f"/new/{draft_id}/new-destination/", {"name": ""}).content.decode()
    assert "<html" not in fragment and "This field is required." in fragment


def test_a_dry_run_is_shown_only_for_the_answers_it_tried(alice, dest):
    client = browser(alice)
    draft_id = _to_review(client, alice, dest)
    htmx(client, "post", f"/new/{draft_id}/dry-run/")
    run = JobRun.objects.get()
    assert f"/new/{draft_id}/dry-run/{run.pk}/" in client.get(f"/new/{draft_id}/review/").content.decode()
    # The same answers again (the strategy page's DDL refresh) keep it; a change forgets it.
    htmx(client, "post", f"/new/{draft_id}/strategy/", {"load_strategy": "INSERT", "max_rejected_rows": "0",
                                                       "refresh": "1"})  # fmt: skip
    assert f"/new/{draft_id}/dry-run/{run.pk}/" in client.get(f"/new/{draft_id}/review/").content.decode()
    client.post(f"/new/{draft_id}/strategy/", {"load_strategy": "TRUNCATE_INSERT", "max_rejected_rows": "0"})
    page = client.get(f"/new/{draft_id}/review/").content.decode()
    assert f"/dry-run/{run.pk}/" not in page and ">Dry run</button>" in page


def test_the_error_budget_is_in_percent_on_the_strategy_and_review_pages(alice, dest):
    client = browser(alice)
    draft_id = _to_review(client, alice, dest)
    response = client.post(f"/new/{draft_id}/strategy/", {"load_strategy": "INSERT", "max_rejected_percent": "150"})
    assert "a percentage of the rows read, from 0 to 100" in response.content.decode()
    client.post(f"/new/{draft_id}/strategy/", {"load_strategy": "INSERT", "max_rejected_percent": "0.5"})
    assert "at most 0.5%" in client.get(f"/new/{draft_id}/review/").content.decode()


def test_applying_the_file_form_does_not_freeze_the_detected_null_markers(alice):
    client = browser(alice)
    draft_id = start_wizard(client, "id,note\n1,NULL\n2,x\n3,\n")
    page = client.get(f"/new/{draft_id}/file/").content.decode()
    fields = form_fields(page, "file-form")
    assert "NULL" in fields["null_markers"]
    client.post(f"/new/{draft_id}/file/", {**fields, "apply": "1"})
    upload = WizardDraft.objects.get(pk=draft_id).upload
    assert "null_markers" not in upload.inspection_options  # still detected
    client.post(f"/new/{draft_id}/file/", {**fields, "null_markers": "NULL\nNA", "apply": "1"})
    upload.refresh_from_db()
    assert set(upload.inspection_options["null_markers"]) == {"", "NULL", "NA"}


def test_without_javascript_dry_run_calculated_column_test_and_browse_work(alice, existing):
    client = browser(alice)
    credential = make_credential(alice)
    draft_id = start_wizard(client)
    # Test connection and Browse post the destination form: the whole step comes back, fields kept.
    form = {"destination": credential.pk, "schema": existing.schema, "table": "mine"}
    page = client.post(f"/new/{draft_id}/test/", form).content.decode()
    assert "<html" in page and "Connected to PostgreSQL" in page and 'value="mine"' in page
    page = client.post(f"/new/{draft_id}/browse/", form).content.decode()
    assert "<html" in page and f"schema={existing.schema}" in page and 'value="mine"' in page
    page = client.get(f"/new/{draft_id}/browse/?destination={credential.pk}&schema={existing.schema}").content.decode()
    assert "<html" in page and f"pick_schema={existing.schema}&pick_table=t" in page
    page = client.get(f"/new/{draft_id}/destination/?credential={credential.pk}&pick_schema=s1&pick_table=t").content
    assert 'value="s1"' in page.decode() and 'value="t"' in page.decode()
    _through_destination(client, draft_id, credential, existing.schema, table="orders")
    # "+ Calculated column" posts the mapping form: the same rows and one more, nothing saved.
    page = client.get(f"/new/{draft_id}/mapping/").content.decode()
    fields = form_fields(page, "mapping-form")
    response = client.post(f"/new/{draft_id}/mapping/", {**fields, "add_calculated": "1"})
    page = response.content.decode()
    assert response.status_code == 200 and 'name="m-6-expression"' in page and 'value="calculated_7"' in page
    assert 'name="m-5-source_column"' in page and "mappings" not in WizardDraft.objects.get(pk=draft_id).data
    # The dry run is a plain form: back on the review page, with the run.
    assert client.post(f"/new/{draft_id}/mapping/", fields).status_code == 302
    client.post(f"/new/{draft_id}/strategy/", {"load_strategy": "INSERT", "max_rejected_rows": "0"})
    page = client.get(f"/new/{draft_id}/review/").content.decode()
    assert f'<form method="post" action="/new/{draft_id}/dry-run/"' in page
    response = client.post(f"/new/{draft_id}/dry-run/")
    assert response.status_code == 302 and response["Location"] == f"/new/{draft_id}/review/"
    run = JobRun.objects.get()
    assert f"/new/{draft_id}/dry-run/{run.pk}/" in client.get(response["Location"]).content.decode()


def test_save_and_schedule_saves_the_job_and_opens_a_new_schedule_for_it(alice, dest):
    client = browser(alice)
    draft_id = _to_review(client, alice, dest)
    page = client.get(f"/new/{draft_id}/review/").content.decode()
    assert 'name="action" value="schedule">Save and schedule</button>' in page
    response = client.post(f"/new/{draft_id}/review/", {"name": "orders nightly", "action": "schedule"})
    job = Job.objects.get(name="orders nightly")
    assert response.status_code == 302 and response["Location"] == f"/schedules/new/?job={job.pk}"
    assert not job.is_draft and job.mappings.count() == 5
    assert not WizardDraft.objects.filter(pk=draft_id).exists()
    page = client.get(response["Location"]).content.decode()
    assert f'value="job:{job.pk}" selected' in page
    response = htmx(client, "post", f"/new/{_to_review(client, alice, dest)}/review/", {"action": "schedule",
                                                                                        "name": "again"})  # fmt: skip
    assert response["HX-Redirect"] == f"/schedules/new/?job={Job.objects.get(name='again').pk}"


def test_orders_csv_is_what_the_tests_think_it_is():
    assert ORDERS_CSV.count("\n") == 4
