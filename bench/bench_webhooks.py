"""Verified webhook deliveries per second and their p95 latency, against a bare
Pyramid view under the same waitress.

Every delivery is a GitHub ``push`` signed with ``X-Hub-Signature-256`` and carrying a
delivery id of its own (replays would be refused), so each one is verified
(decrypting the trigger's secret, HMAC over the body), claims its id in the replay
ledger and is recorded in the delivery history.  Two kinds are measured:

* ``starting``: the push matches the trigger and creates an execution (dispatch is
  ``none``: the execution stays pending, so the figure is the webhook path, not the
  engine running steps);
* ``verified, no match``: the push is for a branch the trigger does not listen to.

The bare view answers the same POST with a small fixed JSON dict.  Each server runs in
a process of its own with the same waitress settings, one after the other; the load
comes from separate client processes on loopback (keep-alive connections), which
also time every request for the p95.

    .venv/bin/python bench/bench_webhooks.py [--duration 10] [--connections 8]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_webhooks.py

Target: verified deliveries at >= 0.2x the bare view's requests per second.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench_execution_detail import (
    PASSWORD,
    ansflow_app,
    create_postgres_database,
    free_port,
    make_settings,
)

HERE = Path(__file__).resolve()
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def bare_app() -> Any:
    from pyramid.config import Configurator

    def view(request: Any) -> dict[str, Any]:
        request.response.status = 202
        return {"status": "accepted"}

    config = Configurator()
    config.add_route("bare", "/bare/")
    config.add_view(view, route_name="bare", renderer="json")
    return config.make_wsgi_app()


def serve(kind: str, port: int, threads: int, settings_file: str) -> None:
    import logging

    import waitress

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    settings = json.loads(Path(settings_file).read_text()) if settings_file else {}
    app = bare_app() if kind == "bare" else ansflow_app(settings)
    waitress.serve(app, host="127.0.0.1", port=port, threads=threads, _quiet=True)


def seed(settings: dict[str, Any]) -> None:
    """Migrate; a user, a project, a pipeline and a GitHub trigger on ``main``."""
    from webtest import TestApp

    from ansflow_pyramid import migrations
    from ansflow_pyramid.db import session_scope
    from ansflow_pyramid.identity.services import create_user

    app = ansflow_app(settings)
    migrations.upgrade(app.registry)
    with session_scope(app.registry["dbsession_factory"]) as session:
        create_user(session, "bench", PASSWORD)
    client = TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
    token = client.post_json(
        "/api/v1/auth/token/", {"username": "bench", "password": PASSWORD}
    ).json["access"]
    headers = {"Authorization": f"Bearer {token}"}
    project = client.post_json("/api/v1/projects/projects/", {"name": "bench"}, headers=headers)
    steps = [
        {"name": f"step {i}", "step_type": "shell_script", "command": "make"} for i in range(3)
    ]
    pipeline = client.post_json(
        "/api/v1/pipelines/pipelines/",
        {"name": "bench", "project": project.json["id"], "steps": steps},
        headers=headers,
    ).json
    client.post_json(
        f"/api/v1/pipelines/{pipeline['id']}/webhook-triggers/",
        {
            "source": "github",
            "repository": "acme/app",
            "branches": ["main"],
            "secret": WEBHOOK_SECRET,
        },
        headers=headers,
    )
    app.registry["db_engine"].dispose()


def push(branch: str) -> tuple[bytes, dict[str, str]]:
    """A signed push (the delivery id is added per request by the client)."""
    from ansflow_triggers.sources import sign

    body = json.dumps(
        {
            "ref": f"refs/heads/{branch}",
            "after": COMMIT,
            "repository": {"full_name": "acme/app"},
            "sender": {"login": "bench"},
            "head_commit": {"id": COMMIT, "message": "x" * 200},
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": sign(WEBHOOK_SECRET, body),
    }
    return body, headers


# -- load -------------------------------------------------------------------------------
def _client(
    port: int, path: str, body: bytes, headers: dict[str, str], deadline: float, queue: Any
) -> None:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[float] = []
    errors = 0
    while time.monotonic() < deadline:
        request_headers = {**headers, "X-GitHub-Delivery": str(uuid.uuid4())}
        started = time.perf_counter()
        connection.request("POST", path, body=body, headers=request_headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        errors += response.status != 202
    queue.put((latencies, errors))


def load(
    port: int, path: str, body: bytes, headers: dict[str, str], duration: float, connections: int
) -> tuple[float, float]:
    """Requests per second and p95 latency (ms) with ``connections`` client processes."""
    queue: Any = multiprocessing.Queue()
    start = time.monotonic()
    deadline = start + duration
    workers = [
        multiprocessing.Process(target=_client, args=(port, path, body, headers, deadline, queue))
        for _ in range(connections)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - start
    if any(errors for _, errors in results):
        raise SystemExit(f"non-202 answers while loading {path}")
    latencies = [latency for part, _ in results for latency in part]
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000 if len(latencies) > 20 else 0.0
    return len(latencies) / elapsed, p95


def wait_ready(port: int, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server on port {port} did not start")


def measure(
    kind: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    settings_file: str,
    args: argparse.Namespace,
) -> tuple[float, float]:
    port = free_port()
    command = [sys.executable, str(HERE), "--serve", kind, "--port", str(port)]
    command += ["--server-threads", str(args.server_threads), "--settings-file", settings_file]
    server = subprocess.Popen(command)
    try:
        wait_ready(port)
        load(port, path, body, headers, 2, args.connections)  # warm up
        return load(port, path, body, headers, args.duration, args.connections)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8, help="client processes")
    parser.add_argument("--server-threads", type=int, default=4, help="waitress threads")
    parser.add_argument("--serve", choices=("bare", "app"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--settings-file", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.server_threads, args.settings_file)
        return

    import os

    workdir = Path(tempfile.mkdtemp(prefix="ansflow-bench-"))
    cleanup = None
    try:
        url = os.environ.get("DATABASE_URL", "")
        if url.startswith("postgres"):
            database_url, cleanup = create_postgres_database(url)
            backend = "PostgreSQL"
        else:
            database_url = f"sqlite:///{workdir / 'bench.sqlite'}"
            backend = "SQLite"
        settings = {**make_settings(database_url), "ansflow.scheduler": "off"}
        seed(settings)
        settings_file = workdir / "settings.json"
        settings_file.write_text(json.dumps(settings))

        body, headers = push("main")
        bare = measure("bare", "/bare/", body, headers, "", args)
        starting = measure(
            "app", "/api/v1/webhooks/github/", body, headers, str(settings_file), args
        )
        body, headers = push("develop")
        verified = measure(
            "app", "/api/v1/webhooks/github/", body, headers, str(settings_file), args
        )
        print(
            f"backend {backend}; waitress threads={args.server_threads}; load: "
            f"{args.connections} client processes, {args.duration} s each"
        )
        print(f"{'':32}{'req/s':>10}{'p95 ms':>10}{'ratio':>8}")
        for label, (rate, p95) in (
            ("bare Pyramid view", bare),
            ("verified push, starts a run", starting),
            ("verified push, no match", verified),
        ):
            print(f"{label:32}{rate:10.1f}{p95:10.2f}{rate / bare[0]:8.3f}")
        print("target: verified deliveries >= 0.2x the bare view")
    finally:
        if cleanup is not None:
            cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
