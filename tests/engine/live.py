"""Helpers for end-to-end engine tests: a real waitress server, a JSON client, a
pipeline factory, and an `ansflow worker` subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from webtest.http import StopableWSGIServer

from ansflow_pyramid.db import session_scope
from ansflow_pyramid.identity.services import create_user
from tests.sse_client import SSEClient

PASSWORD = "correct horse battery staple"
BIN = Path(sys.executable).parent
FINAL = ("success", "failed", "cancelled", "timeout")


@contextmanager
def serve(app: Any, threads: int = 8) -> Iterator[str]:
    """Serve ``app`` with waitress on 127.0.0.1 (ephemeral port); yields the base URL."""
    server = StopableWSGIServer.create(app, host="127.0.0.1", threads=threads)
    try:
        assert server.wait(), "waitress did not start"
        yield server.application_url.rstrip("/")
    finally:
        server.shutdown()
        server.runner.join(timeout=10)


class Api:
    """JSON calls as one user, with a Bearer token."""

    def __init__(self, base: str, app: Any, username: str, superuser: bool = False) -> None:
        self.base = base
        with session_scope(app.registry["dbsession_factory"]) as session:
            self.user_id = create_user(session, username, PASSWORD, is_superuser=superuser).id
        self.session = requests.Session()
        token = self.session.post(
            f"{base}/api/v1/auth/token/",
            json={"username": username, "password": PASSWORD},
            timeout=10,
        ).json()["access"]
        self.token = token
        self.session.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def get(self, path: str, status: int = 200, **params: Any) -> Any:
        response = self.session.get(self.url(path), params=params, timeout=30)
        assert response.status_code == status, (response.status_code, response.text[:500])
        return response.json()

    def post(self, path: str, body: Any = None, status: int = 201) -> Any:
        response = self.session.post(self.url(path), json=body or {}, timeout=30)
        assert response.status_code == status, (response.status_code, response.text[:500])
        return response.json()

    def pipeline(self, steps: list[dict[str, Any]], name: str = "pipe") -> dict[str, Any]:
        project = self.post("/api/v1/projects/projects/", {"name": f"{name}-project"})
        body = {"name": name, "project": project["id"], "steps": steps}
        return self.post("/api/v1/pipelines/pipelines/", body)

    def run(self, pipeline_id: int, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.post(
            f"/api/v1/pipelines/pipelines/{pipeline_id}/run/", {"parameters": parameters or {}}
        )

    def wait_final(self, execution_id: int, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            execution = self.get(f"/api/v1/cicd/executions/{execution_id}/")
            if execution["status"] in FINAL or time.monotonic() > deadline:
                return execution
            time.sleep(0.05)

    def wait_for_line(self, execution_id: int, needle: str, timeout: float = 15) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            page = self.get(f"/api/v1/cicd/executions/{execution_id}/logs/", offset=0, limit=5000)
            for line in page["lines"]:
                if needle in line["text"]:
                    return line["text"]
            time.sleep(0.05)
        return None

    def stream(self, execution_id: int, last_event_id: Any = None, **kw: Any) -> SSEClient:
        return SSEClient(
            f"{self.base}/api/v1/cicd/executions/{execution_id}/events/",
            last_event_id=last_event_id,
            headers={"Authorization": f"Bearer {self.token}"},
            **kw,
        )


def step(name: str, command: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "step_type": "shell_script", "command": command, **fields}


def write_ini(path: Path, settings: dict[str, Any]) -> Path:
    lines = ["[app:main]", "use = egg:ansflow-pyramid"]
    for key, value in sorted(settings.items()):
        text = str(value).replace("%", "%%").replace("\n", " ")
        lines.append(f"{key} = {text}")
    lines += [
        "",
        "[loggers]",
        "keys = root",
        "[handlers]",
        "keys = console",
        "[formatters]",
        "keys = generic",
        "[logger_root]",
        "level = INFO",
        "handlers = console",
        "[handler_console]",
        "class = StreamHandler",
        "args = (sys.stderr,)",
        "level = NOTSET",
        "formatter = generic",
        "[formatter_generic]",
        "format = %(asctime)s %(levelname)s [%(name)s] %(message)s",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


class WorkerProcess:
    """``ansflow worker INI`` in a subprocess, stopped (or killed) by the test."""

    def __init__(self, ini: Path, log_path: Path) -> None:
        # The worker must see the ini's settings only: the test runner's DATABASE_URL,
        # REDIS_URL and ANSFLOW_* would override them.
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("ANSFLOW_") and key not in ("DATABASE_URL", "REDIS_URL")
        }
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(BIN / "ansflow"), "worker", str(ini)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.output()}")
            if b"listening on queue" in self.log_path.read_bytes():
                return
            time.sleep(0.1)
        raise AssertionError(f"worker not ready:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_bytes().decode(errors="replace")[-5000:]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


def purge_rq_queue(redis_url: str, queue_name: str) -> None:
    """Delete an RQ queue, its registries and their jobs (RQ's keys cannot carry the
    test run's prefix, and a killed worker leaves its job behind without a TTL)."""
    import redis
    from rq import Queue

    client = redis.Redis.from_url(redis_url)
    queue = Queue(queue_name, connection=client)
    registries = [
        queue.started_job_registry,
        queue.failed_job_registry,
        queue.finished_job_registry,
        queue.canceled_job_registry,
        queue.deferred_job_registry,
        queue.scheduled_job_registry,
    ]
    for registry in registries:
        for job_id in registry.get_job_ids():
            client.delete(f"rq:job:{job_id}")
        client.delete(registry.key)
    queue.delete(delete_jobs=True)
    client.delete(f"rq:workers:{queue_name}")
    client.close()
