"""Which database errors a second attempt of the request can cure, marked as they happen.

* SQLite's "database is locked": another connection held the write lock too
  long, or a read transaction could not upgrade its snapshot to write;
* a connection found dead when used (the server restarted, or something closed an
  idle connection): SQLAlchemy invalidates it, and the retry runs on a fresh one.
  This is what lets the pool skip a ping round trip before every checkout;
* the database not accepting connections for a moment: "connection refused", "the
  database system is shutting down" / "is starting up" / "is in recovery mode",
  ``AdminShutdown`` (a server restarted under an open connection), and the other
  connection-level errors (SQLSTATE class 08, 57P01-57P03).

Errors are marked where they are raised (an engine ``handle_error`` listener, and
:mod:`ansflow_pyramid.db.driver_query` for its own statements) rather than in a tween:
an error raised inside a view is rendered by the exception view before any tween sees
it, and pyramid_retry then decides from the marked exception alone.  PostgreSQL's
serialization failures and deadlocks are already marked by pyramid_tm.

One exception: a connection lost *while committing* is not retried.  The server may
have committed before the connection went, and running a write request twice could
store it twice; the request answers 503 instead (see
:mod:`ansflow_pyramid.execution_policy`), and the client decides.

Retries of connection errors wait a little before the next attempt (doubling from
``ansflow.db_retry_backoff`` seconds, 0.25 by default), so that a database restart
of a second or two is ridden out; when it lasts longer, the request answers a JSON
503 with ``Retry-After``.  Code outside requests (the engine, workers) uses
:func:`call_with_database_retries` and :class:`DatabaseRetryingProxy` for the same.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pyramid_retry import mark_error_retryable
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: SQLSTATEs of a connection that failed or a server that is (re)starting.
CONNECTION_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
#: Messages of drivers that raise connection failures without a SQLSTATE.
CONNECTION_MESSAGES = (
    "connection refused",
    "could not connect to server",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "terminating connection due to administrator command",
    "server closed the connection unexpectedly",
    "connection is closed",
    "connection already closed",
    "consuming input failed",
    "no connection to the server",
    "connection timeout expired",
    "ssl connection has been closed unexpectedly",
    "connection reset by peer",
    "broken pipe",
)


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached or the connection
    broke (as opposed to something wrong with the statement or the data)."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        original: Any = error.orig
    else:
        original = error
    sqlstate = getattr(original, "sqlstate", None) or ""
    if sqlstate.startswith("08") or sqlstate in CONNECTION_SQLSTATES:
        return True
    # Interface errors ("connection already closed") can be connection errors too;
    # other DBAPI errors (integrity, data, programming) never are.
    if isinstance(error, DBAPIError) and not isinstance(error, OperationalError | InterfaceError):
        return False
    message = str(original).lower()
    return any(fragment in message for fragment in CONNECTION_MESSAGES)


def is_retryable(error: DBAPIError) -> bool:
    """Whether running the request again may succeed where ``error`` failed it."""
    if is_connection_error(error):
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
        if not isinstance(error, DBAPIError):
            return
        committing = context.statement is None and context.connection is not None
        connection_level = context.is_disconnect or is_connection_error(error)
        if committing and connection_level:
            # COMMIT (or ROLLBACK) met a broken connection: the outcome is unknown.
            log.warning("the database connection broke while committing: %s", error.orig)
            return
        if connection_level:
            # The invalidation flag is set on the exception after this hook runs.
            mark_error_retryable(error)
        else:
            mark_if_retryable(error)


def call_with_database_retries(
    function: Callable[..., T],
    *args: Any,
    budget: float = 30.0,
    backoff: float = 0.25,
    **kwargs: Any,
) -> T:
    """Call ``function``; while it fails with a connection-level database error, wait
    (doubling from ``backoff``, at most 2 s) and call it again, for at most ``budget``
    seconds.  Other errors, and the last connection error, propagate."""
    deadline = time.monotonic() + budget
    delay = backoff
    while True:
        try:
            return function(*args, **kwargs)
        except DBAPIError as error:
            if not is_connection_error(error) or time.monotonic() + delay > deadline:
                raise
            log.warning("database unavailable (%s); retrying in %.2f s", error.orig, delay)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


class DatabaseRetryingProxy:
    """Wraps an object whose every method is one short transaction of its own (an
    execution store): each call is retried across a database restart, with
    :func:`call_with_database_retries`.  Attributes that are not callables pass through."""

    def __init__(self, target: Any, budget: float = 30.0) -> None:
        self._target = target
        self._budget = budget

    @property
    def wrapped(self) -> Any:
        return self._target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value) or name.startswith("_"):
            return value

        @functools.wraps(value)
        def retrying(*args: Any, **kwargs: Any) -> Any:
            return call_with_database_retries(value, *args, budget=self._budget, **kwargs)

        return retrying
