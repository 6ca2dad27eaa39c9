"""Pagination, filters and ordering of the domain lists."""

from __future__ import annotations

import pytest

from tests.domain.conftest import make_execution, make_pipeline, make_project, make_tool


@pytest.fixture
def executions(api):
    alice = api.as_user("alice")
    api.user("bob")
    project = make_project(alice, "One")
    other = make_project(alice, "Two")
    tool = make_tool(alice, project["id"])
    first = make_pipeline(alice, project["id"], "first")
    second = make_pipeline(alice, other["id"], "second")
    made = []
    for index in range(7):
        made.append(
            make_execution(
                alice,
                first["id"],
                trigger_type="webhook" if index % 2 else "manual",
                cicd_tool_id=tool["id"] if index < 3 else None,
            )
        )
    for _ in range(3):
        made.append(make_execution(alice, second["id"], trigger_type="api"))
    alice.post(f"/api/v1/cicd/executions/{made[0]['id']}/cancel/", status=200)
    return alice, project, other, tool, first, second, made


def ids(response):
    return [item["id"] for item in response.json["results"]]


def test_pages_follow_each_other_without_overlap(executions):
    alice, *_, made = executions
    url = "/api/v1/cicd/executions/"
    page1 = alice.get(url, {"page_size": 4})
    assert page1.json["count"] == 10
    assert page1.json["previous"] is None
    page2 = alice.get(page1.json["next"])
    page3 = alice.get(page2.json["next"])
    assert page3.json["next"] is None
    seen = ids(page1) + ids(page2) + ids(page3)
    # Newest first by default; ties on created_at are broken by id.
    assert seen == [e["id"] for e in reversed(made)]
    assert page2.json["previous"].endswith("page_size=4")
    alice.get(url, {"page": 4, "page_size": 4}, status=404)
    assert alice.get(url, {"page_size": 1000}).json["count"] == 10
    assert len(alice.get(url, {"page_size": 1000}).json["results"]) == 10
    alice.get(url, {"page": "0"}, status=400)


def test_execution_filters(executions):
    alice, project, other, tool, first, second, _made = executions
    url = "/api/v1/cicd/executions/"

    def count(**params):
        return alice.get(url, params).json["count"]

    assert count(project_id=project["id"]) == 7
    assert count(project_id=other["id"]) == 3
    assert count(pipeline_id=second["id"]) == 3
    assert count(tool_id=tool["id"]) == 3
    assert count(status="cancelled") == 1
    assert count(status="pending") == 9
    assert count(trigger_type="webhook") == 3
    assert count(trigger_type="api") == 3
    assert count(triggered_by=alice.user_id) == 10
    assert count(triggered_by=alice.user_id + 1) == 0
    assert count(pipeline_id=first["id"], trigger_type="manual", tool_id=tool["id"]) == 2
    # The pipeline alias is the same collection narrowed by the pipeline.
    assert alice.get(f"/api/v1/pipelines/{second['id']}/executions/").json["count"] == 3
    assert (
        alice.get(f"/api/v1/pipelines/{second['id']}/executions/", {"status": "cancelled"}).json[
            "count"
        ]
        == 0
    )
    for bad in ({"status": "exploded"}, {"project_id": "x"}, {"trigger_type": "cron"}):
        error = alice.get(url, bad, status=400).json
        assert set(error["errors"]) == set(bad)


def test_execution_ordering(executions):
    alice, *_, made = executions
    url = "/api/v1/cicd/executions/"
    oldest_first = ids(alice.get(url, {"ordering": "created_at", "page_size": 100}))
    assert oldest_first == [e["id"] for e in made]
    by_status = alice.get(url, {"ordering": "status,-id", "page_size": 100}).json["results"]
    assert by_status[0]["status"] == "cancelled"
    assert [e["id"] for e in by_status[1:]] == sorted((e["id"] for e in made[1:]), reverse=True)
    error = alice.get(url, {"ordering": "password"}, status=400).json
    assert "ordering" in error["errors"]


def test_pipeline_and_tool_lists(executions):
    alice, project, other, tool, _first, _second, made = executions
    pipelines = alice.get("/api/v1/pipelines/pipelines/", {"project": project["id"]}).json
    assert [p["name"] for p in pipelines["results"]] == ["first"]
    # A pipeline shows the status of its newest execution.
    alice.post(f"/api/v1/cicd/executions/{made[-1]['id']}/cancel/", status=200)
    cancelled = alice.get("/api/v1/pipelines/pipelines/", {"status": "cancelled"}).json
    assert [p["name"] for p in cancelled["results"]] == ["second"]
    alice.get("/api/v1/pipelines/pipelines/", {"status": "exploded"}, status=400)
    by_name = alice.get("/api/v1/pipelines/pipelines/", {"ordering": "-name"}).json
    assert [p["name"] for p in by_name["results"]] == ["second", "first"]
    searched = alice.get("/api/v1/pipelines/pipelines/", {"search": "SEC"}).json
    assert [p["name"] for p in searched["results"]] == ["second"]
    tools = alice.get("/api/v1/cicd/tools/", {"project": other["id"]}).json
    assert tools["count"] == 0
    tools = alice.get("/api/v1/cicd/tools/", {"tool_type": "jenkins"}).json
    assert [t["id"] for t in tools["results"]] == [tool["id"]]
