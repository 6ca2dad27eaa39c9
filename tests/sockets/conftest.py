"""Fixtures for socket tests: the application under a real uvicorn server on a
loopback port, users, and clients speaking both HTTP and WebSockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from ansflow_pyramid.db import session_scope
from ansflow_pyramid.identity.services import create_user
from ansflow_pyramid.sockets.serve import uvicorn_config

PASSWORD = "correct horse battery staple"
FINAL = ("success", "failed", "cancelled", "timeout")


class LiveASGI:
    """``app`` served by uvicorn (through the project's ASGI entry point) in a thread."""

    def __init__(self, app: Any, **options: Any) -> None:
        import uvicorn

        self.app = app
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(2048)
        self.port = self.listener.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_base = f"ws://127.0.0.1:{self.port}"
        self.origin = self.base
        options.setdefault("threads", 16)
        options.setdefault("log_level", "warning")
        options.setdefault("timeout_graceful_shutdown", 1)
        config = uvicorn_config(app, host="127.0.0.1", port=self.port, **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.listener]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    @property
    def sockets(self) -> Any:
        return self.app.registry["ansflow.sockets"]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.listener.close()


class Client:
    """One user: a Bearer token for HTTP, and what sockets need."""

    def __init__(self, live: LiveASGI, username: str, superuser: bool = False) -> None:
        self.live = live
        with session_scope(live.app.registry["dbsession_factory"]) as dbsession:
            self.user_id = create_user(dbsession, username, PASSWORD, is_superuser=superuser).id
        self.username = username
        self.http = requests.Session()
        tokens = self.http.post(
            f"{live.base}/api/v1/auth/token/",
            json={"username": username, "password": PASSWORD},
            timeout=10,
        ).json()
        self.access, self.refresh = tokens["access"], tokens["refresh"]
        self.http.headers["Authorization"] = f"Bearer {self.access}"

    def call(self, method: str, path: str, status: int | None = None, **kw: Any) -> Any:
        response = self.http.request(method, self.live.base + path, timeout=30, **kw)
        if status is not None:
            assert response.status_code == status, (response.status_code, response.text[:300])
        return response.json() if response.content else None

    def pipeline(self, commands: list[str], name: str = "pipe") -> dict[str, Any]:
        project = self.call("POST", "/api/v1/projects/projects/", 201, json={"name": f"{name}-p"})
        steps = [
            {"name": f"step-{i}", "step_type": "shell_script", "command": c, "order": i + 1}
            for i, c in enumerate(commands)
        ]
        body = {"name": name, "project": project["id"], "steps": steps}
        return self.call("POST", "/api/v1/pipelines/pipelines/", 201, json=body)

    def run(self, pipeline_id: int) -> dict[str, Any]:
        return self.call("POST", f"/api/v1/pipelines/pipelines/{pipeline_id}/run/", 201, json={})

    def wait_final(self, execution_id: int, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            execution = self.call("GET", f"/api/v1/cicd/executions/{execution_id}/", 200)
            if execution["status"] in FINAL or time.monotonic() > deadline:
                return execution
            time.sleep(0.05)

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


@pytest.fixture
def live_server(make_app, testapp) -> Iterator[Callable[..., LiveASGI]]:
    """``live_server(**settings)``: an application (running executions in threads) under
    uvicorn on 127.0.0.1; tables are emptied after the test (through ``testapp``)."""
    started: list[LiveASGI] = []

    def factory(**overrides: Any) -> LiveASGI:
        settings = {
            "ansflow__dispatch": "threads",
            "ansflow__dispatch_threads": 4,
            "ansflow__socket_recheck_interval": 30,
        }
        settings.update(overrides)
        live = LiveASGI(make_app(**settings))
        started.append(live)
        return live

    yield factory
    for live in started:
        live.stop()
