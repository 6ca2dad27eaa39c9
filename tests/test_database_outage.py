"""Which database errors are connection-level (retried, then a JSON 503), and the 503."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from ansflow_pyramid.db.retryable import (
    DatabaseRetryingProxy,
    call_with_database_retries,
    is_connection_error,
)


class DriverError(Exception):
    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def operational(message: str, sqlstate: str | None = None) -> OperationalError:
    return OperationalError("SELECT 1", {}, DriverError(message, sqlstate))


@pytest.mark.parametrize(
    "error",
    [
        operational("the database system is shutting down", "57P03"),
        operational("the database system is starting up", "57P03"),
        operational("terminating connection due to administrator command", "57P01"),
        operational(
            'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
            "Connection refused"
        ),
        operational("server closed the connection unexpectedly"),
        operational("consuming input failed: EOF detected", "08006"),
    ],
)
def test_connection_level_errors(error):
    assert is_connection_error(error)


@pytest.mark.parametrize(
    "error",
    [
        operational("database is locked"),
        IntegrityError("INSERT", {}, DriverError("duplicate key", "23505")),
        ProgrammingError("SELECT", {}, DriverError("syntax error", "42601")),
        ProgrammingError("SELECT", {}, DriverError("connection refused in a string literal")),
    ],
)
def test_other_errors_are_not_connection_errors(error):
    assert not is_connection_error(error)


def test_calls_are_retried_across_a_restart_within_a_budget():
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise operational("the database system is starting up", "57P03")
        return "ok"

    assert call_with_database_retries(flaky, budget=5, backoff=0.01) == "ok"
    assert len(attempts) == 3

    def down() -> None:
        raise operational("Connection refused")

    with pytest.raises(OperationalError):
        call_with_database_retries(down, budget=0.05, backoff=0.01)

    class Store:
        calls = 0

        def load(self, value: int) -> int:
            Store.calls += 1
            if Store.calls == 1:
                raise operational("server closed the connection unexpectedly")
            return value * 2

    assert DatabaseRetryingProxy(Store(), budget=5).load(21) == 42


def test_a_database_that_stays_down_is_a_json_503(make_app, testapp):
    """The database URL points at a closed port: retried with backoff, then a 503."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_app(
        sqlalchemy__url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/nothing",
        ansflow__db_retry_backoff="0.01",
        ansflow__dispatch="none",
        ansflow__reaper="false",
    )
    from webtest import TestApp

    client = TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
    login = client.post_json("/api/v1/auth/token/", {"username": "a", "password": "b"}, status=503)
    assert login.content_type == "application/json"
    assert login.json["code"] == "database_unavailable"
    assert login.headers["Retry-After"] == "2"
    health = client.get("/api/v1/health/", status=503)
    assert health.json["status"] == "error" and health.headers["Retry-After"] == "2"
