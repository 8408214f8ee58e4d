"""GET /healthz: is the database reachable, the broker up, and a worker listening?

Load balancers and `make run`'s users poll this, so it must answer quickly and
never fail itself: every probe is bounded, and the broker and worker probes
run in a helper thread with an overall deadline, so a half-open TCP
connection to Redis costs at most about three seconds.
"""

import contextlib
import logging
import threading

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from portal.celery import app as celery_app

logger = logging.getLogger(__name__)

OK = "ok"
UNAVAILABLE = "unavailable"

# Seconds. The broker connect and PING, then one broadcast ping to the workers.
BROKER_TIMEOUT = 1.0
WORKER_TIMEOUT = 1.0
DEADLINE = 2.5


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("healthz: database unavailable", exc_info=True)
        return UNAVAILABLE
    return OK


def check_broker_and_worker() -> tuple[str, str]:
    """PING Redis through a fresh connection of the Celery app, then ping the workers.

    A fresh connection each time (not the app's pool) so a broker that
    restarted is seen as it is now, and nothing is left half-open.
    """
    try:
        conn = celery_app.connection_for_write(
            connect_timeout=BROKER_TIMEOUT,
            transport_options={
                "max_retries": 0,
                "connect_retries_timeout": BROKER_TIMEOUT,
                "socket_timeout": BROKER_TIMEOUT,
                "socket_connect_timeout": BROKER_TIMEOUT,
            },
        )
    except Exception:
        logger.warning("healthz: broker misconfigured", exc_info=True)
        return UNAVAILABLE, UNAVAILABLE
    try:
        try:
            conn.default_channel.client.ping()
        except Exception:
            logger.warning("healthz: broker unavailable", exc_info=True)
            return UNAVAILABLE, UNAVAILABLE
        try:
            replies = celery_app.control.ping(timeout=WORKER_TIMEOUT, limit=1, connection=conn)
        except Exception:
            logger.warning("healthz: worker ping failed", exc_info=True)
            return OK, UNAVAILABLE
        return OK, (OK if replies else UNAVAILABLE)
    finally:
        # Closing a connection that never opened may raise; nothing to do then.
        with contextlib.suppress(Exception):
            conn.release()


def _bounded_broker_and_worker() -> tuple[str, str]:
    result: list[tuple[str, str]] = []

    def probe():
        result.append(check_broker_and_worker())

    thread = threading.Thread(target=probe, name="healthz-probe", daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if not result:
        logger.warning("healthz: broker probe exceeded %.1f s", DEADLINE)
        return UNAVAILABLE, UNAVAILABLE
    return result[0]


@never_cache
@require_safe
def healthz(request):
    body = {"status": OK, "database": check_database()}
    body["broker"], body["worker"] = _bounded_broker_and_worker()
    healthy = all(body[part] == OK for part in ("database", "broker", "worker"))
    body["status"] = OK if healthy else UNAVAILABLE
    return JsonResponse(body, status=200 if healthy else 503)
