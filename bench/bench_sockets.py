"""The ASGI server: HTTP throughput against waitress, and sockets' latency and memory.

1. ``GET /api/v1/cicd/executions/{id}/`` with a JWT (the execution detail of
   ``bench_execution_detail.py``), served by waitress and then by uvicorn through the
   project's ASGI entry point (a2wsgi bridge), the same WSGI threads, the same
   machine, one after the other; loaded with ``wrk`` (or a Python client).
2. The application under uvicorn, started by ``pserve`` with the
   ``egg:ansflow-pyramid#uvicorn`` server runner as an operator would: 500 idle
   sockets (watching a quiet running execution) and 50 active ones (watching 5
   executions that print a line every ``--interval`` seconds, 20 ms by default).  Prints the server's
   resident memory before, with the idle sockets, and with all of them; and the
   latency from the moment the engine read a line to the moment a socket client
   received it (p50, p95, max; target p95 <= 50 ms).  That latency includes the
   engine's log batching (``ansflow.log_flush_ms``, 25 ms by default), so it is what
   a user sees, not only the bus-to-socket hop.

    .venv/bin/python bench/bench_sockets.py [--duration 10] [--idle 500] [--active 50]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test REDIS_URL=redis://... \\
        .venv/bin/python bench/bench_sockets.py
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from bench_execution_detail import (  # noqa: E402 - the sibling script, by path
    PASSWORD,
    ansflow_app,
    create_postgres_database,
    free_port,
    make_settings,
    run_python_client,
    run_wrk,
    seed,
    wait_ready,
)


# -- servers ------------------------------------------------------------------------------
def serve(kind: str, port: int, threads: int, settings_file: str) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = ansflow_app(json.loads(Path(settings_file).read_text()))
    if kind == "waitress":
        import waitress

        waitress.serve(app, host="127.0.0.1", port=port, threads=threads, _quiet=True)
        return
    import uvicorn

    from ansflow_pyramid.sockets.serve import uvicorn_config

    config = uvicorn_config(app, host="127.0.0.1", port=port, threads=threads, log_level="warning")
    uvicorn.Server(config).run()


def measure_http(kind: str, path: str, headers: dict[str, str], settings_file: str, args: Any):
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE),
            "--serve",
            kind,
            "--port",
            str(port),
            "--server-threads",
            str(args.server_threads),
            "--settings-file",
            settings_file,
        ]
    )
    try:
        url = f"http://127.0.0.1:{port}{path}"
        wait_ready(url, headers)
        load = run_wrk if shutil.which("wrk") and not args.python_client else run_python_client
        load(url, headers, argparse.Namespace(**{**vars(args), "duration": 2}))
        return load(url, headers, args)
    finally:
        server.terminate()
        server.wait(timeout=30)


# -- sockets ------------------------------------------------------------------------------
def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def write_ini(path: Path, settings: dict[str, Any], port: int, threads: int) -> None:
    lines = ["[app:main]", "use = egg:ansflow-pyramid"]
    lines += [f"{key} = {str(value).replace('%', '%%')}" for key, value in settings.items()]
    lines += [
        "",
        "[server:main]",
        "use = egg:ansflow-pyramid#uvicorn",
        f"listen = 127.0.0.1:{port}",
        f"threads = {threads}",
        "log_level = warning",
    ]
    path.write_text("\n".join(lines) + "\n")


class Api:
    def __init__(self, base: str) -> None:
        import requests

        self.base = base
        self.http = requests.Session()
        token = self.http.post(
            f"{base}/api/v1/auth/token/",
            json={"username": "bench", "password": PASSWORD},
            timeout=30,
        ).json()["access"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http.headers.update(self.headers)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(self.base + path, json=body, timeout=30)
        assert response.status_code in (200, 201), response.text[:300]
        return response.json()

    def run(self, command: str, project_id: int, name: str) -> int:
        step = {"name": "s", "step_type": "shell_script", "command": command}
        pipeline = self.post(
            "/api/v1/pipelines/pipelines/", {"name": name, "project": project_id, "steps": [step]}
        )
        return self.post(f"/api/v1/pipelines/pipelines/{pipeline['id']}/run/", {})["id"]


async def open_idle(ws_base: str, execution_id: int, headers: dict[str, str], count: int):
    from websockets.asyncio.client import connect

    sockets = []
    for start in range(0, count, 50):
        batch = [
            connect(f"{ws_base}/ws/execution/{execution_id}", additional_headers=headers)
            for _ in range(min(50, count - start))
        ]
        sockets += await asyncio.gather(*batch)
    for ws in sockets:
        await ws.recv()  # connection
    return sockets


async def watch(ws_base: str, execution_id: int, headers: dict[str, str], delays: list[float]):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(
        f"{ws_base}/ws/execution/{execution_id}", additional_headers=headers, max_size=None
    ) as ws:
        live = False
        try:
            async for raw in ws:
                received = time.time()
                message = json.loads(raw)
                if message["type"] == "execution_status":
                    live = True
                elif message["type"] == "log_entry" and live and message["stream"] == "stdout":
                    sent = dt.datetime.fromisoformat(message["timestamp"]).timestamp()
                    delays.append(received - sent)
        except ConnectionClosed:
            pass


async def socket_load(base: str, args: Any, server_pid: int) -> dict[str, Any]:
    import requests

    api = await asyncio.to_thread(Api, base)
    ws_base = base.replace("http://", "ws://")
    project = await asyncio.to_thread(api.post, "/api/v1/projects/projects/", {"name": "sockets"})
    quiet = await asyncio.to_thread(api.run, "sleep 600", project["id"], "quiet")
    before = rss_kib(server_pid)
    idle = await open_idle(ws_base, quiet, api.headers, args.idle)
    with_idle = rss_kib(server_pid)
    # Active executions: a line every few milliseconds for the measured duration.
    lines = int(args.duration / args.interval)
    command = f"for i in $(seq 1 {lines}); do echo line-$i; sleep {args.interval}; done"
    executions = [
        await asyncio.to_thread(api.run, command, project["id"], f"busy-{n}")
        for n in range(args.executions)
    ]
    delays: list[float] = []
    watchers = [
        asyncio.create_task(watch(ws_base, executions[n % len(executions)], api.headers, delays))
        for n in range(args.active)
    ]
    peak = with_idle
    while not all(task.done() for task in watchers):
        await asyncio.sleep(0.5)
        peak = max(peak, rss_kib(server_pid))
    after = rss_kib(server_pid)
    bus_delays = await bus_probe(ws_base, api, project["id"], args) if args.redis_url else []
    for ws in idle:
        await ws.close()
    await asyncio.to_thread(
        requests.post, f"{base}/api/v1/cicd/executions/{quiet}/cancel/", headers=api.headers
    )
    return {
        "before": before,
        "with_idle": with_idle,
        "peak": peak,
        "after": after,
        "delays": sorted(delays),
        "bus_delays": sorted(bus_delays),
    }


async def bus_probe(ws_base: str, api: Api, project_id: int, args: Any) -> list[float]:
    """Event -> socket alone: log events published straight on the Redis bus (as the
    engine of another process would), each carrying its publication time, to the
    active sockets watching a quiet execution."""
    import redis

    from ansflow_pyramid.execution.events import LOG, ExecutionEvent

    probe = await asyncio.to_thread(api.run, "sleep 600", project_id, "probe")
    delays: list[float] = []
    done = asyncio.Event()

    async def listen() -> None:
        from websockets.asyncio.client import connect

        async with connect(f"{ws_base}/ws/execution/{probe}", additional_headers=api.headers) as ws:
            ready.append(1)
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "log_entry":
                    delays.append(time.time() - float(message["message"]))
                if done.is_set() and message["type"] == "log_entry" and message["line"] == count:
                    return

    ready: list[int] = []
    count = int(args.duration / args.interval)
    listeners = [asyncio.create_task(listen()) for _ in range(args.active)]
    while len(ready) < args.active:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    client = redis.Redis.from_url(args.redis_url)
    channel = f"{args.redis_prefix}events:{LOG}:{probe}"
    for number in range(1, count + 1):
        now = time.time()
        line = {
            "line": number,
            "timestamp": "",
            "level": "info",
            "message": repr(now),
            "step_id": None,
            "step_name": None,
            "stream": "stdout",
        }
        await asyncio.to_thread(
            client.publish, channel, ExecutionEvent(LOG, probe, {"lines": [line]}).to_json()
        )
        await asyncio.sleep(args.interval)
    done.set()
    await asyncio.wait(listeners, timeout=30)
    await asyncio.to_thread(
        api.http.post, f"{api.base}/api/v1/cicd/executions/{probe}/cancel/", timeout=30
    )
    return delays


def run_sockets(settings: dict[str, Any], workdir: Path, args: Any) -> dict[str, Any]:
    port = free_port()
    socket_settings = {
        **settings,
        "ansflow.dispatch": "threads",
        "ansflow.dispatch_threads": max(4, args.executions + 1),
        "ansflow.socket_max_per_user": args.idle + args.active + 10,
        "ansflow.socket_max_connections": args.idle + args.active + 10,
    }
    ini = workdir / "sockets.ini"
    write_ini(ini, socket_settings, port, args.server_threads)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    server = subprocess.Popen([str(Path(sys.executable).parent / "pserve"), str(ini)], env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/api/v1/health/", {})
        return asyncio.run(socket_load(base, args, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8, help="HTTP load connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--server-threads", type=int, default=4, help="WSGI threads")
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    parser.add_argument("--idle", type=int, default=500, help="idle sockets")
    parser.add_argument("--active", type=int, default=50, help="active sockets")
    parser.add_argument("--executions", type=int, default=5, help="busy executions watched")
    parser.add_argument(
        "--interval", type=float, default=0.02, help="seconds between a busy execution's lines"
    )
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP comparison")
    parser.add_argument("--serve", choices=("waitress", "uvicorn"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--settings-file", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.server_threads, args.settings_file)
        return

    workdir = Path(tempfile.mkdtemp(prefix="ansflow-bench-sockets-"))
    cleanup = None
    try:
        url = os.environ.get("DATABASE_URL", "")
        if url.startswith("postgres"):
            database_url, cleanup = create_postgres_database(url)
            backend = "PostgreSQL"
        else:
            database_url = f"sqlite:///{workdir / 'bench.sqlite'}"
            backend = "SQLite"
        settings = make_settings(database_url)
        settings["ansflow.redis_prefix"] = f"ansflow-bench-{os.getpid()}:"
        args.redis_url = settings["redis.url"]
        args.redis_prefix = settings["ansflow.redis_prefix"]
        execution_id = seed(settings)
        settings_file = workdir / "settings.json"
        settings_file.write_text(json.dumps(settings))
        print(f"backend {backend}; Redis {'on' if settings['redis.url'] else 'off'}")
        if not args.no_http:
            from webtest import TestApp

            token = (
                TestApp(ansflow_app(settings), extra_environ={"HTTP_HOST": "localhost"})
                .post_json("/api/v1/auth/token/", {"username": "bench", "password": PASSWORD})
                .json["access"]
            )
            auth = {"Authorization": f"Bearer {token}"}
            path = f"/api/v1/cicd/executions/{execution_id}/"
            waitress_rate = measure_http("waitress", path, auth, str(settings_file), args)
            uvicorn_rate = measure_http("uvicorn", path, auth, str(settings_file), args)
            tool = "wrk" if shutil.which("wrk") and not args.python_client else "python client"
            print(
                f"execution detail, {args.server_threads} WSGI threads, {tool}, "
                f"{args.connections} connections, {args.duration} s each"
            )
            print(f"  waitress                 {waitress_rate:10.1f} req/s")
            print(f"  uvicorn + a2wsgi (ASGI)  {uvicorn_rate:10.1f} req/s")
            print(f"  ratio ASGI / waitress    {uvicorn_rate / waitress_rate:10.3f}")
        result = run_sockets(settings, workdir, args)
        delays = result["delays"]
        print(
            f"sockets: {args.idle} idle + {args.active} active "
            f"({args.executions} busy executions, a line every {args.interval * 1000:.0f} ms "
            f"each), {args.duration} s"
        )
        print(f"  server RSS before sockets      {result['before'] / 1024:8.1f} MiB")
        print(
            f"  with {args.idle} idle sockets      {result['with_idle'] / 1024:8.1f} MiB "
            f"(+{(result['with_idle'] - result['before']) / max(1, args.idle):.1f} KiB each)"
        )
        print(f"  peak with active ones too      {result['peak'] / 1024:8.1f} MiB")
        print(f"  after the active ones ended    {result['after'] / 1024:8.1f} MiB")
        if delays:
            p50 = statistics.median(delays) * 1000
            p95 = delays[int(len(delays) * 0.95) - 1] * 1000
            print(
                f"  line -> socket latency over {len(delays)} messages: p50 {p50:.1f} ms, "
                f"p95 {p95:.1f} ms, max {delays[-1] * 1000:.1f} ms (target p95 <= 50 ms)"
            )
        else:
            print("  no live lines were received")
        bus = result["bus_delays"]
        if bus:
            p95 = bus[int(len(bus) * 0.95) - 1] * 1000
            print(
                f"  event -> socket (Redis bus to client) over {len(bus)} messages: "
                f"p50 {statistics.median(bus) * 1000:.1f} ms, p95 {p95:.1f} ms, "
                f"max {bus[-1] * 1000:.1f} ms (target p95 <= 50 ms)"
            )
        elif not settings["redis.url"]:
            print("  event -> socket alone is measured with REDIS_URL set (events on the bus)")
    finally:
        if cleanup is not None:
            cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
