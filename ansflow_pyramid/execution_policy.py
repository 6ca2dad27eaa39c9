"""The request execution policy: retries, then JSON for anything that escapes.

pyramid_retry re-runs a request whose transaction failed with a retryable error (a
version-checked UPDATE that matched no row, a serialization failure, SQLite's "database
is locked", a pooled connection found dead, a database restarting: see
ansflow_pyramid.db.retryable).  Before retrying a connection error it waits (doubling
from ``ansflow.db_retry_backoff``, 0.25 s), so that a restart is ridden out.  What
still fails after the last attempt never reaches the WSGI server as an HTML page: a
conflict becomes a JSON 409, a database that cannot be reached a JSON 503 with
``Retry-After``, anything else a JSON 500.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid_retry import (
    IBeforeRetry,
    IRetryableError,
    RetryableException,
    RetryableExecutionPolicy,
)
from sqlalchemy.exc import DBAPIError

from ansflow_pyramid.api.errors import error_response
from ansflow_pyramid.db.retryable import is_connection_error
from ansflow_pyramid.settings import as_int

#: Attempts when ``retry.attempts`` is not set: with the backoff below, connection
#: errors are retried for about 3.75 s (0.25 + 0.5 + 1 + 2) before the 503.
DEFAULT_ATTEMPTS = 5
DEFAULT_BACKOFF = 0.25
#: The longest wait between two attempts.
MAX_BACKOFF = 2.0

log = logging.getLogger(__name__)


def json_safe_execution_policy(attempts: int) -> Callable[[dict[str, Any], Any], Response]:
    retrying = RetryableExecutionPolicy(attempts=attempts)

    def execution_policy(environ: dict[str, Any], router: Any) -> Response:
        try:
            return retrying(environ, router)
        except Exception as error:
            # Not is_error_retryable(): it answers False on the last attempt, which is
            # exactly when a conflict still standing must become a 409, not a 500.
            if is_connection_error(error):
                return database_unavailable_response(error)
            if isinstance(error, RetryableException) or IRetryableError.providedBy(error):
                log.warning("request still conflicting after %d attempts: %s", attempts, error)
                return error_response(
                    409,
                    "The request conflicted with concurrent changes; please retry.",
                    "concurrent_update",
                    headers={"Retry-After": "1"},
                )
            # The error happened outside the views (most often while committing), so
            # no exception view ran: render it with them now, on a fresh request.
            return _render_with_exception_views(environ, router, error)

    return execution_policy


def _render_with_exception_views(
    environ: dict[str, Any], router: Any, error: Exception
) -> Response:
    try:
        request = router.request_factory(environ)
        request.registry = router.registry
        return request.invoke_exception_view((type(error), error, error.__traceback__))
    except Exception as rendering_error:  # never let the error page itself fail as HTML
        log.error("unhandled error outside the views", exc_info=error)
        log.error("and rendering it failed", exc_info=rendering_error)
        return error_response(500)


def database_unavailable_response(error: BaseException) -> Response:
    log.warning("database unavailable, answering 503: %s", error)
    return error_response(
        503,
        "The database is not available at the moment; please retry shortly.",
        "database_unavailable",
        headers={"Retry-After": "2"},
    )


def database_error_view(exc: DBAPIError, request: Request) -> Response:
    """Connection-level database errors that outlived the retries: a JSON 503."""
    if is_connection_error(exc):
        return database_unavailable_response(exc)
    log.error("database error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(500)


def backoff_subscriber(backoff: float) -> Callable[[Any], None]:
    """Wait before retrying a request that met a connection error (conflicts are
    retried at once: the other writer has already committed)."""

    def before_retry(event: Any) -> None:
        if is_connection_error(event.exception):
            attempt = int(event.environ.get("retry.attempt", 0))
            time.sleep(min(backoff * 2**attempt, MAX_BACKOFF))

    return before_retry


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    attempts = as_int(settings.get("retry.attempts"), DEFAULT_ATTEMPTS)
    backoff = float(settings.get("ansflow.db_retry_backoff") or DEFAULT_BACKOFF)
    config.set_execution_policy(json_safe_execution_policy(attempts))
    config.add_subscriber(backoff_subscriber(backoff), IBeforeRetry)
    config.add_exception_view(database_error_view, context=DBAPIError)
