"""With RQ dispatch, remote runs are observed in the workers, one observer per run,
and a killed worker's runs are taken over by another without losing or repeating a
line.  Needs Redis (skipped without it, failed under CI=true)."""

from __future__ import annotations

import pytest
from ansflow_remote.models import RemoteRunRecord
from sqlalchemy import select

from ansflow_pyramid.db import session_scope
from ansflow_pyramid.testing import empty_all_tables
from tests.engine.live import Api, WorkerProcess, purge_rq_queue, serve, step, write_ini
from tests.integrations.conftest import FAST_REMOTE, remote_pipeline

LINES = 40
TRICKLE = "; ".join(f"echo r{i}; sleep 0.05" for i in range(LINES))


@pytest.fixture
def rq_settings(ansflow_settings, redis_url, tmp_path):
    settings = dict(ansflow_settings)
    settings.update({key.replace("__", "."): value for key, value in FAST_REMOTE.items()})
    settings.update(
        {
            "redis.url": redis_url,
            "ansflow.dispatch": "rq",
            "ansflow.events": "redis",
            "ansflow.heartbeat_timeout": "10",
            "ansflow.heartbeat_interval": "0.5",
            "ansflow.reaper_interval": "0.5",
            "ansflow.workspace_root": str(tmp_path / "ws"),
        }
    )
    return settings


@pytest.fixture
def rq_app(make_app, rq_settings, redis_url):
    app = make_app(**{key.replace(".", "__"): value for key, value in rq_settings.items()})
    yield app
    runtime = app.registry["ansflow.execution"]
    runtime.close()
    empty_all_tables(app)
    purge_rq_queue(redis_url, runtime.settings.rq_queue)


@pytest.fixture
def workers(rq_settings, rq_app, tmp_path):
    ini = write_ini(tmp_path / "worker.ini", rq_settings)
    started = [WorkerProcess(ini, tmp_path / f"worker-{n}.log") for n in range(2)]
    try:
        for process in started:
            process.wait_ready()
        yield started
    finally:
        for process in started:
            process.stop()


def observer_of(app, execution_id):
    with session_scope(app.registry["dbsession_factory"]) as session:
        return session.scalar(
            select(RemoteRunRecord.lease_owner).where(RemoteRunRecord.execution_id == execution_id)
        )


def test_workers_observe_remote_runs_and_one_takes_over_from_a_killed_one(rq_app, workers, jenkins):
    with serve(rq_app) as base:
        alice = Api(base, rq_app, "alice")
        pipeline, _tool = remote_pipeline(
            alice,
            "jenkins",
            jenkins.url,
            [step("trickle", TRICKLE)],
            username="admin",
            token="api-token",
        )
        execution = alice.run(pipeline["id"])
        assert alice.wait_for_line(execution["id"], "r3", timeout=20)
        # The API process does not observe (dispatch = rq): a worker does.
        assert not rq_app.registry["ansflow.execution"].remote.is_running()
        owner = observer_of(rq_app, execution["id"])
        pids = {str(w.process.pid): w for w in workers}
        observing = next(pid for pid in pids if f":{pid}:" in owner)
        pids[observing].kill()
        final = alice.wait_final(execution["id"], timeout=30)
        # Only the other worker was left to observe it (the API process does not).
        assert final["status"] == "success", final["error_message"]
        lines = alice.get(f"/api/v1/cicd/executions/{execution['id']}/logs/", offset=0, limit=5000)
        texts = [line["text"] for line in lines["lines"] if line["text"].startswith("r")]
        assert texts == [f"r{i}" for i in range(LINES)]  # none lost, none repeated
        assert len(jenkins.jobs[f"ansflow-pipeline-{pipeline['id']}"].builds) == 1
