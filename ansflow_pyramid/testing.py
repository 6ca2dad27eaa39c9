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

The integrator's kit, ``ansflow`` (an :class:`AnsflowKit`), builds what tests of a
plugin need through the API, as a client would::

    def test_developers_may_add_reports(ansflow):
        owner = ansflow.client("olivia")                   # Bearer token
        project = ansflow.project(owner, "demo")
        dev = ansflow.member(owner, project["id"], "dave", "developer")
        reporter = ansflow.member(owner, project["id"], "rita", "reporter")
        reporter.post("/api/v1/sonar/reports/", {"project": project["id"]}, status=403)
        dev.post("/api/v1/sonar/reports/", {"project": project["id"]})   # 201

    def test_a_pipeline_runs(ansflow):
        owner = ansflow.client("olivia", superuser=True)
        project = ansflow.project(owner)
        pipeline = ansflow.pipeline(owner, project["id"], steps=[("hello", "echo hi")])
        execution = ansflow.execution(owner, pipeline["id"])
        assert ansflow.run(execution["id"])["status"] == "success"

``ansflow.session_client("alice")`` logs in with a session cookie instead and sends
the ``X-CSRFToken`` header on unsafe requests, as a browser's JavaScript does.
``ansflow.run`` runs a pending execution synchronously in the test's thread (the
shared application never dispatches, so executions stay ``pending`` until then).

Passwords are hashed with argon2id at its minimum cost in test processes (the plugin's
``pytest_configure``), so creating users is cheap; production code never takes that path.

Set ``ANSFLOW_TEST_KEEP_DATABASE=1`` to keep the PostgreSQL database for inspection.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ansflow_pyramid.db.scratch import create_scratch_database, drop_database
from ansflow_pyramid.settings import as_bool, overlay_environment

__all__ = [
    "PASSWORD",
    "AnsflowKit",
    "Client",
    "ansflow",
    "ansflow_app",
    "ansflow_settings",
    "dbsession",
    "empty_all_tables",
    "in_ci",
    "make_app",
    "redis_url",
    "testapp",
]

TEST_SECRET = "test-secret-" + "x" * 40
#: The password of every user the kit creates.
PASSWORD = "correct horse battery staple"


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
def ansflow_app(ansflow_settings: dict[str, Any]) -> Iterator[Any]:
    """The application, with every migration applied, shared by the whole run."""
    from ansflow_pyramid import migrations

    app = _build_app(dict(ansflow_settings))
    migrations.upgrade(app.registry)
    yield app
    # Background work (the heartbeat reaper) stops before the database is dropped.
    _close_app(app)


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
        _close_app(app)


def _close_app(app: Any) -> None:
    """Stop an app's background work (reaper, dispatcher threads, bus listener), then
    close its database connections."""
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
            _empty_postgresql_tables(connection, names)
        else:
            for name in names:
                connection.execute(text(f'DELETE FROM "{name}"'))
    client = app.registry.get("ansflow.redis")
    prefix = app.registry.settings.get("ansflow.redis_prefix")
    if client is not None and prefix:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


def _empty_postgresql_tables(connection: Any, names: list[str]) -> None:
    """DELETE every row and restart the sequences, in one round trip.

    TRUNCATE costs a new file per table and an exclusive lock: tens of milliseconds per
    test even for empty tables, which adds up over a suite.  Deleting the few rows a
    test wrote is cheaper.  Tables are listed children first; a table outside the
    metadata still pointing at one of them makes the DELETE fail, and then TRUNCATE
    ... CASCADE does the job as before.
    """
    sequences = connection.execute(
        text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
    ).scalars()
    statements = [f'DELETE FROM "{name}"' for name in names]
    statements += [f'ALTER SEQUENCE "{sequence}" RESTART' for sequence in sequences]
    savepoint = connection.begin_nested()
    try:
        connection.exec_driver_sql("; ".join(statements))
        savepoint.commit()
    except Exception:
        savepoint.rollback()
        quoted = ", ".join(f'"{name}"' for name in names)
        connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))


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


# -- the integrator's kit -------------------------------------------------------------
@dataclass
class Client:
    """Requests to the test application as one user (or anonymously).

    Each method takes the expected status (``status=`` as in webtest; the default is
    the usual success) and returns webtest's response: ``.json``, ``.headers``.
    Bodies are sent as JSON; ``get`` sends its second argument as query parameters.
    """

    testapp: Any
    headers: dict[str, str] = field(default_factory=dict)
    user_id: int | None = None
    username: str | None = None
    #: Session clients send the CSRF cookie's value back on unsafe requests.
    uses_session: bool = False

    def _headers(self, method: str, extra: dict[str, str]) -> dict[str, str]:
        headers = {**self.headers, **extra}
        if self.uses_session and method not in ("get", "head", "options"):
            token = self.testapp.cookies.get("csrftoken")
            if token:
                headers.setdefault("X-CSRFToken", token)
        return headers

    def _call(self, method: str, url: str, body: Any, status: Any, **kw: Any) -> Any:
        headers = self._headers(method, kw.pop("headers", {}))
        if method in ("get", "head", "options"):
            return getattr(self.testapp, method)(
                url, params=body, headers=headers, status=status, **kw
            )
        if body is None:
            return getattr(self.testapp, method)(url, headers=headers, status=status, **kw)
        return getattr(self.testapp, method + "_json")(
            url, body, headers=headers, status=status, **kw
        )

    def get(self, url: str, params: Any = None, status: Any = 200, **kw: Any) -> Any:
        return self._call("get", url, params, status, **kw)

    def post(self, url: str, body: Any = None, status: Any = 201, **kw: Any) -> Any:
        return self._call("post", url, body, status, **kw)

    def put(self, url: str, body: Any = None, status: Any = 200, **kw: Any) -> Any:
        return self._call("put", url, body, status, **kw)

    def patch(self, url: str, body: Any = None, status: Any = 200, **kw: Any) -> Any:
        return self._call("patch", url, body, status, **kw)

    def delete(self, url: str, body: Any = None, status: Any = 204, **kw: Any) -> Any:
        return self._call("delete", url, body, status, **kw)


