"""/healthz: is this web process able to reach its database and Redis?"""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from etlportal.netcheck import describe_redis_url


def healthz(request):
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure is an unhealthy answer, not a 500
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = (
            f"error: cannot reach Redis at {describe_redis_url(settings.REDIS_URL)} ({type(exc).__name__})"
        )
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unhealthy", **checks}, status=200 if healthy else 503)
