"""Authenticated execution detail against a bare Pyramid view, under the same waitress.

Measures ``GET /api/v1/cicd/executions/{id}/`` with a JWT (an execution with 5 steps
of about 2 KB of log lines each, read from the database on every request: nothing is
cached) against a bare Pyramid view returning a small fixed JSON dict.  Both are
served by waitress with the same settings in a process of their own, one after the
other, and loaded from a separate process with ``wrk`` on loopback (a Python
multi-process client when ``wrk`` is not installed).  Prints requests per second of
both and their ratio.

A third server gives the figures their scale: a view written by hand for this one
endpoint, doing the same reads with plain DBAPI calls and no framework at all (no
transaction manager, ORM, traversal, ACL or validation).  Its ratio to the bare view
is about the most any API stack can reach on the machine; ``--no-reference`` skips it.

    .venv/bin/python bench/bench_execution_detail.py [--duration 10] [--connections 8]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/...

SQLite by default (a temporary file); with ``DATABASE_URL`` pointing at PostgreSQL a
fresh database is created for the run and dropped afterwards.

A fourth figure is the conditional GET of a polling client: the same detail with
``If-None-Match`` naming the current ``ETag``, answered ``304 Not Modified`` (the
execution is loaded, its version compared, nothing rendered).  waitress (3.0) ends the
keep-alive connection after every 304 (a bodiless response without Content-Length), so
the polling client reconnects for each request; the bare view is therefore measured a
second time with ``Connection: close`` and the 304 is compared with both.

Targets: the detail serves at least 0.3x the bare view's requests per second (and no
less than before against the hand-written view); the 304 at least 0.5x.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import update

HERE = Path(__file__).resolve()
PASSWORD = "bench-password-0123456789"
STEPS = 5
LINES_PER_STEP = 25  # 25 lines of 80 characters: about 2 KB per step
SECRET = "bench-secret-" + "s" * 40


# -- the two applications ---------------------------------------------------------
def bare_app() -> Any:
    """A Pyramid application with one view returning a small fixed JSON dict."""
    from pyramid.config import Configurator

    config = Configurator()
    config.add_route("bare", "/bare/")
    config.add_view(lambda request: {"status": "ok", "id": 1}, route_name="bare", renderer="json")
    return config.make_wsgi_app()


def hand_written_app(settings: dict[str, Any]) -> Any:
    """The reference for what this machine allows: the same reads and about the same
    document, written by hand for this one endpoint, with no framework around it.

    It verifies the JWT with PyJWT, checks the user, reads the execution, its steps
    and its log lines with plain DBAPI calls (one connection per server thread, no
    transaction manager, no ORM, no ACL, no validation) and writes the JSON with orjson.
    """
    import threading

    import jwt
    import orjson
    from pyramid.config import Configurator
    from pyramid.response import Response

    url = settings["sqlalchemy.url"]
    secret = settings["jwt.secret"]
    local = threading.local()
    if url.startswith("sqlite"):
        import sqlite3

        path = url.removeprefix("sqlite:///")

        def connect() -> Any:
            return sqlite3.connect(path, isolation_level=None, check_same_thread=False)

        def sql(statement: str) -> str:
            return statement.replace("%s", "?")
    else:
        import psycopg

        def connect() -> Any:
            return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))

        def sql(statement: str) -> str:
            return statement

    user_sql = sql("SELECT id, username FROM users WHERE id = %s AND is_active")
    execution_sql = sql("SELECT * FROM cicd_executions WHERE id = %s")
    steps_sql = sql('SELECT * FROM cicd_step_executions WHERE execution_id = %s ORDER BY "order"')
    lines_sql = sql(
        "SELECT step_execution_id, text FROM cicd_execution_log_lines "
        "WHERE execution_id = %s ORDER BY number LIMIT 5001"
    )
    # As the API does on SQLite: one JSON value rather than a row (and a thread
    # hand-off in the sqlite3 module) per line.
    lines_json_sql = (
        "SELECT json_group_array(json_array(number, step_execution_id, text)) FROM ("
        "SELECT number, step_execution_id, text FROM cicd_execution_log_lines "
        "WHERE execution_id = ? ORDER BY number LIMIT 5001)"
    )

    def view(request: Any) -> Response:
        claims = jwt.decode(
            request.headers["Authorization"].partition(" ")[2], secret, algorithms=["HS256"]
        )
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = connect()
        execution_id = int(request.matchdict["id"])
        cursor = connection.cursor()
        cursor.execute(user_sql, (int(claims["sub"]),))
        if cursor.fetchone() is None:
            return Response(status=401)
        cursor.execute(execution_sql, (execution_id,))
        names = [column[0] for column in cursor.description]
        execution = dict(zip(names, cursor.fetchone(), strict=True))
        cursor.execute(steps_sql, (execution_id,))
        names = [column[0] for column in cursor.description]
        steps = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        if url.startswith("sqlite"):
            cursor.execute(lines_json_sql, (execution_id,))
            lines = [(step, line) for _, step, line in sorted(orjson.loads(cursor.fetchone()[0]))]
        else:
            cursor.execute(lines_sql, (execution_id,))
            lines = cursor.fetchall()
            # COMMIT, not ROLLBACK: psycopg forgets its prepared statements on rollback.
            connection.commit()
        by_step: dict[Any, list[str]] = {}
        for step_id, line in lines:
            by_step.setdefault(step_id, []).append(line)
        for step in steps:
            step["logs"] = "\n".join(by_step.get(step["id"], ()))
        execution["logs"] = "\n".join(line for _, line in lines)
        execution["step_executions"] = steps
        body = orjson.dumps(execution, default=str)
        return Response(body=body, content_type="application/json")

    config = Configurator()
    config.add_route("detail", "/api/v1/cicd/executions/{id}/")
    config.add_view(view, route_name="detail")
    return config.make_wsgi_app()


def ansflow_app(settings: dict[str, Any]) -> Any:
    from ansflow_pyramid import make_configurator

    return make_configurator(settings, environ={}).make_wsgi_app()


def serve(kind: str, port: int, threads: int, settings_file: str) -> None:
    """The server process: waitress on loopback, the given application."""
    import logging

    import waitress

    logging.basicConfig(level=logging.WARNING)
    # waitress reports its task queue depth at WARNING for nearly every request
    # under load; logging it would measure the log handler.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    settings = json.loads(Path(settings_file).read_text()) if settings_file else {}
    factories = {"bare": bare_app, "hand-written": hand_written_app, "app": ansflow_app}
    app = factories[kind](settings) if kind != "bare" else bare_app()
    waitress.serve(app, host="127.0.0.1", port=port, threads=threads, _quiet=True)


# -- data -----------------------------------------------------------------------------
def make_settings(database_url: str) -> dict[str, Any]:
    return {
        "sqlalchemy.url": database_url,
        "redis.url": os.environ.get("REDIS_URL", ""),
        "ansflow.secret_key": SECRET,
        "jwt.secret": SECRET + "-jwt",
        "session.secret": SECRET + "-session",
        "ansflow.dispatch": "none",
        "ansflow.environment": "bench",
    }


def seed(settings: dict[str, Any]) -> int:
    """Migrate, and create a user, project, pipeline and a finished execution with logs."""
    from ansflow_cicd.logs import append_lines
    from ansflow_cicd.models import Execution, StepExecution
    from webtest import TestApp

    from ansflow_pyramid import migrations
    from ansflow_pyramid.db import session_scope, utcnow
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
    project = client.post_json(
        "/api/v1/projects/projects/", {"name": "bench"}, headers=headers
    ).json
    steps = [
        {"name": f"step {i}", "step_type": "shell_script", "command": "make"} for i in range(STEPS)
    ]
    pipeline = client.post_json(
        "/api/v1/pipelines/pipelines/",
        {"name": "bench", "project": project["id"], "steps": steps},
        headers=headers,
    ).json
    execution = client.post_json(
        "/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}, headers=headers
    ).json
    now = utcnow()
    with session_scope(app.registry["dbsession_factory"]) as session:
        for step in execution["step_executions"]:
            lines = [f"[{step['step_name']}] {n:04d} " + "x" * 66 for n in range(LINES_PER_STEP)]
            append_lines(session, execution["id"], lines, step["id"])
            session.execute(
                update(StepExecution)
                .where(StepExecution.id == step["id"])
                .values(status="success", started_at=now, completed_at=now)
            )
        session.execute(
            update(Execution)
            .where(Execution.id == execution["id"])
            .values(status="success", started_at=now, completed_at=now)
        )
    detail = client.get(f"/api/v1/cicd/executions/{execution['id']}/", headers=headers).json
    sizes = [len(step["logs"]) for step in detail["step_executions"]]
    assert len(sizes) == STEPS and all(1900 < size < 2300 for size in sizes), sizes
    app.registry["db_engine"].dispose()
    return execution["id"]


def create_postgres_database(url: str) -> tuple[str, Any]:
    from ansflow_pyramid.db.scratch import create_scratch_database, drop_database
    from ansflow_pyramid.settings import overlay_environment

    url = overlay_environment({"sqlalchemy.url": url}, environ={})["sqlalchemy.url"]
    created = create_scratch_database(url, prefix="ansflow_bench")
    return created, lambda: drop_database(created)


# -- load -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, headers: dict[str, str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            if error.code == 304:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"server at {url} did not answer in {timeout} s")
        time.sleep(0.2)


def run_wrk(url: str, headers: dict[str, str], args: argparse.Namespace) -> float:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=args.duration + 60
    ).stdout
    if "Non-2xx or 3xx responses" in output:
        raise SystemExit(f"errors while loading {url}:\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not match:
        raise SystemExit(f"cannot read wrk's output:\n{output}")
    return float(match.group(1))


def _client_worker(url: str, headers: dict[str, str], deadline: float, queue: Any) -> None:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    done = errors = 0
    while time.monotonic() < deadline:
        connection.request("GET", parts.path, headers=headers)
        response = connection.getresponse()
        response.read()
        done += 1
        errors += response.status not in (200, 304)
    queue.put((done, errors))


def run_python_client(url: str, headers: dict[str, str], args: argparse.Namespace) -> float:
    """A keep-alive client per process, ``--connections`` processes."""
    queue: Any = multiprocessing.Queue()
    start = time.monotonic()
    deadline = start + args.duration
    workers = [
        multiprocessing.Process(target=_client_worker, args=(url, headers, deadline, queue))
        for _ in range(args.connections)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - start
    if any(errors for _, errors in results):
        raise SystemExit(f"errors while loading {url}")
    return sum(done for done, _ in results) / elapsed


def measure(
    kind: str, path: str, headers: dict[str, str], settings_file: str, args: argparse.Namespace
) -> float:
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
        warmup = argparse.Namespace(**{**vars(args), "duration": 2})
        load(url, headers, warmup)
        return load(url, headers, args)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--server-threads", type=int, default=4, help="waitress threads")
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure GET /api/v1/auth/users/me/ (the cost of any authenticated request)",
    )
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the hand-written view (the same reads with no framework)",
    )
    parser.add_argument("--serve", choices=("bare", "hand-written", "app"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--settings-file", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.server_threads, args.settings_file)
        return

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
        settings = make_settings(database_url)
        execution_id = seed(settings)
        settings_file = workdir / "settings.json"
        settings_file.write_text(json.dumps(settings))

        # A token obtained from the application, as a client would.
        from webtest import TestApp

        client_app = ansflow_app(settings)
        client = TestApp(client_app, extra_environ={"HTTP_HOST": "localhost"})
        token = client.post_json(
            "/api/v1/auth/token/", {"username": "bench", "password": PASSWORD}
        ).json["access"]
        auth = {"Authorization": f"Bearer {token}"}
        detail_path = f"/api/v1/cicd/executions/{execution_id}/"
        # What a polling client holds after its first read.
        etag = client.get(detail_path, headers=auth).headers["ETag"]
        # This application's background work must not outlive the database.
        client_app.registry["ansflow.execution"].close()
        client_app.registry["db_engine"].dispose()
        bare = measure("bare", "/bare/", {}, "", args)
        bare_reconnecting = measure("bare", "/bare/", {"Connection": "close"}, "", args)
        detail = measure("app", detail_path, auth, str(settings_file), args)
        conditional = measure(
            "app", detail_path, {**auth, "If-None-Match": etag}, str(settings_file), args
        )
        reference = (
            None
            if args.no_reference
            else measure("hand-written", detail_path, auth, str(settings_file), args)
        )
        floor = (
            measure("app", "/api/v1/auth/users/me/", auth, str(settings_file), args)
            if args.floor
            else None
        )
        tool = "wrk" if shutil.which("wrk") and not args.python_client else "python client"
        print(
            f"backend {backend}; waitress threads={args.server_threads}; load: {tool}, "
            f"{args.connections} connections, {args.duration} s"
        )
        print(f"bare Pyramid view            {bare:10.1f} req/s")
        print(f"execution detail (JWT, DB)   {detail:10.1f} req/s")
        print(f"ratio                        {detail / bare:10.3f}  (target >= 0.3)")
        print(
            f"conditional GET (304)        {conditional:10.1f} req/s  "
            f"ratio {conditional / bare:.3f}  (target >= 0.5)"
        )
        print(
            f"bare view, one connection per request {bare_reconnecting:6.1f} req/s; "
            f"the 304 reaches {conditional / bare_reconnecting:.3f} of it"
        )
        if reference is not None:
            # The same reads written by hand for this one endpoint: what the machine,
            # the server and the database driver allow before any framework.
            print(
                f"hand-written view (no framework) {reference:6.1f} req/s  "
                f"ratio {reference / bare:.3f}; ours reaches {detail / reference:.2f} of it"
            )
        if floor is not None:
            # What any authenticated request costs in this stack, whatever it does.
            print(f"auth/users/me/ (JWT, floor)  {floor:10.1f} req/s  ratio {floor / bare:.3f}")
    finally:
        if cleanup is not None:
            cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
