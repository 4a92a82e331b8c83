"""Health checks for load balancers and orchestrators: ``/healthz`` (the process answers) and
``/readyz`` (it can serve: database, broker, storage, the active model).

Both are open to anyone, as probes carry no credentials: answers name each check, its state,
its latency and, when it failed, a short code; never an address, a path or an exception's text
(those go to the log).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = logging.getLogger(__name__)

# The storage probe's folder: a file under it lives for the length of one probe.
PROBE_PREFIX = "health"
PROBE_BYTES = b"idolsite readiness probe"
# A Redis that does not answer within this many seconds is not ready.
BROKER_TIMEOUT = 2.0


class CheckFailed(Exception):
    """A readiness check that failed for a known reason: ``code`` is what the answer shows."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def check_database() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return None


def check_broker() -> str | None:
    """Redis answers PING; with the ORM broker, its queue table can be read."""
    if settings.IDOLSITE_REDIS_URL:
        import redis

        client = redis.Redis.from_url(
            settings.IDOLSITE_REDIS_URL, socket_connect_timeout=BROKER_TIMEOUT, socket_timeout=BROKER_TIMEOUT
        )
        try:
            if not client.ping():
                raise CheckFailed("broker_no_pong")
        finally:
            client.close()
        return "redis"
    from django_q.models import OrmQ

    list(OrmQ.objects.order_by().values_list("pk", flat=True)[:1])
    return "orm"


def check_storage() -> str | None:
    """A small file written, read back and deleted through the storage API (the local disk or
    an object store alike); a name of its own, so probes running at once never collide."""
    name = default_storage.save(f"{PROBE_PREFIX}/{uuid.uuid4().hex}.txt", ContentFile(PROBE_BYTES))
    try:
        with default_storage.open(name, "rb") as handle:
            if handle.read() != PROBE_BYTES:
                raise CheckFailed("storage_read_mismatch")
    finally:
        default_storage.delete(name)
    return None


def check_model() -> str | None:
    """The active model's files are there and its JSON readable; no model yet is ready (a fresh
    install), an active model that cannot be loaded is not. Loads no weights."""
    from classifier.models import ModelVersion
    from classifier.services.versions import model_files_problem

    version = ModelVersion.objects.active()
    if version is None:
        return "none"
    problem = model_files_problem(version)
    if problem:
        raise CheckFailed(problem)
    return None


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
    "model": check_model,
}


def run_checks() -> tuple[bool, dict[str, dict[str, object]]]:
    """Every check, each timed; a check after a failed database check still runs (its own
    answer says more than "skipped")."""
    results: dict[str, dict[str, object]] = {}
    ready = True
    for name, check in CHECKS.items():
        started = time.perf_counter()
        result: dict[str, object]
        try:
            detail = check()
            result = {"state": "ok"}
            if detail:
                result["detail"] = detail
        except CheckFailed as exc:
            result = {"state": "fail", "reason": exc.code}
        except Exception as exc:  # whatever a database, Redis or a storage raises when down
            log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            result = {"state": "fail", "reason": f"{name}_error", "error": type(exc).__name__}
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        if result["state"] != "ok":
            ready = False
        results[name] = result
    return ready, results


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serves requests: touches no database, no broker, no file."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when every check passes, else 503: a load balancer sends no traffic here."""
    ready, checks = run_checks()
    return JsonResponse({"status": "ready" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
