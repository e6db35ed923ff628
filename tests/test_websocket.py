"""Live run progress over a websocket on the real Redis channel layer."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from etlportal.asgi import application
from runs.events import publish
from runs.models import JobRun
from tests.conftest import client_for
from tests.factories import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def headers_for(user=None, origin: str = "http://localhost:8000"):
    headers = [(b"origin", origin.encode()), (b"host", b"localhost:8000")]
    if user is not None:
        session = client_for(user).cookies["sessionid"].value
        headers.append((b"cookie", f"sessionid={session}".encode()))
    return headers


def connect(run_id: int, headers):
    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/runs/{run_id}/", headers=headers)
        connected, code = await communicator.connect(timeout=5)
        if connected:
            await communicator.disconnect()
        return connected, code

    return async_to_sync(scenario)()


def test_owner_gets_the_current_state_then_live_updates(alice):
    run = JobRun.objects.create(job=make_job(alice))
    headers = headers_for(alice)

    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        first = await communicator.receive_json_from(timeout=5)
        await sync_to_async(publish)(run.pk, {"run": {"id": run.pk, "status": "RUNNING", "rows_read": 5000}})
        second = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return first, second

    first, second = async_to_sync(scenario)()

    assert first["run"]["id"] == run.pk and first["run"]["status"] == "PENDING"
    assert second == {"run": {"id": run.pk, "status": "RUNNING", "rows_read": 5000}}


def test_another_user_or_an_anonymous_visitor_cannot_watch_the_run(alice, bob):
    run = JobRun.objects.create(job=make_job(alice))

    assert connect(run.pk, headers_for(bob)) == (False, 4403)
    assert connect(run.pk, headers_for(None)) == (False, 4403)
    assert connect(run.pk + 1000, headers_for(alice)) == (False, 4403)


def test_a_page_from_another_origin_cannot_open_the_socket(alice):
    run = JobRun.objects.create(job=make_job(alice))

    connected, _ = connect(run.pk, headers_for(alice, origin="https://evil.example"))

    assert connected is False


# -- the run page's route: HTML fragments htmx swaps in ---------------------------------------------
def test_the_run_page_gets_its_status_and_log_then_each_new_line_and_state(alice):
    from runs.events import run_log

    run = JobRun.objects.create(job=make_job(alice))
    run_log(run, "Queued (manual)")
    headers = headers_for(alice)

    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/live/", headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        status = await communicator.receive_from(timeout=5)
        log = await communicator.receive_from(timeout=5)
        await sync_to_async(run_log)(run, "Reading orders.csv")
        line = await communicator.receive_from(timeout=5)
        await sync_to_async(JobRun.objects.filter(pk=run.pk).update)(status="RUNNING", rows_read=4321, progress=0.5)
        await sync_to_async(publish)(run.pk, {"run": {"id": run.pk, "status": "RUNNING"}})
        update = await communicator.receive_from(timeout=5)
        await communicator.disconnect()
        return status, log, line, update

    status, log, line, update = async_to_sync(scenario)()

    assert status.startswith('<div id="run-status" hx-swap-oob="true">') and 'data-status="PENDING"' in status
    assert log.startswith('<div id="run-log" hx-swap-oob="innerHTML">') and "Queued (manual)" in log
    assert line.startswith('<div id="run-log" hx-swap-oob="beforeend">') and "Reading orders.csv" in line
    assert 'data-status="RUNNING"' in update and "4321" in update and "remaining" in update


def test_another_user_cannot_open_the_run_pages_socket(alice, bob):
    run = JobRun.objects.create(job=make_job(alice))

    async def scenario(headers):
        communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/live/", headers=headers)
        result = await communicator.connect(timeout=5)
        if result[0]:
            await communicator.disconnect()
        return result

    assert async_to_sync(scenario)(headers_for(bob)) == (False, 4403)
    assert async_to_sync(scenario)(headers_for(None)) == (False, 4403)
