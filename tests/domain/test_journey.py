"""A full journey through the API, as an AnsFlow client drives it."""

from __future__ import annotations

from ansflow_cicd.logs import append_lines

from tests.domain.conftest import add_member, make_execution, make_pipeline, make_project, make_tool


def test_journey_from_user_to_retried_execution(api, dbsession):
    alice = api.as_user("alice")
    bob_id = api.user("bob")

    project = make_project(alice, "Shop", description="the web shop", visibility="private")
    assert project["owner"]["id"] == alice.user_id
    assert project["owner_username"] == "alice"

    member = add_member(alice, project["id"], bob_id, "developer")
    assert member["user"] == bob_id and member["role"] == "developer"
    members = alice.get("/api/v1/projects/memberships/", {"project": project["id"]}).json
    assert {(m["username"], m["role"]) for m in members["results"]} == {
        ("alice", "owner"),
        ("bob", "developer"),
    }

    environment = alice.post(
        f"/api/v1/projects/projects/{project['id']}/create_environment/",
        {"name": "staging", "env_type": "staging", "url": "https://staging.example.org"},
    ).json
    listed = alice.get(f"/api/v1/projects/projects/{project['id']}/environments/").json
    assert [e["id"] for e in listed] == [environment["id"]]

    tool = make_tool(alice, project["id"], "jenkins")
    assert tool["has_token"] is True
    assert "token" not in tool

    pipeline = make_pipeline(alice, project["id"], "deploy", steps=3, execution_tool=tool["id"])
    assert [s["order"] for s in pipeline["steps"]] == [1, 2, 3]
    assert pipeline["steps_count"] == 3
    assert pipeline["project_name"] == "Shop"

    # Bob, a developer, triggers it; the pipeline's tool is used when none is given.
    bob = api.as_user("bob")
    created = bob.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]})
    execution = created.json
    assert (
        created.headers["Location"] == f"http://localhost/api/v1/cicd/executions/{execution['id']}/"
    )
    assert execution["status"] == "pending"
    assert execution["cicd_tool"] == tool["id"]
    assert execution["cicd_tool_name"] == "jenkins"
    assert execution["triggered_by_username"] == "bob"
    assert [s["step_name"] for s in execution["step_executions"]] == ["step 1", "step 2", "step 3"]
    assert execution["definition"]["pipeline"]["name"] == "deploy"

    # The same execution through the canonical path, the alias, and the pipeline.
    canonical = alice.get(f"/api/v1/cicd/executions/{execution['id']}/")
    alias = alice.get(f"/api/v1/executions/{execution['id']}/")
    assert alias.json == canonical.json
    assert "Link" not in canonical.headers
    assert alias.headers["Link"] == (
        f'<http://localhost/api/v1/cicd/executions/{execution["id"]}/>; rel="canonical"'
    )
    by_pipeline = alice.get(f"/api/v1/pipelines/{pipeline['id']}/executions/").json
    assert [e["id"] for e in by_pipeline["results"]] == [execution["id"]]
    steps = alice.get(f"/api/v1/pipelines/executions/{execution['id']}/steps/")
    assert [s["step_name"] for s in steps.json["results"]] == ["step 1", "step 2", "step 3"]
    assert steps.headers["Link"] == (
        f'<http://localhost/api/v1/cicd/executions/{execution["id"]}/steps/>; rel="canonical"'
    )
    first_step = steps.json["results"][0]["id"]
    step_alias = alice.get(f"/api/v1/pipelines/executions/{execution['id']}/steps/{first_step}/")
    step_canonical = alice.get(f"/api/v1/cicd/executions/{execution['id']}/steps/{first_step}/")
    assert step_alias.json == step_canonical.json == steps.json["results"][0]
    # A step of another execution is not found under this one.
    other_pipeline = make_pipeline(alice, project["id"], "other", steps=1)
    other = make_execution(alice, other_pipeline["id"])
    alice.get(f"/api/v1/cicd/executions/{other['id']}/steps/{first_step}/", status=404)

    # The pipeline mirrors its newest execution's status.
    assert alice.get(f"/api/v1/pipelines/pipelines/{pipeline['id']}/").json["status"] == "pending"

    # A running execution's state rules: retry refused, cancel accepted once.
    alice.post(f"/api/v1/cicd/executions/{execution['id']}/retry/", status=409)
    cancelled = bob.post(f"/api/v1/executions/{execution['id']}/cancel/", status=200).json
    assert cancelled["status"] == "cancelled"
    assert cancelled["completed_at"] is not None
    assert {s["status"] for s in cancelled["step_executions"]} == {"skipped"}
    again = bob.post(f"/api/v1/cicd/executions/{execution['id']}/cancel/", status=409).json
    assert again["code"] == "invalid_state"
    assert alice.get(f"/api/v1/pipelines/pipelines/{pipeline['id']}/").json["status"] == "cancelled"

    retried = bob.post(f"/api/v1/cicd/executions/{execution['id']}/retry/").json
    assert retried["id"] != execution["id"]
    assert retried["status"] == "pending"
    assert retried["retry_of"] == execution["id"]
    assert retried["definition"] == execution["definition"]
    assert len(retried["step_executions"]) == 3

    # The log of the cancelled execution records who cancelled it.
    logs = alice.get(f"/api/v1/cicd/executions/{execution['id']}/logs/").json
    assert logs["logs"] == "Execution cancelled by bob."
    assert logs["complete"] is True

    history = alice.get("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}).json
    assert [e["id"] for e in history["results"]] == [retried["id"], execution["id"]]


def test_execution_logs_by_offset(api, dbsession, ansflow_app):
    alice = api.as_user("alice")
    project = make_project(alice)
    pipeline = make_pipeline(alice, project["id"], steps=2)
    execution = make_execution(alice, pipeline["id"])
    first, second = (s["id"] for s in execution["step_executions"])
    with dbsession() as session:
        append_lines(session, execution["id"], [f"a{i}" for i in range(5)], first)
        append_lines(session, execution["id"], [f"b{i}" for i in range(3)], second)
    url = f"/api/v1/cicd/executions/{execution['id']}/logs/"

    merged = alice.get(url).json
    assert merged["logs"] == "\n".join([*(f"a{i}" for i in range(5)), "b0", "b1", "b2"])
    assert merged["complete"] is False  # still pending: more may come

    page = alice.get(url, {"offset": 0, "limit": 3}).json
    assert [line["text"] for line in page["lines"]] == ["a0", "a1", "a2"]
    assert [line["number"] for line in page["lines"]] == [1, 2, 3]
    assert page["lines"][0]["step_name"] == "step 1"
    assert (page["next_offset"], page["has_more"], page["complete"]) == (3, True, False)

    page = alice.get(url, {"offset": page["next_offset"], "limit": 10}).json
    assert [line["text"] for line in page["lines"]] == ["a3", "a4", "b0", "b1", "b2"]
    assert (page["next_offset"], page["has_more"]) == (8, False)

    empty = alice.get(url, {"offset": 8}).json
    assert (empty["lines"], empty["next_offset"], empty["has_more"]) == ([], 8, False)

    only_second = alice.get(url, {"offset": 0, "step": second}).json
    assert [line["text"] for line in only_second["lines"]] == ["b0", "b1", "b2"]

    # The detail embeds each step's log; lines stored later show on the next read.
    detail = alice.get(f"/api/v1/cicd/executions/{execution['id']}/").json
    assert [s["logs"] for s in detail["step_executions"]] == [
        "a0\na1\na2\na3\na4",
        "b0\nb1\nb2",
    ]

    alice.post(f"/api/v1/cicd/executions/{execution['id']}/cancel/", status=200)
    done = alice.get(url, {"offset": 8}).json
    assert [line["text"] for line in done["lines"]] == ["Execution cancelled by alice."]
    assert done["lines"][0]["stream"] == "system"
    assert (done["has_more"], done["complete"]) == (False, True)

    for bad in ({"offset": -1}, {"offset": "x"}, {"limit": 0}, {"limit": 5001}, {"step": "1.5"}):
        error = alice.get(url, bad, status=400).json
        assert error["code"] == "invalid" and set(error["errors"]) == set(bad)


def test_timeline_and_statistics(api):
    alice = api.as_user("alice")
    project = make_project(alice)
    pipeline = make_pipeline(alice, project["id"], steps=2)
    first = make_execution(alice, pipeline["id"])
    second = make_execution(alice, pipeline["id"], trigger_type="api")
    alice.post(f"/api/v1/cicd/executions/{first['id']}/cancel/", status=200)

    timeline = alice.get(f"/api/v1/cicd/executions/{first['id']}/timeline/").json
    assert timeline["total_steps"] == 2 and timeline["completed_steps"] == 2
    assert [t["step_name"] for t in timeline["timeline"]] == ["step 1", "step 2"]

    stats = alice.get("/api/v1/cicd/executions/statistics/", {"days": 7}).json
    assert stats["total"] == 2
    assert stats["by_status"]["cancelled"] == 1 and stats["by_status"]["pending"] == 1
    assert stats["finished"] == 1
    assert stats["success_rate"] == 0.0
    assert stats["average_duration"] is None  # neither execution ever started
    assert sum(day["total"] for day in stats["daily"]) == 2
    scoped = alice.get(
        f"/api/v1/pipelines/{pipeline['id']}/executions/statistics/", {"days": 1}
    ).json
    assert scoped["total"] == 2
    assert second["trigger_type_display"] == "API"

    for days in ("0", "366", "abc", "-3", "1e3", "--3", "٣", "9" * 40):
        error = alice.get("/api/v1/cicd/executions/statistics/", {"days": days}, status=400).json
        assert "days" in error["errors"]
