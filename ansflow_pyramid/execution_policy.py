"""The request execution policy: retries, then JSON for anything that escapes.

pyramid_retry re-runs a request whose transaction failed with a retryable error (a
version-checked UPDATE that matched no row, a serialization failure, SQLite's "database
is locked", a pooled connection found dead: see ansflow_pyramid.db.retryable).  What still fails after the last attempt never reaches the WSGI server as
an HTML page: a conflict becomes a JSON 409, anything else a JSON 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pyramid.config import Configurator
from pyramid.response import Response
from pyramid_retry import (
    IRetryableError,
    RetryableException,
    RetryableExecutionPolicy,
)

from ansflow_pyramid.api.errors import error_response
from ansflow_pyramid.settings import as_int

log = logging.getLogger(__name__)


def json_safe_execution_policy(attempts: int) -> Callable[[dict[str, Any], Any], Response]:
    retrying = RetryableExecutionPolicy(attempts=attempts)

    def execution_policy(environ: dict[str, Any], router: Any) -> Response:
        try:
            return retrying(environ, router)
        except Exception as error:
            # Not is_error_retryable(): it answers False on the last attempt, which is
            # exactly when a conflict still standing must become a 409, not a 500.
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


def includeme(config: Configurator) -> None:
    attempts = as_int(config.get_settings().get("retry.attempts"), 3)
    config.set_execution_policy(json_safe_execution_policy(attempts))
