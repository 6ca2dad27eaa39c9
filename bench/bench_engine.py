"""The execution engine's speed, end to end through a real waitress server.

Prints three figures (targets from issue 5):

1. log lines per second for one execution: stored (lines / the execution's stored
   duration) and streamed (lines / time between the SSE client receiving the first
   and the last line) - target >= 10,000 each;
2. latency from a line printed by the step to the SSE client receiving it: p50, p95,
   max - target p95 <= 100 ms;
3. the engine's overhead per trivial execution (one step running ``true``): the
   median of ``Engine.run`` minus the median of spawning and reaping the same shell
   command directly - target <= 50 ms.

    .venv/bin/python bench/bench_engine.py [--lines 100000] [--latency-lines 1000]
        [--trivial 40] [--database-url postgresql://...] [--redis-url redis://...]

SQLite in a temporary folder by default; ``--database-url`` creates (and drops) a
scratch PostgreSQL database; ``--redis-url`` sends events through Redis pub/sub.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from webtest.http import StopableWSGIServer

from ansflow_pyramid import make_configurator, migrations
from ansflow_pyramid.db import session_scope
from ansflow_pyramid.db.scratch import create_scratch_database, drop_database
from ansflow_pyramid.execution import get_runtime
from ansflow_pyramid.identity.services import create_user

# The event-stream client lives with the tests (it is no part of the server).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.sse_client import SSEClient

PASSWORD = "bench-password-123"
PYTHON = shlex.quote(sys.executable)


def scratch_postgres(url: str) -> str:
    return create_scratch_database(url, prefix="ansflow_bench")


def drop_postgres(url: str) -> None:
    drop_database(url)


def build_app(database_url: str, redis_url: str, workspace: str, dispatch: str) -> Any:
    settings = {
        "sqlalchemy.url": database_url,
        "redis.url": redis_url,
        "ansflow.redis_prefix": f"ansflow-bench-{uuid.uuid4().hex[:8]}:",
        "ansflow.secret_key": "bench-secret-" + "x" * 40,
        "jwt.secret": "bench-jwt-" + "x" * 40,
        "session.secret": "bench-session-" + "x" * 40,
        "ansflow.dispatch": dispatch,
        "ansflow.workspace_root": workspace,
        "ansflow.reaper": "false",
        "ansflow.max_streams": "8",
    }
    return make_configurator(settings, environ={}).make_wsgi_app()


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        token = self.http.post(
            f"{base}/api/v1/auth/token/", json={"username": "bench", "password": PASSWORD}
        ).json()["access"]
        self.token = token
        self.http.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(self.base + path, json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def get(self, path: str) -> dict[str, Any]:
        response = self.http.get(self.base + path, timeout=60)
        response.raise_for_status()
        return response.json()

    def pipeline(self, project: int, name: str, command: str) -> int:
        body = {
            "name": name,
            "project": project,
            "steps": [{"name": name, "step_type": "shell_script", "command": command}],
        }
        return self.post("/api/v1/pipelines/pipelines/", body)["id"]

    def stream(self, execution_id: int) -> SSEClient:
        return SSEClient(
            f"{self.base}/api/v1/cicd/executions/{execution_id}/events/",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=120,
        )


def throughput(client: Client, project: int, lines: int) -> tuple[float, float]:
    command = (
        f'{PYTHON} -c "import sys; w = sys.stdout.write; '
        f"[w('line %d of the benchmark output, padded to look like a build log' % i + chr(10)) "
        f'for i in range({lines})]"'
    )
    pipeline = client.pipeline(project, "throughput", command)
    execution = client.post(f"/api/v1/pipelines/pipelines/{pipeline}/run/", {})["id"]
    received = 0
    first = last = 0.0
    with client.stream(execution) as stream:
        for event in stream:
            if event.event == "log" and '"stream":"stdout"' in event.data:
                received += 1
                if received == 1:
                    first = time.perf_counter()
                last = time.perf_counter()
            elif event.event == "end":
                break
    detail = client.get(f"/api/v1/cicd/executions/{execution}/")
    assert received == lines, f"received {received} of {lines} lines"
    stored_rate = lines / float(detail["duration"])
    streamed_rate = lines / (last - first) if last > first else float("inf")
    return stored_rate, streamed_rate


def latency(client: Client, project: int, lines: int) -> list[float]:
    command = (
        f'{PYTHON} -c "import time, sys\n'
        f"for i in range({lines}):\n"
        f'    print(repr(time.time()), flush=True); time.sleep(0.004)"'
    )
    pipeline = client.pipeline(project, "latency", command)
    execution = client.post(f"/api/v1/pipelines/pipelines/{pipeline}/run/", {})["id"]
    delays = []
    with client.stream(execution) as stream:
        for event in stream:
            if event.event == "log":
                arrived = time.time()
                data = json.loads(event.data)
                if data["stream"] == "stdout":
                    delays.append((arrived - float(data["message"])) * 1000.0)
            elif event.event == "end":
                break
    assert len(delays) == lines, f"received {len(delays)} of {lines} lines"
    return delays


def overhead(app: Any, project: int, pipeline: int, count: int, base: str) -> tuple[float, float]:
    """Median ms of Engine.run for a one-step ``true`` pipeline, and of spawning it."""
    # Executions are created by the API of an app that does not dispatch them, then
    # run one by one by the engine of the measured app.
    client = Client(base)
    runtime = get_runtime(app.registry)
    engine = runtime.engine
    runs = []
    for _ in range(count):
        execution = client.post(f"/api/v1/pipelines/pipelines/{pipeline}/run/", {})["id"]
        started = time.perf_counter()
        status = engine.run(execution)
        runs.append((time.perf_counter() - started) * 1000.0)
        assert status == "success", status
    spawns = []
    for _ in range(count):
        started = time.perf_counter()
        subprocess.run(["bash", "-c", "true"], check=True)
        spawns.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(runs), statistics.median(spawns)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--latency-lines", type=int, default=1000)
    parser.add_argument("--trivial", type=int, default=40)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ansflow-bench-"))
    database_url = (
        scratch_postgres(args.database_url)
        if args.database_url.startswith("postgres")
        else f"sqlite:///{tmp / 'bench.sqlite'}"
    )
    try:
        app = build_app(database_url, args.redis_url, str(tmp / "ws"), "threads")
        migrations.upgrade(app.registry)
        with session_scope(app.registry["dbsession_factory"]) as session:
            create_user(session, "bench", PASSWORD, is_superuser=True)
        server = StopableWSGIServer.create(app, host="127.0.0.1", threads=8)
        quiet = build_app(database_url, args.redis_url, str(tmp / "ws"), "none")
        quiet_server = StopableWSGIServer.create(quiet, host="127.0.0.1", threads=4)
        try:
            assert server.wait() and quiet_server.wait()
            base = server.application_url.rstrip("/")
            client = Client(base)
            project = client.post("/api/v1/projects/projects/", {"name": "bench"})["id"]
            backend = app.registry["db_engine"].dialect.name
            events = "redis" if args.redis_url else "in-process"
            print(f"backend: {backend}, events: {events}")

            stored, streamed = throughput(client, project, args.lines)
            print(
                f"1. lines/s for one execution ({args.lines} lines): "
                f"stored {stored:,.0f}, streamed {streamed:,.0f}   (target >= 10,000)"
            )

            delays = sorted(latency(client, project, args.latency_lines))
            p50 = statistics.median(delays)
            p95 = delays[int(0.95 * (len(delays) - 1))]
            print(
                f"2. line printed -> SSE client ({len(delays)} lines): "
                f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {delays[-1]:.1f} ms   (target p95 <= 100 ms)"
            )

            trivial = client.pipeline(project, "trivial", "true")
            run_ms, spawn_ms = overhead(
                app, project, trivial, args.trivial, quiet_server.application_url.rstrip("/")
            )
            print(
                f"3. engine overhead per trivial execution ({args.trivial} runs): "
                f"median {run_ms - spawn_ms:.1f} ms (run {run_ms:.1f} ms - process start "
                f"{spawn_ms:.1f} ms)   (target <= 50 ms)"
            )
        finally:
            server.shutdown()
            quiet_server.shutdown()
            get_runtime(app.registry).close()
            get_runtime(quiet.registry).close()
            app.registry["db_engine"].dispose()
            quiet.registry["db_engine"].dispose()
    finally:
        if database_url.startswith("postgresql"):
            drop_postgres(database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
