"""Issue 6's user story in a real browser (Debian's Chromium, Playwright, daphne, a real worker):
register a dbt project, build a pipeline "load -> dbt build -> dbt test" in the step editor,
run it and watch its timeline fill in live with per-model and per-test results, schedule it
daily, and set who is alerted when it fails."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from credentials.services import credential_create
from jobs.models import Pipeline, Schedule
from runs.models import JobRun, RunStatus
from tests.conftest import dest_credential_fields
from tests.dbt_fixtures import MEDALLION, SILVER_NODES
from tests.test_browser import log_in, shot
from tests.test_pipelines import bronze_jobs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.fixture
def analytics(dest):
    schema = f"a_{uuid.uuid4().hex[:10]}"
    yield schema
    dest.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_a_user_registers_dbt_builds_a_pipeline_runs_schedules_and_sets_alerts(page, alice, dest, analytics):
    credential = credential_create(owner=alice, name="warehouse", **dest_credential_fields())
    customers, orders = bronze_jobs(alice, credential, dest.schema)
    dbt_vars = json.dumps({"bronze_schema": dest.schema})
    log_in(page, "alice", "alice-password-1")

    # 1. Register the dbt project by its directory on the server.
    page.click("nav >> text=dbt")
    page.click("text=Register a project")
    page.fill("#id_name", "medallion")
    page.select_option("#id_credential", str(credential.pk))
    page.fill("#id_target_schema", analytics)
    page.fill("#id_path", str(MEDALLION))
    page.click("button:has-text('Save')")
    page.wait_for_url(re.compile(r"/dbt/\d+/$"))
    assert str(MEDALLION) in page.inner_text("main")

    # 2. The pipeline: load customers, load orders, dbt build silver and gold, dbt test gold.
    page.click("nav >> text=Pipelines")
    page.click("text=New pipeline")
    page.fill("#id_name", "nightly medallion")
    page.click("button:has-text('+ Load step')")  # the form starts with a load and a dbt step
    page.click("button:has-text('+ dbt step')")
    fieldsets = page.locator("fieldset.step")
    assert fieldsets.count() == 4
    # Order them: load, load, dbt, dbt (the new load step went to the end; move it up once).
    page.click("fieldset.step:nth-of-type(3) button:has-text('Up')")
    kinds = [fieldsets.nth(i).locator("select[name$='-kind']").input_value() for i in range(4)]
    assert kinds == ["load", "load", "dbt", "dbt"]
    page.select_option("#id_form-0-job", str(customers.pk))
    page.select_option("#id_form-1-job", str(orders.pk))
    assert not page.is_visible("#id_form-0-dbt_project")  # a load step shows only what a load needs
    for index, (command, select) in ((2, ("build", "silver gold")), (3, ("test", "gold"))):
        page.select_option(f"#id_form-{index}-dbt_project", label="medallion")
        page.select_option(f"#id_form-{index}-dbt_command", command)
        page.fill(f"#id_form-{index}-select", select)
        page.fill(f"#id_form-{index}-dbt_vars", dbt_vars)
    page.fill("#id_form-2-retries", "1")
    page.fill("#id_alert_emails", "oncall@example.com")
    page.fill("#id_alert_webhook_url", "https://hooks.example.com/etl?token=abc123")
    shot(page, "pipeline-1-editor")
    page.click("button:has-text('Save pipeline')")
    page.wait_for_url(re.compile(r"/pipelines/\d+/$"))
    pipeline = Pipeline.objects.get(name="nightly medallion")
    assert [str(step) for step in pipeline.steps.order_by("position")] == [
        "load load customers",
        "load load orders",
        "dbt build silver gold",
        "dbt test gold",
    ]
    assert page.is_visible("text=oncall@example.com") and not page.is_visible("text=abc123")

    # 3. Run it and watch the timeline fill in without reloading.
    page.click("button:has-text('Run now')")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    run_id = int(page.url.rstrip("/").split("/")[-1])
    page.wait_for_selector("#run-status [data-status='SUCCEEDED']", timeout=180_000)
    run = JobRun.objects.get(pk=run_id)
    assert run.status == RunStatus.SUCCEEDED, run.error_message
    figures = " ".join(page.inner_text("#run-status .stats").split())
    assert "4 / 4 steps succeeded" in figures and "23 rows loaded" in figures, figures
    timeline = page.locator("ol.timeline > li")
    assert timeline.count() == 4
    assert [timeline.nth(i).get_attribute("class") for i in range(4)] == ["SUCCEEDED"] * 4
    assert "8 rows read, 8 written, 0 rejected" in timeline.nth(0).inner_text()
    build = timeline.nth(2).inner_text()
    assert "stg_customers" in build and "customer_revenue" in build and "3 models" in build
    assert "8 tests" in build  # silver's 6 and gold's 2
    assert run.steps.get(step_position=3).dbt_results.count() == SILVER_NODES + 3  # and gold's 3 nodes
    assert "revenue_is_positive_when_failing" in timeline.nth(3).inner_text()
    shot(page, "pipeline-2-run-timeline")

    # 4. Schedule it daily.
    page.goto(f"{page.base}/pipelines/{pipeline.pk}/")
    page.click(".page-head a:text-is('Schedule')")
    page.fill("#id_name", "every night")
    page.check("input[name='preset'][value='daily']")
    page.select_option("#id_timezone", "Europe/Paris")
    page.click("button:has-text('Preview')")
    assert page.is_visible("text=At 00:00")
    shot(page, "pipeline-3-schedule")
    page.click("button:has-text('Save')")
    page.wait_for_url(re.compile(r"/schedules/$"))
    schedule = Schedule.objects.get(pipeline=pipeline)
    assert (schedule.cron, schedule.timezone, schedule.enabled) == ("0 0 * * *", "Europe/Paris", True)
    row = page.locator("tr", has_text="every night")
    assert "At 00:00" in row.inner_text() and "not yet" in row.inner_text()  # not started by it yet
    assert page.errors == []
