"""Throughput of session-writing requests relative to read-only ones (target >= 0.5).

A waitress server (8 threads, its own process) serves the application; N client
threads (8 by default), each logged in with its own browser session, hammer

* a read-only endpoint: ``GET /api/v1/bench/session/`` (resolves the session and the
  user, reads one key, writes nothing), then
* a session-writing endpoint: ``POST /api/v1/bench/session/`` (the same, plus one key
  set, so a version-checked UPDATE of the session row inside the request's
  transaction, and a CSRF check),

for a fixed time each, over keep-alive connections, and prints requests per second,
latencies, errors and the ratio write/read.  ``--shared`` makes every client use one
and the same session (the worst case: every write conflicts with every other).

    .venv/bin/python bench/bench_sessions.py [--clients 8] [--seconds 10] [--shared]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]

SQLite in a temporary folder by default; ``--database-url`` (or ``DATABASE_URL``)
creates and drops a scratch PostgreSQL database.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ansflow_pyramid.db.scratch import create_scratch_database, drop_database

PASSWORD = "bench-password-123"
READ_PATH = WRITE_PATH = "/api/v1/bench/session/"
SECRETS = {
    "jwt.secret": "bench-jwt-secret-" + "j" * 40,
    "session.secret": "bench-session-secret-" + "s" * 40,
    "ansflow.secret_key": "bench-secret-key-" + "k" * 40,
}


# -- the plugin the server loads: one endpoint reading or writing the session --------------
def bench_session_view(context: Any, request: Any) -> dict[str, Any]:
    if request.method == "POST":
        body = json.loads(request.body or b"{}")
        request.session[body.get("key", "n")] = body.get("value")
        return {"ok": True}
    return {"n": request.session.get("n"), "user": request.identity.user_id}


def includeme(config: Any) -> None:
    from pyramid.authorization import Allow, Authenticated

    endpoint = config.add_api_endpoint(
        "bench.session",
        "/api/v1/bench/session",
        bench_session_view,
        methods=("GET", "POST"),
        permission="view",
    )
    endpoint.__acl__ = [(Allow, Authenticated, "view")]


# -- setup ----------------------------------------------------------------------------------
def settings_for(url: str) -> dict[str, Any]:
    return {
        "sqlalchemy.url": url,
        "redis.url": "",
        "ansflow.dispatch": "none",
        "ansflow.plugins": "bench_sessions",
        "ansflow.login_failure_limit": 1000,
        "ansflow.login_failure_address_limit": 1000,
        **SECRETS,
    }


def scratch_postgres(url: str) -> str:
    return create_scratch_database(url, prefix="ansflow_bench")


def drop_postgres(url: str) -> None:
    drop_database(url)


def prepare(url: str) -> None:
    from ansflow_pyramid import make_configurator, migrations
    from ansflow_pyramid.db import session_scope
    from ansflow_pyramid.identity.services import create_user

    config = make_configurator(settings_for(url), environ={})
    migrations.upgrade(config.registry)
    with session_scope(config.registry["dbsession_factory"]) as dbsession:
        create_user(dbsession, "bench", PASSWORD)
    config.registry["db_engine"].dispose()


def serve(url: str, port: int, threads: int) -> None:
    import logging

    from waitress import serve as waitress_serve

    from ansflow_pyramid import make_configurator

    logging.basicConfig(level=logging.WARNING)
    # waitress reports its queue depth for nearly every request under load.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = make_configurator(settings_for(url), environ={}).make_wsgi_app()
    waitress_serve(app, host="127.0.0.1", port=port, threads=threads, _quiet=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the client -------------------------------------------------------------------------------
class Client:
    """One browser: keep-alive connection, its cookies, its CSRF token."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: Any = None) -> int:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            if "csrftoken" in self.cookies:
                headers["X-CSRFToken"] = self.cookies["csrftoken"]
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return response.status

    def login(self) -> None:
        assert self.request("GET", "/api/v1/auth/session/") == 200
        status = self.request(
            "POST", "/api/v1/auth/session/", {"username": "bench", "password": PASSWORD}
        )
        assert status == 200, status


def run_phase(clients: list[Client], method: str, seconds: float, shared: bool) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in clients]
    errors = [0] * len(clients)
    start = threading.Barrier(len(clients) + 1)
    stop_at = [0.0]

    def work(index: int, client: Client) -> None:
        start.wait()
        counter = 0
        key = "n" if not shared else f"n{index}"
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            if method == "GET":
                status = client.request("GET", READ_PATH)
            else:
                counter += 1
                status = client.request("POST", WRITE_PATH, {"key": key, "value": counter})
            latencies[index].append(time.perf_counter() - began)
            if status != 200:
                errors[index] += 1

    threads = [
        threading.Thread(target=work, args=(i, c), daemon=True) for i, c in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    flat = sorted(x for per in latencies for x in per)
    return {
        "requests": len(flat),
        "errors": sum(errors),
        "rps": len(flat) / elapsed,
        "p50_ms": statistics.median(flat) * 1000,
        "p95_ms": flat[int(len(flat) * 0.95) - 1] * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8, help="waitress threads")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--shared", action="store_true", help="all clients share one session")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    if args.serve:
        serve(args.url, args.serve, args.threads)
        return 0

    scratch = tempfile.mkdtemp(prefix="ansflow-bench-")
    postgres = args.database_url.startswith("postgres")
    url = scratch_postgres(args.database_url) if postgres else f"sqlite:///{scratch}/bench.sqlite"
    port = free_port()
    server = None
    try:
        prepare(url)
        server = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                str(port),
                "--url",
                url,
                "--threads",
                str(args.threads),
            ],
            env={**os.environ, "DATABASE_URL": "", "REDIS_URL": ""},
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                probe = Client(port)
                if probe.request("GET", "/api/v1/health/") == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        clients = [Client(port) for _ in range(args.clients)]
        if args.shared:
            clients[0].login()
            for client in clients[1:]:
                client.cookies = dict(clients[0].cookies)
        else:
            for client in clients:
                client.login()
        # Every session gets its key once, so reads find data and writes are updates.
        for client in clients:
            client.request("POST", WRITE_PATH, {"key": "n", "value": 0})
        run_phase(clients, "GET", args.warmup, args.shared)
        run_phase(clients, "POST", args.warmup, args.shared)
        read = run_phase(clients, "GET", args.seconds, args.shared)
        write = run_phase(clients, "POST", args.seconds, args.shared)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        if postgres:
            drop_postgres(url)

    backend = "postgresql" if postgres else "sqlite"
    mode = "one shared session" if args.shared else "one session per client"
    print(f"backend: {backend}; {args.clients} clients, {args.threads} waitress threads, {mode}")
    for name, figures in (("read-only  GET ", read), ("session write POST", write)):
        print(
            f"{name:>18}: {figures['rps']:8.1f} req/s  p50 {figures['p50_ms']:6.1f} ms  "
            f"p95 {figures['p95_ms']:6.1f} ms  errors {figures['errors']}/{figures['requests']}"
        )
    ratio = write["rps"] / read["rps"]
    print(f"ratio write/read: {ratio:.2f} (target >= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
