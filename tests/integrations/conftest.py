"""Fixtures for the CI tool integrations: fake servers on loopback and an API served
by waitress whose process observes remote runs with short intervals."""

from __future__ import annotations

from typing import Any

import pytest

from ansflow_pyramid.testing import empty_all_tables
from tests.engine.live import Api, serve
from tests.integrations.fake_jenkins import FakeJenkins

#: Settings of an application that observes remote runs quickly (tests stay fast).
FAST_REMOTE = {
    "ansflow__dispatch": "threads",
    "ansflow__remote_poll_interval": "0.1",
    "ansflow__remote_max_backoff": "0.3",
    "ansflow__remote_failure_timeout": "2",
    "ansflow__remote_cancel_timeout": "5",
    "ansflow__remote_lease_seconds": "2",
    "ansflow__remote_tick": "0.02",
    "ansflow__sse_heartbeat": "0.5",
    "ansflow__outbound_allowed_networks": "127.0.0.0/8",
    "ansflow__outbound_timeout_seconds": "3",
}


@pytest.fixture
def remote_app(make_app, tmp_path):
    app = make_app(ansflow__workspace_root=str(tmp_path / "ws"), **FAST_REMOTE)
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
def jenkins():
    fake = FakeJenkins(queue_delay=0.05).start()
    yield fake
    fake.close()


def make_tool(
    api: Api, project_id: int, tool_type: str, base_url: str, **fields: Any
) -> dict[str, Any]:
    body = {
        "name": f"{tool_type}-tool",
        "project": project_id,
        "tool_type": tool_type,
        "base_url": base_url,
        **fields,
    }
    return api.post("/api/v1/cicd/tools/", body)


def remote_pipeline(
    api: Api,
    tool_type: str,
    base_url: str,
    steps: list[dict[str, Any]],
    name: str = "pipe",
    **tool_fields: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    project = api.post("/api/v1/projects/projects/", {"name": f"{name}-project"})
    tool = make_tool(api, project["id"], tool_type, base_url, **tool_fields)
    pipeline = api.post(
        "/api/v1/pipelines/pipelines/",
        {
            "name": name,
            "project": project["id"],
            "steps": steps,
            "execution_mode": "remote",
            "execution_tool": tool["id"],
        },
    )
    return pipeline, tool


@pytest.fixture
def gitlab():
    from tests.integrations.fake_gitlab import FakeGitLab

    fake = FakeGitLab().start()
    yield fake
    fake.close()


@pytest.fixture
def github():
    from tests.integrations.fake_github import FakeGitHub

    fake = FakeGitHub().start()
    yield fake
    fake.close()
