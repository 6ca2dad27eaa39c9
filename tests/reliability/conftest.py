"""Fixtures of the reliability suite: private PostgreSQL and Redis, the API served by
waitress on loopback, ``ansflow worker`` processes, and the secrets they hold.

The suite runs in the PostgreSQL pass of CI (``DATABASE_URL`` pointing at
PostgreSQL), or whenever ``ANSFLOW_RELIABILITY=1``; it never uses the shared
services, only the ones it starts.  It needs ``redis-server``, the PostgreSQL server
binaries and, for step isolation, root (to create and switch to the ``ansflow-step``
account): under ``CI=true`` a missing one fails the suite.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from ansflow_pyramid.testing import in_ci
from tests.engine.live import serve
from tests.reliability.services import (
    STEP_USER,
    PrivatePostgres,
    PrivateRedis,
    Worker,
    ensure_step_user,
    postgres_bin,
)

PASSWORD = "reliability password 123"


def _wanted() -> bool:
    if os.environ.get("ANSFLOW_RELIABILITY", "").strip() in ("1", "true", "yes"):
        return True
    return os.environ.get("DATABASE_URL", "").startswith("postgres")


def _missing_prerequisite() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    try:
        postgres_bin()
    except RuntimeError as error:
        return str(error)
    if ensure_step_user() is None:
        return f"the {STEP_USER} account is missing and only root can create it"
    return None


@dataclass
class Secrets:
    secret_key: str
    jwt_secret: str
    session_secret: str
    database_password: str

    def values(self) -> list[str]:
        return [self.secret_key, self.jwt_secret, self.session_secret, self.database_password]


@dataclass
class Stack:
    postgres: PrivatePostgres
    redis: PrivateRedis
    config: Path
    settings: dict[str, Any]
    environ: dict[str, str]
    secrets: Secrets
    base: str
    app: Any
    workdir: Path

    def worker(self, name: str) -> Worker:
        return Worker(self.config, self.environ, self.workdir / f"worker-{name}.log")

    def url(self, path: str) -> str:
        return self.base + path

    def token(self, username: str) -> str:
        response = requests.post(
            self.url("/api/v1/auth/token/"),
            json={"username": username, "password": PASSWORD},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["access"]


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if not _wanted():
        pytest.skip("the reliability suite runs in the PostgreSQL pass (or ANSFLOW_RELIABILITY=1)")
    missing = _missing_prerequisite()
    if missing:
        if in_ci():
            pytest.fail(missing)
        pytest.skip(missing)
    # Not under pytest's temporary root: that is private to this user, and the
    # PostgreSQL cluster runs as the postgres account.
    workdir = Path(tempfile.mkdtemp(prefix="ansflow-reliability-"))
    workdir.chmod(0o755)
    postgres = PrivatePostgres(workdir)
    redis = PrivateRedis(workdir)
    postgres.init()
    postgres.start()
    redis.start()
    found = Secrets(*(secrets.token_urlsafe(32) for _ in range(4)))
    database_url = postgres.url(found.database_password)
    # The ini file holds secrets too: readable by the server's user only.
    config = workdir / "reliability.ini"
    config.write_text(
        "\n".join(
            [
                "[app:main]",
                "use = egg:ansflow-pyramid",
                f"sqlalchemy.url = {database_url}",
                f"redis.url = {redis.url}",
                f"ansflow.secret_key = {found.secret_key}",
                "ansflow.environment = production",
                "ansflow.dispatch = rq",
                "ansflow.events = redis",
                "ansflow.heartbeat_interval = 0.5",
                "ansflow.heartbeat_timeout = 3",
                "ansflow.reaper_interval = 0.5",
                "ansflow.dispatch_retries = 3",
                "ansflow.dispatch_retry_delay = 0.5",
                # Jobs queued in a Redis that was killed are lost with it: such
                # executions are failed once they waited this long unqueued.
                "ansflow.pending_timeout = 8",
                f"ansflow.step_user = {STEP_USER}",
                "ansflow.login_failure_limit = 1000",
                "ansflow.login_failure_address_limit = 100000",
                "session.secure = false",
                "",
            ]
        )
    )
    config.chmod(0o600)
    environ = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "ANSFLOW_SECRET_KEY": found.secret_key,
        "ANSFLOW_JWT_SECRET": found.jwt_secret,
        "ANSFLOW_SESSION_SECRET": found.session_secret,
    }
    from pyramid.paster import get_appsettings

    from ansflow_pyramid import make_configurator, migrations

    settings = dict(get_appsettings(str(config)))
    app = make_configurator(settings, environ=environ).make_wsgi_app()
    migrations.upgrade(app.registry)
    from ansflow_pyramid.db import session_scope
    from ansflow_pyramid.identity.services import create_user

    with session_scope(app.registry["dbsession_factory"]) as session:
        create_user(session, "admin", PASSWORD, is_superuser=True)
        create_user(session, "bob", PASSWORD)
    try:
        with serve(app, threads=8) as base:
            yield Stack(postgres, redis, config, settings, environ, found, base, app, workdir)
    finally:
        runtime = app.registry.get("ansflow.execution")
        if runtime is not None:
            runtime.close()
        app.registry["db_engine"].dispose()
        redis.stop()
        postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def worker(stack: Stack) -> Iterator[Worker]:
    running = stack.worker("shared")
    running.start()
    yield running
    running.stop()


class Client:
    """A bearer-token client of the live server."""

    def __init__(self, stack: Stack, username: str) -> None:
        self.stack = stack
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {stack.token(username)}"

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.stack.url(path), timeout=15, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.session.post(self.stack.url(path), json=body or {}, timeout=15, **kw)

    def pipeline(self, command: str, name: str = "p") -> dict[str, Any]:
        project = self.post("/api/v1/projects/projects/", {"name": f"{name}-project"})
        assert project.status_code == 201, project.text
        pipeline = self.post(
            "/api/v1/pipelines/pipelines/",
            {
                "name": name,
                "project": project.json()["id"],
                "steps": [{"name": "s", "step_type": "shell_script", "command": command}],
            },
        )
        assert pipeline.status_code == 201, pipeline.text
        return pipeline.json()

    def execution(self, execution_id: int) -> dict[str, Any]:
        response = self.get(f"/api/v1/cicd/executions/{execution_id}/")
        assert response.status_code == 200, response.text
        return response.json()
