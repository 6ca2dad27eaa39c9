"""The production path: the API server enqueues on Redis (RQ), a separate
``ansflow worker`` process runs the execution, events cross processes through Redis
pub/sub, and a killed worker's execution is failed by the heartbeat reaper.

Needs Redis (skipped without it, failed under CI=true).  With DATABASE_URL pointing
at PostgreSQL this is the production-like configuration; on SQLite the server and the
worker share the database file.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from ansflow_cicd.models import Execution
from sqlalchemy import select

from ansflow_pyramid.db import session_scope
from ansflow_pyramid.testing import empty_all_tables
from tests.engine.conftest import processes_in_group
from tests.engine.live import Api, WorkerProcess, purge_rq_queue, serve, step, write_ini

HEARTBEAT_TIMEOUT = 3.0


@pytest.fixture
def rq_settings(ansflow_settings, redis_url, tmp_path):
    settings = dict(ansflow_settings)
    settings.update(
        {
            "redis.url": redis_url,
            "ansflow.dispatch": "rq",
            "ansflow.events": "redis",
            "ansflow.heartbeat_timeout": str(HEARTBEAT_TIMEOUT),
            "ansflow.heartbeat_interval": "0.5",
            "ansflow.reaper_interval": "0.5",
            "ansflow.cancel_poll_interval": "0.5",
            "ansflow.sse_heartbeat": "0.5",
            "ansflow.workspace_root": str(tmp_path / "ws"),
        }
    )
    return settings


@pytest.fixture
def rq_app(make_app, rq_settings, redis_url):
    overrides = {key.replace(".", "__"): value for key, value in rq_settings.items()}
    app = make_app(**overrides)
    yield app
    runtime = app.registry["ansflow.execution"]
    runtime.close()
    empty_all_tables(app)
    purge_rq_queue(redis_url, runtime.settings.rq_queue)


@pytest.fixture
def worker(rq_settings, rq_app, tmp_path):
    ini = write_ini(tmp_path / "worker.ini", rq_settings)
    process = WorkerProcess(ini, tmp_path / "worker.log")
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture
def alice(rq_app, worker):
    with serve(rq_app) as base:
        yield Api(base, rq_app, "alice")


def stored_worker(app, execution_id):
    with session_scope(app.registry["dbsession_factory"]) as session:
        return session.scalar(select(Execution.worker).where(Execution.id == execution_id))


def test_an_api_execution_runs_in_the_worker_and_its_events_reach_the_servers_sse_client(
    alice, worker, rq_app
):
    pipeline = alice.pipeline(
        [
            step("print", 'for i in $(seq 1 200); do echo "w$i"; done'),
            step("pause", 'sleep 0.3; echo "param=$target"'),
        ]
    )
    execution = alice.run(pipeline["id"], {"target": "prod"})
    with alice.stream(execution["id"]) as client:
        events = []
        for event in client:
            events.append(event)
            if event.event == "end":
                break
    assert events[0].event == "snapshot"
    texts = [
        e.json()["message"] for e in events if e.event == "log" and e.json()["stream"] == "stdout"
    ]
    assert texts == [f"w{i}" for i in range(1, 201)] + ["param=prod"]
    assert ("pause", "success") in [
        (e.json()["step_name"], e.json()["status"]) for e in events if e.event == "step"
    ]
    assert events[-1].json()["status"] == "success"
    # It ran in the worker process, not in the server.
    assert stored_worker(rq_app, execution["id"]).endswith(f":{worker.process.pid}")
    assert alice.get(f"/api/v1/cicd/executions/{execution['id']}/")["status"] == "success"


def test_cancel_reaches_the_worker_through_redis(alice):
    pipeline = alice.pipeline([step("sleepy", 'echo "pgid=$$"; sleep 30')])
    execution = alice.run(pipeline["id"])
    line = alice.wait_for_line(execution["id"], "pgid=", timeout=20)
    assert line is not None
    pgid = int(line[5:])
    requested = time.monotonic()
    alice.post(f"/api/v1/cicd/executions/{execution['id']}/cancel/", status=200)
    final = alice.wait_final(execution["id"], timeout=10)
    assert final["status"] == "cancelled"
    assert time.monotonic() - requested < 5
    assert processes_in_group(pgid) == []


def test_killing_the_worker_mid_run_fails_the_execution_within_the_heartbeat_timeout(alice, worker):
    pipeline = alice.pipeline([step("long", 'echo "pgid=$$"; sleep 20'), step("after", "true")])
    execution = alice.run(pipeline["id"])
    line = alice.wait_for_line(execution["id"], "pgid=", timeout=20)
    assert line is not None
    pgid = int(line[5:])
    client = alice.stream(execution["id"], timeout=30)
    try:
        assert next(iter(client)).event == "snapshot"
        worker.kill()
        killed = time.monotonic()
        final = alice.wait_final(execution["id"], timeout=HEARTBEAT_TIMEOUT + 10)
        elapsed = time.monotonic() - killed
        assert final["status"] == "failed"
        # The heartbeat timeout, plus at most one heartbeat interval and one reaper pass.
        assert elapsed < HEARTBEAT_TIMEOUT + 2.5, elapsed
        assert "worker lost" in final["error_message"]
        assert [s["status"] for s in final["step_executions"]] == ["failed", "skipped"]
        events = []
        for event in client:
            events.append(event)
            if event.event == "end":
                break
        assert events[-1].json()["status"] == "failed"
    finally:
        client.close()
        # The dead worker's step process is an orphan now: stop it (test hygiene).
        for pid in processes_in_group(pgid):
            os.kill(pid, signal.SIGKILL)
