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
