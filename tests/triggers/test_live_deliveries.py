"""Deliveries on a real waitress server: concurrent copies of one delivery, and a
push whose commit reaches the steps' environment (dispatch: worker threads)."""

from __future__ import annotations

import threading

import pytest
import requests
from ansflow_cicd.models import Execution
from ansflow_triggers.models import DeliveryId, WebhookDelivery
from sqlalchemy import func, select

from ansflow_pyramid.db import session_scope
from ansflow_pyramid.testing import empty_all_tables
from tests.engine.live import Api, serve, step
from tests.triggers.conftest import SECRET, delivery, github_push


@pytest.fixture
def engine_app(make_app, tmp_path):
    app = make_app(
        ansflow__dispatch="threads",
        ansflow__dispatch_threads="2",
        ansflow__workspace_root=str(tmp_path / "ws"),
    )
    yield app
    app.registry["ansflow.execution"].close()
    empty_all_tables(app)


@pytest.fixture
def server(engine_app):
    with serve(engine_app, threads=10) as base:
        yield base


@pytest.fixture
def alice(server, engine_app):
    return Api(server, engine_app, "alice")


def add_trigger(alice: Api, pipeline_id: int, **fields) -> dict:
    body = {"source": "github", "repository": "acme/app", "secret": SECRET, **fields}
    return alice.post(f"/api/v1/pipelines/{pipeline_id}/webhook-triggers/", body)


def test_ten_concurrent_copies_of_a_delivery_create_one_execution(alice, server, engine_app):
    pipeline = alice.pipeline([step("build", "true")])
    add_trigger(alice, pipeline["id"])
    sent = delivery("github", github_push())
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def deliver() -> None:
        barrier.wait(timeout=10)
        response = requests.post(
            f"{server}/api/v1/webhooks/github/", data=sent.body, headers=sent.headers, timeout=30
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [202] + [409] * 9
    with session_scope(engine_app.registry["dbsession_factory"]) as session:
        assert session.scalar(select(func.count()).select_from(Execution)) == 1
        assert session.scalar(select(func.count()).select_from(DeliveryId)) == 1
        accepted = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.execution_id.is_not(None))
        ).all()
        assert len(accepted) == 1


def test_a_matching_push_runs_with_the_commit_in_the_environment(alice, server):
    command = 'echo "commit=$ANSFLOW_COMMIT_SHA ref=$ANSFLOW_REF branch=$ANSFLOW_BRANCH"'
    pipeline = alice.pipeline([step("show", command)])
    add_trigger(alice, pipeline["id"], branches=["main"])
    commit = "0123456789abcdef0123456789abcdef01234567"

    other = delivery("github", github_push(ref="refs/heads/develop", commit=commit))
    response = requests.post(
        f"{server}/webhooks/github", data=other.body, headers=other.headers, timeout=30
    )
    assert response.status_code == 202 and response.json()["executions"] == []

    sent = delivery("github", github_push(ref="refs/heads/main", commit=commit))
    response = requests.post(
        f"{server}/api/v1/webhooks/github/", data=sent.body, headers=sent.headers, timeout=30
    )
    assert response.status_code == 202, response.text
    (execution_id,) = response.json()["executions"]
    execution = alice.wait_final(execution_id)
    assert execution["status"] == "success", execution
    assert execution["trigger_type"] == "webhook"
    line = alice.wait_for_line(execution_id, "commit=")
    assert line == f"commit={commit} ref=refs/heads/main branch=main"
    assert alice.get("/api/v1/cicd/executions/")["count"] == 1
