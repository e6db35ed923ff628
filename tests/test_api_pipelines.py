"""dbt projects, pipelines and schedules through the API: the same services as the pages, on the
real worker; what one user cannot see, reference or run; a failed pipeline retried from its step."""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest
from django_celery_beat.models import PeriodicTask

from credentials.services import credential_create
from jobs.models import Job
from runs.models import RunStatus
from tests.conftest import client_for, dest_credential_fields, wait_for_run
from tests.dbt_fixtures import FAILING_TEST, GOLD_NODES, MEDALLION, SILVER_NODES
from tests.test_pipelines import bronze_jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def analytics(dest):
    schema = f"a_{uuid.uuid4().hex[:10]}"
    yield schema
    dest.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def warehouse(alice):
    return credential_create(owner=alice, name="warehouse", **dest_credential_fields())


def project_zip(extra: dict[str, str] | None = None) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in MEDALLION.rglob("*"):
            if path.is_file() and "target" not in path.parts:
                archive.write(path, f"medallion/{path.relative_to(MEDALLION)}")
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
    buffer.seek(0)
    buffer.name = "medallion.zip"
    return buffer


def steps_body(jobs, project_id: int, bronze: str, *, gold_vars=None) -> list[dict]:
    vars_ = {"bronze_schema": bronze}
    return [
        {"kind": "load", "job": jobs[0].pk},
        {"kind": "load", "job": jobs[1].pk},
        {"kind": "dbt", "dbt_project": project_id, "dbt_command": "build", "select": "silver", "dbt_vars": vars_},
        {
            "kind": "dbt",
            "dbt_project": project_id,
            "dbt_command": "build",
            "select": "gold",
            "dbt_vars": {**vars_, **(gold_vars or {})},
        },
    ]


def test_a_dbt_project_is_registered_by_directory_or_zip_and_checked(alice, bob, warehouse, analytics):
    client = client_for(alice)

    by_path = client.post(
        "/api/dbt-projects/",
        {"name": "medallion", "path": str(MEDALLION), "credential": warehouse.pk, "target_schema": analytics},
        format="json",
    )
    assert by_path.status_code == 201, by_path.json()
    assert by_path.json()["source"] == "path" and by_path.json()["path"] == str(MEDALLION)
    assert client.get(f"/api/dbt-projects/{by_path.json()['id']}/").json()["problem"] == ""

    by_zip = client.post(
        "/api/dbt-projects/",
        {"name": "zipped", "archive": project_zip(), "credential": warehouse.pk, "target_schema": analytics},
        format="multipart",
    )
    assert by_zip.status_code == 201, by_zip.json()
    assert by_zip.json()["source"] == "archive" and "archive" not in by_zip.json()
    assert client.get(f"/api/dbt-projects/{by_zip.json()['id']}/").json()["problem"] == ""

    # An archive escaping its folder, a directory without dbt_project.yml, neither or both: 400s saying why.
    evil = client.post(
        "/api/dbt-projects/",
        {
            "name": "evil",
            "archive": project_zip({"../../etc/cron.d/x": "boom"}),
            "credential": warehouse.pk,
            "target_schema": analytics,
        },
        format="multipart",
    )
    assert evil.status_code == 400 and ".." in str(evil.json())
    nowhere = client.post(
        "/api/dbt-projects/",
        {"name": "x", "path": "/nonexistent/dbt", "credential": warehouse.pk, "target_schema": analytics},
        format="json",
    )
    assert nowhere.status_code == 400 and "only from inside" in str(nowhere.json()["path"])
    neither = client.post(
        "/api/dbt-projects/", {"name": "x", "credential": warehouse.pk, "target_schema": analytics}, format="json"
    )
    assert neither.status_code == 400 and "path" in neither.json()

    # Bob sees none of it, and cannot build with Alice's credential.
    bob_client = client_for(bob)
    assert bob_client.get("/api/dbt-projects/").json()["count"] == 0
    assert bob_client.get(f"/api/dbt-projects/{by_path.json()['id']}/").status_code == 404
    stolen = bob_client.post(
        "/api/dbt-projects/",
        {"name": "mine", "path": str(MEDALLION), "credential": warehouse.pk, "target_schema": "x"},
        format="json",
    )
    assert stolen.status_code == 400 and "credential" in stolen.json()


