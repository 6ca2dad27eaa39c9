"""Status deliveries (GitHub workflow runs, GitLab pipelines, Jenkins builds) nudge
the observation of the remote run they name, within the verified projects only."""

from __future__ import annotations

import pytest
from ansflow_cicd.models import Execution, Tool
from ansflow_triggers.remote import NUDGER_KEY
from webtest import TestApp

from ansflow_pyramid.db import session_scope
from tests.triggers.conftest import SECRET, delivery, jenkins_notification, send


@pytest.fixture
def nudged(make_app):
    calls: list[int] = []
    app = make_app()

    def nudger(registry, execution_id: int) -> bool:
        calls.append(execution_id)
        return True

    app.registry[NUDGER_KEY] = nudger
    return app, calls


def remote_execution(app, alice, tool_type: str, external_id: str, name: str) -> tuple[int, int]:
    """A running execution on a ``tool_type`` tool that knows its run as ``external_id``.

    The tool row is written directly: the CI tool plugins that declare these tool
    types are not needed to locate and nudge a run.
    """
    pipeline = alice.pipeline(name)
    with session_scope(app.registry["dbsession_factory"]) as session:
        tool = Tool(
            project_id=pipeline["project"],
            name=f"{name}-tool",
            tool_type=tool_type,
            base_url="https://ci.example",
        )
        session.add(tool)
        session.flush()
        execution = Execution(
            project_id=pipeline["project"],
            pipeline_id=pipeline["id"],
            cicd_tool_id=tool.id,
            status="running",
            trigger_type="manual",
            external_id=external_id,
        )
        session.add(execution)
        session.flush()
        return execution.id, tool.id


def workflow_run(run_id: int) -> dict:
    return {
        "action": "completed",
        "workflow_run": {"id": run_id, "status": "completed", "conclusion": "success"},
        "repository": {"full_name": "acme/app"},
        "sender": {"login": "octocat"},
    }


def test_a_workflow_run_delivery_nudges_its_execution(nudged, alice):
    app, calls = nudged
    client = TestApp(app)
    execution_id, tool_id = remote_execution(app, alice, "github_actions", "12345", "gha")
    # Another project observes a run with the same id: its secret did not sign this.
    other_id, _ = remote_execution(app, alice, "github_actions", "12345", "other")
    trigger = alice.post(
        "/api/v1/triggers/webhooks/",
        {"source": "github", "tool": tool_id, "repository": "acme/app", "secret": SECRET},
    )
    sent = delivery("github", workflow_run(12345), event="workflow_run")
    response = send(client, "github", sent).json
    assert response["effect"] == "nudged"
    assert response["nudged"] == [execution_id]
    assert calls == [execution_id]
    # A run nobody observes is acknowledged without effect.
    sent = delivery("github", workflow_run(999), event="workflow_run")
    assert send(client, "github", sent).json["effect"] == "ignored"
    assert calls == [execution_id]
    history = alice.get("/api/v1/triggers/deliveries/", project=trigger["project"])["results"]
    assert [d["matched"] for d in history] == [False, True]
    assert other_id not in calls


def test_a_jenkins_notification_nudges_the_build(nudged, alice):
    app, calls = nudged
    client = TestApp(app)
    execution_id, tool_id = remote_execution(app, alice, "jenkins", "acme-app#7", "jenkins")
    alice.post(
        "/api/v1/triggers/webhooks/",
        {"source": "jenkins", "tool": tool_id, "repository": "acme-app", "secret": SECRET},
    )
    response = send(client, "jenkins", delivery("jenkins", jenkins_notification())).json
    assert response["nudged"] == [execution_id]
    assert calls == [execution_id]
    unsigned = delivery("jenkins", jenkins_notification(number=8), secret=None)
    assert send(client, "jenkins", unsigned, status=401).json["code"] == "signature_missing"
    assert calls == [execution_id]


def test_a_gitlab_pipeline_event_nudges_its_execution(nudged, alice):
    app, calls = nudged
    client = TestApp(app)
    execution_id, tool_id = remote_execution(app, alice, "gitlab_ci", "4242", "gitlab")
    alice.post(
        "/api/v1/triggers/webhooks/",
        {"source": "gitlab", "tool": tool_id, "repository": "acme/app", "secret": SECRET},
    )
    payload = {
        "object_kind": "pipeline",
        "object_attributes": {"id": 4242, "status": "success"},
        "project": {"path_with_namespace": "acme/app"},
    }
    sent = delivery("gitlab", payload, event="Pipeline Hook")
    assert send(client, "gitlab", sent).json["nudged"] == [execution_id]
    job = {
        "object_kind": "build",
        "pipeline_id": 4242,
        "build_status": "running",
        "project": {"path_with_namespace": "acme/app"},
    }
    assert send(client, "gitlab", delivery("gitlab", job, event="Job Hook")).json["nudged"] == [
        execution_id
    ]
    assert calls == [execution_id, execution_id]
