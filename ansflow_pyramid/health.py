"""Health checks: the database and, when configured, Redis.

The answer is ``ok`` (200) when everything answers, ``degraded`` (200) when only
Redis does not (the API keeps serving: logins fall back to the database counters,
events reach this process's own streams, executions that cannot be queued are
retried, then fail with the reason), and ``error`` (503) when the database does not.
Each dependency is listed with its status and, for a failure, the error.
"""

from __future__ import annotations

import time
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ansflow_pyramid.redis_client import get_redis


def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check()
    except Exception as error:  # any failure is a finding, not a crash of the endpoint
        return {"status": "error", "error": type(error).__name__ + ": " + str(error)[:200]}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def health_view(context: Any, request: Request) -> dict[str, Any]:
    """Report whether the database (and Redis, when configured) answer."""
    engine = request.registry["db_engine"]

    def ping_database() -> None:
        # The pool does not ping before checkouts: a pooled connection that died since
        # its last use (a restarted server) fails once and is replaced, so one retry
        # tells that apart from a database that is really down.
        for attempt in (1, 2):
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                return
            except DBAPIError as error:
                if attempt == 2 or not error.connection_invalidated:
                    raise

    checks: dict[str, Any] = {"database": _timed(ping_database)}
    checks["database"]["backend"] = engine.dialect.name
    client = get_redis(request.registry)
    if client is not None:
        checks["redis"] = _timed(client.ping)
    if checks["database"]["status"] != "ok":
        request.response.status = 503
        # Like every answer while the database is down: come back shortly.
        request.response.headers["Retry-After"] = "2"
        status = "error"
    elif any(check["status"] != "ok" for check in checks.values()):
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "checks": checks}


def includeme(config: Configurator) -> None:
    config.add_api_endpoint(
        "core.health",
        "/api/v1/health",
        health_view,
        aliases=["/health"],
        description="Service health: database and Redis.",
    )
