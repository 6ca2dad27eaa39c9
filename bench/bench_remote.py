"""Observing remote runs: how many one process follows, what it costs, how late lines are.

Runs the fake Jenkins of the test suite in a child process (so its CPU time is not
counted), serves the API with waitress in this process (its observation scheduler is
what is measured), starts ``--runs`` executions of a pipeline on the fake Jenkins,
each build printing a line carrying the time it was printed every ``--line-every``
seconds for ``--duration`` seconds, and prints:

1. how many remote runs were observed at once, and status polls per run per poll
   interval (target: >= 1,000 runs, at most 1 poll per run per interval);
2. this process's CPU time per observed run per minute, over the steady window;
3. the delay from a line printed by the fake Jenkins to an SSE client receiving it
   (``--streams`` runs are followed live): p50, p95, max - target p95 <= the poll
   interval + 100 ms.

Builds last ``--duration`` seconds (long enough for every run to be triggered and
observed together); the figures are taken over a ``--window`` once all are running.

    .venv/bin/python bench/bench_remote.py [--runs 1000] [--interval 5] [--duration 300]
        [--window 60] [--line-every 1] [--streams 8] [--threads 16]
        [--database-url postgresql://...]

SQLite in a temporary folder by default; ``--database-url`` creates (and drops) a
scratch PostgreSQL database.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from webtest.http import StopableWSGIServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ansflow_pyramid import make_configurator, migrations
from ansflow_pyramid.db import session_scope
from ansflow_pyramid.db.scratch import create_scratch_database, drop_database
from ansflow_pyramid.execution import get_runtime
from ansflow_pyramid.identity.services import create_user
from tests.sse_client import SSEClient

PASSWORD = "bench-password-123"
BUILD_JSON = re.compile(r"/job/[^/]+/\d+/api/json")


def fake_jenkins_process(pipe: Any) -> None:
    from tests.integrations.fake_jenkins import FakeJenkins

    fake = FakeJenkins(queue_delay=0.0).start()
    pipe.send(fake.url)
    while True:
        command = pipe.recv()
        if command == "stats":
            with fake.lock:
                polls = sum(
                    1
                    for r in fake.requests
                    if r.path.endswith("/api/json") and "/queue/" not in r.path
                )
                logs = sum(1 for r in fake.requests if "progressiveText" in r.path)
                builds = sum(len(j.builds) for j in fake.jobs.values())
                running = sum(
                    1 for j in fake.jobs.values() for b in j.builds.values() if b.building
                )
            pipe.send(
                {"status_polls": polls, "log_polls": logs, "builds": builds, "running": running}
            )
        elif command == "stop":
            fake.close()
            pipe.send("stopped")
            return


def build_app(
    database_url: str, workspace: str, args: argparse.Namespace, observe: bool = True
) -> Any:
    settings = {
        "sqlalchemy.url": database_url,
        "redis.url": "",
        "ansflow.redis_prefix": f"ansflow-bench-{uuid.uuid4().hex[:8]}:",
        "ansflow.secret_key": "bench-secret-" + "x" * 40,
        "jwt.secret": "bench-jwt-" + "x" * 40,
        "session.secret": "bench-session-" + "x" * 40,
        "ansflow.dispatch": "threads",
        "ansflow.dispatch_threads": "8",
        "ansflow.workspace_root": workspace,
        "ansflow.max_streams": str(args.streams + 4),
        "ansflow.remote_poll_interval": str(args.interval),
        "ansflow.remote_observer_threads": str(args.threads),
        "ansflow.remote_failure_timeout": "600",
        "ansflow.outbound_allowed_networks": "127.0.0.0/8",
        "sqlalchemy.pool_size": "30",
        "ansflow.remote_observer": "auto" if observe else "false",
    }
    return make_configurator(settings, environ={}).make_wsgi_app()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--line-every", type=float, default=1.0)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    fake = multiprocessing.Process(target=fake_jenkins_process, args=(child,), daemon=True)
    fake.start()
    jenkins_url = parent.recv()

    tmp = tempfile.TemporaryDirectory(prefix="ansflow-bench-remote-")
    database_url = (
        create_scratch_database(args.database_url, prefix="ansflow_bench")
        if args.database_url
        else f"sqlite:///{tmp.name}/bench.sqlite"
    )
    # Migrate with an application that observes nothing, then serve the real one.
    bare = build_app(database_url, f"{tmp.name}/ws", args, observe=False)
    migrations.upgrade(bare.registry)
    get_runtime(bare.registry).close()
    bare.registry["db_engine"].dispose()
    app = build_app(database_url, f"{tmp.name}/ws", args)
    with session_scope(app.registry["dbsession_factory"]) as session:
        create_user(session, "bench", PASSWORD, is_superuser=True)
    server = StopableWSGIServer.create(app, host="127.0.0.1", threads=args.streams + 8)
    server.wait()
    base = server.application_url.rstrip("/")
    http = requests.Session()
    token = http.post(
        f"{base}/api/v1/auth/token/", json={"username": "bench", "password": PASSWORD}
    ).json()["access"]
    http.headers["Authorization"] = f"Bearer {token}"

    lines = max(1, int(args.duration / args.line_every))
    script = "; ".join(f"echo t=$EPOCH; sleep {args.line_every}" for _ in range(lines))
    project = http.post(f"{base}/api/v1/projects/projects/", json={"name": "bench"}).json()["id"]
    tool = http.post(
        f"{base}/api/v1/cicd/tools/",
        json={
            "name": "jenkins",
            "project": project,
            "tool_type": "jenkins",
            "base_url": jenkins_url,
            "username": "admin",
            "token": "api-token",
        },
    ).json()["id"]
    pipeline = http.post(
        f"{base}/api/v1/pipelines/pipelines/",
        json={
            "name": "remote-bench",
            "project": project,
            "execution_mode": "remote",
            "execution_tool": tool,
            "steps": [{"name": "print", "step_type": "shell_script", "command": script}],
        },
    ).json()["id"]
    # The job is written once; the runs trigger it as it is.
    http.post(
        f"{base}/api/v1/pipelines/pipelines/{pipeline}/sync_to_tool/", json={}
    ).raise_for_status()

    delays: list[float] = []
    delays_lock = threading.Lock()
    window_start = [0.0]

    def follow(execution_id: int) -> None:
        with SSEClient(
            f"{base}/api/v1/cicd/executions/{execution_id}/events/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=args.duration * 4 + 120,
        ) as stream:
            for event in stream:
                if event.event == "log":
                    message = event.json()["message"]
                    if message.startswith("t="):
                        printed = float(message[2:])
                        # Only lines printed during the window count (not the replay
                        # of older lines when the stream connects).
                        if window_start[0] and printed >= window_start[0]:
                            with delays_lock:
                                delays.append(time.time() - printed)
                elif event.event == "end":
                    return

    print(f"starting {args.runs} remote runs (poll interval {args.interval:g} s) ...", flush=True)
    started = time.monotonic()
    executions = []
    for _ in range(args.runs):
        response = http.post(
            f"{base}/api/v1/pipelines/pipelines/{pipeline}/trigger_external_build/",
            json={"job_name": f"ansflow-pipeline-{pipeline}"},
        )
        response.raise_for_status()
        executions.append(response.json()["id"])
    followers = [
        threading.Thread(target=follow, args=(e,), daemon=True) for e in executions[: args.streams]
    ]
    for thread in followers:
        thread.start()
    print(f"  {args.runs} triggered in {time.monotonic() - started:.1f} s", flush=True)

    runtime = get_runtime(app.registry)
    store = runtime.remote.store
    # Wait until every run is observed (triggered on Jenkins and running).
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        parent.send("stats")
        stats = parent.recv()
        if stats["running"] >= args.runs or stats["builds"] >= args.runs:
            break
        time.sleep(0.5)
    active = store.active_count()
    print(
        f"  {stats['running']} builds running on Jenkins, {active} remote runs observed", flush=True
    )

    window = args.window
    parent.send("stats")
    before = parent.recv()
    cpu_before, wall_before = cpu_seconds(), time.monotonic()
    window_start[0] = time.time()
    time.sleep(window)
    cpu_after, wall_after = cpu_seconds(), time.monotonic()
    parent.send("stats")
    after = parent.recv()
    observed = store.active_count()
    running_after = after["running"]
    elapsed = wall_after - wall_before
    polls = after["status_polls"] - before["status_polls"]
    intervals = elapsed / args.interval
    per_run = polls / max(1, min(active, observed)) / intervals
    cpu_per_run_minute = (cpu_after - cpu_before) / max(1, observed) / (elapsed / 60)

    window_start[0] = float("inf")  # stop counting
    print()
    print(
        f"remote runs observed at once:         {min(active, observed)} "
        f"({running_after} builds still running at the window's end; target >= 1000)"
    )
    print(f"status polls per run per interval:    {per_run:.2f} (target <= 1)")
    print(f"log polls in the window:              {after['log_polls'] - before['log_polls']}")
    print(
        f"CPU time per observed run per minute: {cpu_per_run_minute * 1000:.1f} ms (this process, {elapsed:.0f} s window)"
    )
    if delays:
        print(
            f"line -> SSE delay over {len(delays)} lines: p50 {statistics.median(delays) * 1000:.0f} ms, "
            f"p95 {percentile(delays, 0.95) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms "
            f"(target p95 <= {args.interval * 1000 + 100:.0f} ms)"
        )
    server.shutdown()
    runtime.close()
    app.registry["db_engine"].dispose()
    parent.send("stop")
    parent.recv()
    if args.database_url:
        drop_database(database_url)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
