"""Live run progress over websockets: authenticated, only for users who may see the run.

Two routes on the same group of messages (runs.events.publish):
- /ws/runs/<id>/       JSON: the run's counters and its log lines, for scripts;
- /ws/runs/<id>/live/  HTML fragments for the run page, swapped in by htmx's ws extension
                       (out-of-band swaps by element id), rendered from the database like the
                       page itself, so a reload and the live page always agree.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.template.loader import render_to_string
from django.utils.dateparse import parse_datetime

from runs.events import run_group, run_snapshot
from runs.selectors import get_run_for_user


class _RunGroup:
    """Joins the run's group once the user is known to be allowed to see the run (else closes 4403)."""

    async def join_run(self) -> bool:
        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        self.user = self.scope.get("user")
        self.run = await database_sync_to_async(get_run_for_user)(self.user, self.run_id)
        if self.run is None:
            await self.close(code=4403)
            return False
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        return True

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)


class RunProgressConsumer(_RunGroup, AsyncJsonWebsocketConsumer):
    async def connect(self):
        if await self.join_run():
            # The database is the truth: send the current state first, then live updates.
            await self.send_json(run_snapshot(self.run))

    async def run_update(self, message):
        await self.send_json({key: value for key, value in message.items() if key != "type"})


def _status_html(user, run_id: int) -> str:
    from runs.views import run_context

    run = get_run_for_user(user, run_id)
    if run is None:
        return ""
    context = run_context(run)
    return f'<div id="run-status" hx-swap-oob="true">{render_to_string("runs/_status.html", context)}</div>'


def _log_html(user, run_id: int) -> str:
    run = get_run_for_user(user, run_id)
    if run is None:
        return ""
    lines = "".join(render_to_string("runs/_log_line.html", {"event": event}) for event in run.events.all()[:2000])
    return f'<div id="run-log" hx-swap-oob="innerHTML">{lines}</div>'


class RunPageConsumer(_RunGroup, AsyncWebsocketConsumer):
    async def connect(self):
        if await self.join_run():
            # What happened between the page's rendering and this connection: sent again, whole.
            await self.send(text_data=await database_sync_to_async(_status_html)(self.user, self.run_id))
            await self.send(text_data=await database_sync_to_async(_log_html)(self.user, self.run_id))

    async def receive(self, text_data=None, bytes_data=None):
        pass  # the page sends nothing; htmx's extension may send a heartbeat

    async def run_update(self, message):
        event = message.get("event")
        if event:
            line = render_to_string(
                "runs/_log_line.html",
                {
                    "event": {
                        "level": event.get("level", "info"),
                        "message": event.get("message", ""),
                        "created_at": parse_datetime(event.get("at") or ""),
                    }
                },
            )
            await self.send(text_data=f'<div id="run-log" hx-swap-oob="beforeend">{line}</div>')
        if "run" in message:
            await self.send(text_data=await database_sync_to_async(_status_html)(self.user, self.run_id))