def test_a_pipeline_built_and_run_through_the_api_shows_its_steps_and_dbt_results(
    alice, bob, dest, warehouse, analytics, celery_worker
):
    client = client_for(alice)
    jobs = bronze_jobs(alice, warehouse, dest.schema)
    project = client.post(
        "/api/dbt-projects/",
        {"name": "medallion", "path": str(MEDALLION), "credential": warehouse.pk, "target_schema": analytics},
        format="json",
    ).json()
    created = client.post(
        "/api/pipelines/",
        {
            "name": "nightly",
            "steps": steps_body(jobs, project["id"], dest.schema, gold_vars={"fail_on_purpose": True}),
            "alert_emails": ["oncall@example.com"],
            "timeout_minutes": 30,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    pipeline = created.json()
    assert [step["position"] for step in pipeline["steps"]] == [1, 2, 3, 4]
    assert pipeline["steps"][2]["select"] == "silver" and pipeline["alert_emails"] == ["oncall@example.com"]

    # Bob cannot see, run or build on Alice's pipeline and jobs.
    bob_client = client_for(bob)
    assert bob_client.post(f"/api/pipelines/{pipeline['id']}/run/").status_code == 404
    theft = bob_client.post(
        "/api/pipelines/", {"name": "mine", "steps": [{"kind": "load", "job": jobs[0].pk}]}, format="json"
    )
    assert theft.status_code == 400 and "job" in str(theft.json())

    queued = client.post(f"/api/pipelines/{pipeline['id']}/run/")
    assert queued.status_code == 202 and queued.json()["kind"] == "pipeline"
    run = wait_for_run(queued.json()["id"], timeout=180)

    # The gold model's test fails on purpose in this variant: step 4 fails naming it, nothing is skipped after it.
    assert run.status == RunStatus.FAILED
    assert FAILING_TEST in run.error_message and "Step 4" in run.error_message
    listed = client.get("/api/runs/").json()["results"]
    assert [item["id"] for item in listed] == [run.pk], "steps are not listed at the top level"
    steps = client.get(f"/api/runs/?parent={run.pk}").json()["results"]
    assert sorted((s["step_position"], s["status"]) for s in steps) == [
        (1, "SUCCEEDED"),
        (2, "SUCCEEDED"),
        (3, "SUCCEEDED"),
        (4, "FAILED"),
    ]
    silver = next(s for s in steps if s["step_position"] == 3)
    gold = next(s for s in steps if s["step_position"] == 4)
    assert silver["title"] == "dbt build silver" and silver["parent"] == run.pk
    assert client.get(f"/api/runs/{silver['id']}/dbt-results/").json()["count"] == SILVER_NODES
    gold_results = client.get(f"/api/runs/{gold['id']}/dbt-results/").json()["results"]
    assert len(gold_results) == GOLD_NODES
    failing = next(r for r in gold_results if r["name"] == FAILING_TEST)
    assert failing["resource_type"] == "test" and failing["status"] == "fail" and failing["failures"] == 3

    # Retried from the failed step: steps 1-3 are reused, only step 4 runs again, as it was planned
    # in the failed run (editing the pipeline meanwhile changes its next runs, not this retry).
    edited = client.patch(
        f"/api/pipelines/{pipeline['id']}/", {"steps": steps_body(jobs, project["id"], dest.schema)}, format="json"
    )
    assert edited.status_code == 200 and "fail_on_purpose" not in str(edited.json()["steps"])
    assert client.post(f"/api/runs/{silver['id']}/retry/").status_code == 400  # a step is not retried alone
    retried = client.post(f"/api/runs/{run.pk}/retry/")
    assert retried.status_code == 202 and retried.json()["retry_of"] == run.pk
    again = wait_for_run(retried.json()["id"], timeout=180)
    assert list(again.steps.values_list("step_position", flat=True)) == [4]
    assert again.status == RunStatus.FAILED and FAILING_TEST in again.error_message
    assert [step.get("reuse") is not None for step in again.plan] == [True, True, True, False]
    assert bob_client.get(f"/api/runs/{run.pk}/").status_code == 404
    assert bob_client.get(f"/api/runs/{gold['id']}/dbt-results/").status_code == 404


def test_a_schedule_through_the_api_describes_itself_and_keeps_beat_in_step(alice, bob, warehouse):
    client = client_for(alice)
    job = bronze_jobs(alice, warehouse, "public")[0]

    created = client.post(
        "/api/schedules/",
        {"name": "weekday mornings", "job": job.pk, "cron": "0 9 * * 1-5", "timezone": "Europe/Paris"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["description"] == "At 09:00, Monday through Friday"
    assert len(body["next_runs"]) == 5 and all(moment.endswith(("+01:00", "+02:00")) for moment in body["next_runs"])
    assert body["last_run"] is None
    task = PeriodicTask.objects.get(pk=job.schedules.get().periodic_task_id)
    assert (task.crontab.hour, task.crontab.day_of_week, str(task.crontab.timezone)) == ("9", "1-5", "Europe/Paris")

    changed = client.patch(f"/api/schedules/{body['id']}/", {"cron": "*/15 * * * *", "enabled": False}, format="json")
    assert changed.status_code == 200 and changed.json()["next_runs"] == []
    task.refresh_from_db()
    assert task.crontab.minute == "*/15" and task.enabled is False

    bad = client.post("/api/schedules/", {"name": "x", "job": job.pk, "cron": "61 * * * *"}, format="json")
    assert bad.status_code == 400 and "cron" in bad.json()
    neither = client.post("/api/schedules/", {"name": "x", "cron": "0 * * * *"}, format="json")
    assert neither.status_code == 400 and "target" in neither.json()
    pipeline = client.post("/api/pipelines/", {"name": "p", "steps": [{"kind": "load", "job": job.pk}]}, format="json")
    both_body = {"name": "x", "job": job.pk, "pipeline": pipeline.json()["id"], "cron": "0 * * * *"}
    both = client.post("/api/schedules/", both_body, format="json")
    assert both.status_code == 400 and "target" in both.json()
    draft = Job.objects.create(owner=alice, name="trial", destination=warehouse, table="t", is_draft=True)
    hidden = client.post("/api/schedules/", {"name": "x", "job": draft.pk, "cron": "0 * * * *"}, format="json")
    assert hidden.status_code == 400 and "job" in hidden.json()
    assert draft.pk not in [item["id"] for item in client.get("/api/jobs/").json()["results"]]
    assert client_for(bob).get(f"/api/schedules/{body['id']}/").status_code == 404

    assert client.delete(f"/api/schedules/{body['id']}/").status_code == 204
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
