from django.urls import path

from runs.consumers import RunPageConsumer, RunProgressConsumer

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", RunProgressConsumer.as_asgi()),
    path("ws/runs/<int:run_id>/live/", RunPageConsumer.as_asgi()),
]
