"""Live run progress over a websocket: authenticated, only for users who may see the run."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from runs.events import run_group, run_snapshot
from runs.selectors import get_run_for_user


class RunProgressConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        run = await database_sync_to_async(get_run_for_user)(self.scope.get("user"), self.run_id)
        if run is None:
            await self.close(code=4403)
            return
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # The database is the truth: send the current state first, then live updates.
        await self.send_json(run_snapshot(run))

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def run_update(self, message):
        await self.send_json({key: value for key, value in message.items() if key != "type"})
