from django.urls import path

from runs.consumers import RunProgressConsumer

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", RunProgressConsumer.as_asgi()),
]
