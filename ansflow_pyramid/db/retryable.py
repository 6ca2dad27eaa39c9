"""Which database errors a second attempt of the request can cure, marked as they happen.

* SQLite's "database is locked": another connection held the write lock too
  long, or a read transaction could not upgrade its snapshot to write;
* a connection found dead when used (the server restarted, or something closed an
  idle connection): SQLAlchemy invalidates it, and the retry runs on a fresh one.
  This is what lets the pool skip a ping round trip before every checkout.

Errors are marked where they are raised (an engine ``handle_error`` listener, and
:mod:`ansflow_pyramid.db.driver_query` for its own statements) rather than in a tween:
an error raised inside a view is rendered by the exception view before any tween sees
it, and pyramid_retry then decides from the marked exception alone.  PostgreSQL's
serialization failures and deadlocks are already marked by pyramid_tm.
"""

from __future__ import annotations

from typing import Any

from pyramid_retry import mark_error_retryable
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, OperationalError


def is_retryable(error: DBAPIError) -> bool:
    """Whether running the request again may succeed where ``error`` failed it."""
    if error.connection_invalidated:
        return True
    if isinstance(error, OperationalError):
        # SQLite's SQLITE_BUSY ("database is locked") and SQLITE_LOCKED
        # ("database table is locked").
        return "is locked" in str(error.orig).lower()
    return False


def mark_if_retryable(error: DBAPIError) -> None:
    if is_retryable(error):
        mark_error_retryable(error)


def install_retry_marking(engine: Engine) -> None:
    """Mark ``engine``'s retryable errors as they are raised."""

    @event.listens_for(engine, "handle_error")
    def _mark(context: Any) -> None:
        error = context.sqlalchemy_exception
        if isinstance(error, DBAPIError):
            # The invalidation flag is set on the exception after this hook runs.
            if context.is_disconnect:
                mark_error_retryable(error)
            else:
                mark_if_retryable(error)
