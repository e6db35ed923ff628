"""The PostgreSQL connector against the real destination database, without the worker."""

from __future__ import annotations

import pytest

from credentials.connectors import ConnectorError, LoadPlan, TargetColumn, get_connector
from credentials.connectors.base import ConnectionParams
from runs.models import JobRun, RunStatus
from runs.services import RunAbandoned, run_commit_gate
from tests.conftest import dest_credential_fields
from tests.factories import make_job

PLAN_COLUMNS = [TargetColumn("id", "integer", nullable=False), TargetColumn("name", "text")]


def connector(**overrides):
    fields = {**dest_credential_fields(), **overrides}
    return get_connector(ConnectionParams(**fields))


def no_events(phase, message):
    pass


@pytest.mark.django_db
def test_a_run_reaped_during_the_load_does_not_commit(alice, dest):
    run = JobRun.objects.create(job=make_job(alice), status=RunStatus.RUNNING)
    plan = LoadPlan(dest.schema, "t", PLAN_COLUMNS, create_table=True)

    def rows():
        yield 2, (1, "one")
        # The reaper decides the worker is lost while rows are still streaming.
        JobRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)
        yield 3, (2, "two")

    with pytest.raises(RunAbandoned):
        connector().load(plan, rows(), no_events, before_commit=lambda: run_commit_gate(run_id=run.pk))

    assert dest.execute("SELECT to_regclass(%s)", (f"{dest.schema}.t",)).fetchone()[0] is None


def test_a_null_in_a_not_null_column_of_an_existing_table_names_the_line(dest):
    dest.execute(f'CREATE TABLE "{dest.schema}".t (id integer NOT NULL, name text)')
    plan = LoadPlan(dest.schema, "t", [TargetColumn("id", "integer"), TargetColumn("name", "text")])

    with pytest.raises(ConnectorError) as caught:
        connector().load(plan, iter([(2, (1, "a")), (5, (None, "b"))]), no_events)

    assert (caught.value.line, caught.value.column) == (5, "id")
    assert "null value in column" in caught.value.message


def test_a_lock_held_on_the_table_fails_the_load_after_the_lock_timeout(dest):
    import psycopg

    from tests import services

    dest.execute(f'CREATE TABLE "{dest.schema}".t (id integer NOT NULL, name text)')
    plan = LoadPlan(dest.schema, "t", PLAN_COLUMNS, lock_timeout_seconds=1)
    with psycopg.connect(services.DEST_URL) as holder:
        holder.execute(f'LOCK TABLE "{dest.schema}".t IN ACCESS EXCLUSIVE MODE')
        with pytest.raises(ConnectorError) as caught:
            connector().load(plan, iter([(2, (1, "a"))]), no_events)

    assert caught.value.message.startswith(f"Waited more than 1 s for a lock on {dest.schema}.t")
    assert caught.value.retryable is True


def test_primary_key_is_created_only_for_upsert_keys_of_an_upsert():
    plan = LoadPlan("s", "t", PLAN_COLUMNS, key_columns=("id",))
    insert_sql = connector().create_table_sql(plan).as_string(None)
    upsert_sql = connector().create_table_sql(LoadPlan("s", "t", PLAN_COLUMNS, "UPSERT", key_columns=("id",)))

    assert "PRIMARY KEY" not in insert_sql
    assert 'PRIMARY KEY ("id")' in upsert_sql.as_string(None)
    assert insert_sql == 'CREATE TABLE "s"."t" ("id" integer NOT NULL, "name" text)'


def test_secrets_are_scrubbed_from_any_message():
    params = ConnectionParams(kind="postgresql", password="hunter22", secret_options={"token": "tok-123"})

    assert params.scrub("auth hunter22 failed with tok-123") == "auth ******** failed with ********"
    assert "hunter22" not in repr(params)
