"""A GitHub ``workflow_run`` completed delivery finishes the matching remote execution
without waiting for the next poll (the observer polls once a minute here)."""

from __future__ import annotations

import time

import pytest
import requests

from ansflow_pyramid.testing import empty_all_tables
from tests.engine.live import Api, serve, step
from tests.integrations.conftest import FAST_REMOTE, remote_pipeline
from tests.integrations.fake_github import FakeGitHub
from tests.triggers.conftest import SECRET, delivery, observed, wait_until

SLOW_POLLS = {**FAST_REMOTE, "ansflow__remote_poll_interval": "60"}


@pytest.fixture
def remote_app(make_app, tmp_path):
    app = make_app(ansflow__workspace_root=str(tmp_path / "ws"), **SLOW_POLLS)
    yield app
    app.registry["ansflow.execution"].close()
    empty_all_tables(app)


@pytest.fixture
def server(remote_app):
    with serve(remote_app) as base:
        yield base


@pytest.fixture
def alice(server, remote_app):
    return Api(server, remote_app, "alice")


@pytest.fixture
def github():
    fake = FakeGitHub().start()
    # The dispatch answers with the run's id, so the run is known from the start.
    fake.return_run_details = True
    yield fake
    fake.close()


def workflow_run(run) -> dict:
    return {
        "action": "completed",
        "workflow_run": {
            "id": run.id,
            "path": f".github/workflows/{run.workflow}",
            "status": run.status,
            "conclusion": run.conclusion,
        },
        "repository": {"full_name": "octo/app"},
        "sender": {"login": "octocat"},
    }


def test_a_completed_workflow_run_finishes_its_execution_at_once(alice, server, github, remote_app):
    pipeline, tool = remote_pipeline(
        alice,
        "github_actions",
        github.url,
        [step("build", "echo building; sleep 2; echo built")],
        token="ghp-token",
        config={"repository": "octo/app", "ref": "main"},
    )
    alice.post(
        "/api/v1/triggers/webhooks/",
        {"source": "github", "tool": tool["id"], "repository": "octo/app", "secret": SECRET},
    )
    created = alice.run(pipeline["id"])
    # The observer has dispatched the run and will look at it again in a minute ...
    wait_until(
        lambda: (observed(remote_app, created["id"]) or ("",))[0] == "observe",
        20,
        "the observer to see the run",
    )
    wait_until(
        lambda: any(r.status == "completed" for r in github.runs.values()),
        20,
        "the fake GitHub to finish the run",
    )
    (run,) = github.runs.values()
    assert run.conclusion == "success"
    # ... and the run is over on GitHub, but the observer would only look again in a minute.
    time.sleep(0.1)
    # (An early poll may have seen it running, never finished.)
    assert observed(remote_app, created["id"]) in [
        ("observe", state) for state in ("", "dispatched", "queued", "in_progress")
    ]
    assert alice.get(f"/api/v1/cicd/executions/{created['id']}/")["status"] == "running"

    started = time.monotonic()
    sent = delivery("github", workflow_run(run), event="workflow_run")
    response = requests.post(
        f"{server}/api/v1/webhooks/github/", data=sent.body, headers=sent.headers, timeout=10
    )
    assert response.status_code == 202, response.text
    assert response.json()["nudged"] == [created["id"]]
    execution = alice.wait_final(created["id"], timeout=15)
    assert execution["status"] == "success", execution
    assert time.monotonic() - started < 15
    page = alice.get(f"/api/v1/cicd/executions/{created['id']}/logs/", offset=0, limit=5000)
    assert "built" in [line["text"] for line in page["lines"]]