StepsSpec = int | Iterable[tuple[str, str] | dict[str, Any]]


class AnsflowKit:
    """Users, logged-in clients, projects with roles, pipelines and executions for
    tests, built through the API of the application under test (``testapp``)."""

    PROJECTS = "/api/v1/projects/projects/"
    PIPELINES = "/api/v1/pipelines/pipelines/"
    EXECUTIONS = "/api/v1/cicd/executions/"

    def __init__(self, testapp: Any, app: Any, dbsession: Callable[[], Any]) -> None:
        self.testapp = testapp
        self.app = app
        self.dbsession = dbsession
        self.users: dict[str, int] = {}

    # -- users and clients ---------------------------------------------------------
    def user(self, username: str, *, superuser: bool = False, password: str = PASSWORD) -> int:
        """Create ``username`` (once per test) and return its id."""
        if username not in self.users:
            from ansflow_pyramid.identity.services import create_user

            with self.dbsession() as session:
                user = create_user(session, username, password, is_superuser=superuser)
                self.users[username] = user.id
        return self.users[username]

    def client(self, username: str, *, superuser: bool = False) -> Client:
        """A client sending ``Authorization: Bearer <access>`` from ``auth/token/``."""
        user_id = self.user(username, superuser=superuser)
        access = self.testapp.post_json(
            "/api/v1/auth/token/", {"username": username, "password": PASSWORD}
        ).json["access"]
        return Client(self.testapp, {"Authorization": f"Bearer {access}"}, user_id, username)

    def session_client(self, username: str, *, superuser: bool = False) -> Client:
        """A client logged in with a session cookie (its own cookie jar) that sends
        ``X-CSRFToken`` on unsafe requests, as browsers' JavaScript does."""
        from webtest import TestApp

        user_id = self.user(username, superuser=superuser)
        browser = TestApp(self.app, extra_environ={"HTTP_HOST": "localhost"})
        browser.post_json("/api/v1/auth/session/", {"username": username, "password": PASSWORD})
        return Client(browser, {}, user_id, username, uses_session=True)

    @property
    def anonymous(self) -> Client:
        return Client(self.testapp)

    # -- projects and roles ----------------------------------------------------------
    def project(self, owner: Client, name: str = "demo", **fields: Any) -> dict[str, Any]:
        """Create a project as ``owner`` (who becomes its owner member)."""
        return owner.post(self.PROJECTS, {"name": name, **fields}).json

    def member(self, owner: Client, project_id: int, username: str, role: str) -> Client:
        """A logged-in client for ``username``, given ``role`` in the project
        (owner, maintainer, developer, reporter or guest) by ``owner``."""
        user_id = self.user(username)
        owner.post(
            f"{self.PROJECTS}{project_id}/add_member/",
            {"user_id": user_id, "role": role},
            status=(200, 201),
        )
        return self.client(username)

    # -- pipelines and executions ----------------------------------------------------
    def pipeline(
        self,
        client: Client,
        project_id: int,
        name: str = "build",
        steps: StepsSpec = 1,
        **fields: Any,
    ) -> dict[str, Any]:
        """Create a pipeline.  ``steps`` is a count of ``echo`` steps, ``(name,
        command)`` pairs of shell steps, or step dictionaries as the API takes them."""
        if isinstance(steps, int):
            steps = [(f"step {i + 1}", f"echo {i + 1}") for i in range(steps)]
        rows = [
            step
            if isinstance(step, dict)
            else {"name": step[0], "step_type": "shell_script", "command": step[1]}
            for step in steps
        ]
        body = {"name": name, "project": project_id, "steps": rows, **fields}
        return client.post(self.PIPELINES, body).json

    def execution(self, client: Client, pipeline_id: int, **fields: Any) -> dict[str, Any]:
        """Start an execution of ``pipeline_id`` (it stays pending until :meth:`run`)."""
        return client.post(self.EXECUTIONS, {"pipeline_id": pipeline_id, **fields}).json

    def run(self, execution_id: int, as_client: Client | None = None) -> dict[str, Any]:
        """Run a pending execution to its end in this thread; return its detail.

        It goes through the application's own engine, step runners and store, exactly
        as a dispatched run would, without threads or waiting.
        """
        from ansflow_pyramid.execution import get_runtime

        get_runtime(self.app.registry).engine.run(execution_id)
        reader = as_client or self.client("ansflow-kit-reader", superuser=True)
        return reader.get(f"{self.EXECUTIONS}{execution_id}/").json


@pytest.fixture
def ansflow(testapp: Any, ansflow_app: Any, dbsession: Any) -> AnsflowKit:
    """The integrator's kit (see :class:`AnsflowKit`); tables are emptied afterwards."""
    return AnsflowKit(testapp, ansflow_app, dbsession)
