"""No execution without an owner: failed dispatch and unclaimed pending executions
end as failed with a reason, never pending forever."""

from __future__ import annotations

import socket
import time
from typing import Any

from ansflow_cicd.models import Execution
from sqlalchemy import select
from webtest import TestApp

from ansflow_pyramid.execution.reaper import Reaper
from ansflow_pyramid.execution.runtime import get_runtime
from tests.domain.conftest import API, make_pipeline, make_project


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def client(app: Any, dbsession: Any) -> Any:
    api = API(TestApp(app, extra_environ={"HTTP_HOST": "localhost"}), dbsession)
    return api.as_user("alice", superuser=True)


def wait_for_status(dbsession: Any, execution_id: int, timeout: float = 10) -> Execution:
    deadline = time.monotonic() + timeout
    while True:
        with dbsession() as session:
            execution = session.scalars(select(Execution).where(Execution.id == execution_id)).one()
            if execution.status != "pending" or time.monotonic() > deadline:
                session.expunge(execution)
                return execution
        time.sleep(0.05)


def test_an_execution_that_cannot_be_queued_fails_with_the_reason(make_app, dbsession, testapp):
    # RQ dispatch over a Redis that is down: creating still answers 201, queueing is
    # retried in the background, then the execution fails with the reason.
    app = make_app(
        redis__url=f"redis://127.0.0.1:{closed_port()}/0",
        ansflow__dispatch="rq",
        ansflow__dispatch_retries="2",
        ansflow__dispatch_retry_delay="0.05",
    )
    alice = client(app, dbsession)
    pipeline = make_pipeline(alice, make_project(alice)["id"])
    created = alice.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}).json
    assert created["status"] == "pending"
    execution = wait_for_status(dbsession, created["id"])
    assert execution.status == "failed"
    assert execution.error_message.startswith("could not be queued: ConnectionError")
    steps = alice.get(f"/api/v1/cicd/executions/{created['id']}/steps/").json["results"]
    assert {step["status"] for step in steps} == {"skipped"}
    logs = alice.get(f"/api/v1/cicd/executions/{created['id']}/logs/").json
    assert "could not be queued" in str(logs)


def test_the_reaper_fails_pending_executions_no_queue_holds(make_app, dbsession, testapp):
    api_only = make_app(ansflow__dispatch="none")
    alice = client(api_only, dbsession)
    pipeline = make_pipeline(alice, make_project(alice)["id"])
    orphan = alice.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}).json
    # Nothing dispatches here, so nobody can tell whether it is queued: left alone.
    get_runtime(api_only.registry).settings.__dict__["pending_timeout"] = 0.01
    time.sleep(0.05)
    assert Reaper(get_runtime(api_only.registry)).run_once() == []

    # A process with a thread pool knows its queue: the orphan is not in it.
    worker = make_app(
        ansflow__dispatch="threads",
        ansflow__resume_pending="false",
        ansflow__reaper="false",
        ansflow__pending_timeout="0.01",
    )
    assert Reaper(get_runtime(worker.registry)).run_once() == [orphan["id"]]
    execution = wait_for_status(dbsession, orphan["id"], timeout=0)
    assert execution.status == "failed"
    assert "no worker took it" in execution.error_message
    # Executions newer than the timeout are left alone.
    fresh = alice.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}).json
    get_runtime(worker.registry).settings.__dict__["pending_timeout"] = 3600
    assert Reaper(get_runtime(worker.registry)).run_once() == []
    assert wait_for_status(dbsession, fresh["id"], timeout=0).status == "pending"
