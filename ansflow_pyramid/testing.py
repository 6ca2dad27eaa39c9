"""Pytest fixtures for integrators (and this project's own tests).

Installed as a pytest plugin through the ``pytest11`` entry point, so any test suite
with ansflow-pyramid installed can use them:

* ``ansflow_settings`` - settings for a throw-away database: a fresh PostgreSQL
  database when ``DATABASE_URL`` points at PostgreSQL (created for the run, dropped
  after), otherwise a SQLite file in a temporary folder.  ``REDIS_URL`` switches Redis
  on; keys are prefixed per run so parallel runs never meet.
* ``ansflow_app`` - the WSGI application, migrated, built once per run.  It does not
  run executions (``ansflow.dispatch = none``: they stay pending); build an app
  with ``make_app(ansflow__dispatch="threads")`` to run them.
* ``testapp`` - a ``webtest.TestApp`` around it with a fresh cookie jar; every table
  is emptied after each test.
* ``make_app`` - build another application with setting overrides.
* ``dbsession`` - a session whose work commits when the block ends
  (``with dbsession() as s: ...``).
* ``redis_url`` - a reachable Redis for tests that need one: skipped when none answers,
  except under ``CI=true`` where a missing Redis fails the test.

Passwords are hashed with argon2id at its minimum cost in test processes (the plugin's
``pytest_configure``), so creating users is cheap; production code never takes that path.

Set ``ANSFLOW_TEST_KEEP_DATABASE=1`` to keep the PostgreSQL database for inspection.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ansflow_pyramid.db.scratch import create_scratch_database, drop_database
from ansflow_pyramid.settings import as_bool, overlay_environment

TEST_SECRET = "test-secret-" + "x" * 40


def pytest_configure(config: pytest.Config) -> None:
    """Test processes hash passwords with argon2id at its minimum cost (see passwords)."""
    from ansflow_pyramid.identity.passwords import use_cheap_hashing_for_tests

    use_cheap_hashing_for_tests()


def in_ci() -> bool:
    """True under CI, where a missing service is a failure, never a skip."""
    return as_bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def ansflow_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database URL of a fresh, empty database for this test run."""
    base = overlay_environment({}).get("sqlalchemy.url", "")
    if base.startswith("postgresql"):
        url = create_scratch_database(base)
        yield url
        if not as_bool(os.environ.get("ANSFLOW_TEST_KEEP_DATABASE")):
            drop_database(url)
        return
    path = tmp_path_factory.mktemp("db") / "ansflow-test.sqlite"
    yield f"sqlite:///{path}"


@pytest.fixture(scope="session")
def ansflow_settings(ansflow_database_url: str) -> dict[str, Any]:
    """Settings for the test application (environment overrides already applied)."""
    settings = overlay_environment({})
    settings.update(
        {
            "sqlalchemy.url": ansflow_database_url,
            "redis.url": os.environ.get("REDIS_URL", ""),
            "ansflow.redis_prefix": f"ansflow-test-{uuid.uuid4().hex[:8]}:",
            "ansflow.secret_key": TEST_SECRET,
            "jwt.secret": TEST_SECRET + "-jwt",
            "session.secret": TEST_SECRET + "-session",
            "ansflow.environment": "testing",
            # Executions stay pending, so API tests see deterministic states; tests of
            # the engine build an app with make_app(ansflow__dispatch="threads").
            "ansflow.dispatch": "none",
            # Schedules run when a test ticks them with its own clock, never on their own.
            "ansflow.scheduler": "off",
        }
    )
    return settings


def _build_app(settings: dict[str, Any]) -> Any:
    from ansflow_pyramid import make_configurator

    # The environment was applied to the settings already; the test's values must win.
    return make_configurator(settings, environ={}).make_wsgi_app()


@pytest.fixture(scope="session")
def ansflow_app(ansflow_settings: dict[str, Any]) -> Any:
    """The application, with every migration applied, shared by the whole run."""
    from ansflow_pyramid import migrations

    app = _build_app(dict(ansflow_settings))
    migrations.upgrade(app.registry)
    return app


@pytest.fixture
def make_app(ansflow_app: Any, ansflow_settings: dict[str, Any]) -> Callable[..., Any]:
    """Build another application on the same database with setting overrides."""
    built: list[Any] = []

    def factory(**overrides: Any) -> Any:
        settings = dict(ansflow_settings)
        settings.update({key.replace("__", "."): value for key, value in overrides.items()})
        app = _build_app(settings)
        built.append(app)
        return app

    yield factory
    for app in built:
        # Stop the app's background work (reaper, dispatcher threads, bus listener)
        # before its database connections go.
        runtime = app.registry.get("ansflow.execution")
        if runtime is not None:
            runtime.close()
        app.registry["db_engine"].dispose()


def empty_all_tables(app: Any) -> None:
    """Delete every row of every table (keeping the schema and alembic's version)."""
    from ansflow_pyramid.db import SQLITE_IMMEDIATE_OPTION, Base

    engine = app.registry["db_engine"]
    tables = [t for t in reversed(Base.metadata.sorted_tables)]
    # It reads (the table names) and then writes: on SQLite that transaction must take
    # the write lock up front, or an engine thread still committing log lines of a test's
    # execution makes the first DELETE fail at once with "database is locked".
    with engine.execution_options(**{SQLITE_IMMEDIATE_OPTION: True}).begin() as connection:
        existing = set(engine.dialect.get_table_names(connection))
        names = [t.name for t in tables if t.name in existing]
        if not names:
            return
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{name}"' for name in names)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            for name in names:
                connection.execute(text(f'DELETE FROM "{name}"'))
    client = app.registry.get("ansflow.redis")
    prefix = app.registry.settings.get("ansflow.redis_prefix")
    if client is not None and prefix:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def testapp(ansflow_app: Any) -> Iterator[Any]:
    """A ``webtest.TestApp`` with a fresh cookie jar; tables are emptied afterwards."""
    from webtest import TestApp

    client = TestApp(ansflow_app, extra_environ={"HTTP_HOST": "localhost"})
    yield client
    empty_all_tables(ansflow_app)


@pytest.fixture
def dbsession(ansflow_app: Any) -> Callable[[], AbstractContextManager[Session]]:
    """``with dbsession() as session:`` - work that commits when the block ends."""
    from ansflow_pyramid.db import session_scope

    factory = ansflow_app.registry["dbsession_factory"]
    return lambda: session_scope(factory)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis that answers; skip without one (fail under CI)."""
    url = (
        os.environ.get("REDIS_URL")
        or os.environ.get("ANSFLOW_TEST_REDIS_URL")
        or "redis://127.0.0.1:6379/0"
    )
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as error:
        message = f"Redis at {url} does not answer: {error}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return url


def random_password() -> str:
    return secrets.token_urlsafe(16)
