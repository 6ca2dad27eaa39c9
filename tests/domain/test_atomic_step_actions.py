"""Atomic steps' actions: validate/, test/ (a scratch run through the engine),
clone/, categories/, usage_statistics/ and its stats/ alias; bad input included."""

from __future__ import annotations

import time

from ansflow_cicd.atomic_steps import (
    CategoriesOut,
    CloneOut,
    StepTestOut,
    UsageOut,
    ValidationOut,
)
from ansflow_cicd.models import AtomicStep, Execution, StepExecution
from ansflow_pipelines.models import PipelineStep
from sqlalchemy import func, select

from tests.domain.conftest import make_execution, make_pipeline, make_project

URL = "/api/v1/cicd/atomic-steps/"


def make_step(client, name="greet", **fields):
    body = {
        "name": name,
        "step_type": "shell_script",
        "parameters": {
            "command": 'echo "hello $WHO"; echo second',
            "environment_vars": {"WHO": "you"},
        },
        **fields,
    }
    return client.post(URL, body).json


def test_validate_checks_the_definition_against_its_step_type(api):
    alice = api.as_user("alice")
    good = make_step(alice)
    answer = alice.post(f"{URL}{good['id']}/validate/", status=200).json
    ValidationOut.model_validate(answer)
    assert answer == {
        "step_id": good["id"],
        "step_name": "greet",
        "step_type": "shell_script",
        "is_valid": True,
        "errors": {},
        "warnings": [],
    }
    # Parameters in the body are checked on top of the stored ones.
    answer = alice.post(
        f"{URL}{good['id']}/validate/", {"parameters": {"command": ""}}, status=200
    ).json
    assert answer["is_valid"] is False and "parameters.command" in answer["errors"]

    ansible = make_step(alice, "play", step_type="ansible", parameters={})
    answer = alice.post(f"{URL}{ansible['id']}/validate/", {}, status=200).json
    assert answer["errors"] == {"parameters.playbook": [answer["errors"]["parameters.playbook"][0]]}
    assert alice.post(
        f"{URL}{ansible['id']}/validate/", {"parameters": {"playbook": "site.yml"}}, status=200
    ).json["is_valid"]
    docker = make_step(alice, "img", step_type="docker_build", parameters={"image": 5})
    assert (
        "parameters.image"
        in alice.post(f"{URL}{docker['id']}/validate/", status=200).json["errors"]
    )
    env = make_step(alice, "env", parameters={"command": "true", "environment_vars": {"A": [1]}})
    assert (
        "parameters.environment_vars"
        in alice.post(f"{URL}{env['id']}/validate/", status=200).json["errors"]
    )
    # A step type no plugin provides any more.
    with api.dbsession() as session:
        session.get(AtomicStep, good["id"]).step_type = "gone"
    assert "step_type" in alice.post(f"{URL}{good['id']}/validate/", status=200).json["errors"]


def test_validate_and_test_refuse_bad_bodies(api):
    alice = api.as_user("alice")
    step = make_step(alice)
    for action in ("validate", "test"):
        url = f"{URL}{step['id']}/{action}/"
        assert "parameters" in alice.post(url, {"parameters": "x"}, status=400).json["errors"]
        assert "tool_id" in alice.post(url, {"tool_id": "x"}, status=400).json["errors"]
        response = alice.post(url, None, status=400, params=b"[1]", content_type="application/json")
        assert response.json["code"] == "malformed_json"
        alice.get(url, status=405)
        alice.post(f"{URL}999999/{action}/", {}, status=404)


def test_test_runs_the_step_once_through_the_engine_and_stores_nothing(api):
    alice = api.as_user("alice")
    step = make_step(alice)
    executions_before = count_executions(api)
    answer = alice.post(f"{URL}{step['id']}/test/", {}, status=200).json
    StepTestOut.model_validate(answer)
    result = answer["test_result"]
    assert result["status"] == "success" and result["success"] is True
    assert result["exit_code"] == 0
    assert result["logs"].splitlines() == ["hello you", "second"]
    assert [line["number"] for line in result["log_lines"]] == [1, 2]
    assert answer["message"] == "Atomic step test completed"
    # Overrides from the body, and a failing command.
    answer = alice.post(
        f"{URL}{step['id']}/test/", {"parameters": {"command": "echo oops; exit 7"}}, status=200
    ).json
    assert answer["test_result"]["status"] == "failed"
    assert answer["test_result"]["exit_code"] == 7
    assert "oops" in answer["test_result"]["logs"]
    assert count_executions(api) == executions_before


def test_test_is_bounded_by_the_step_timeout(api):
    alice = api.as_user("alice")
    step = make_step(alice, "sleepy", parameters={"command": "sleep 30"}, timeout_seconds=1)
    started = time.monotonic()
    answer = alice.post(f"{URL}{step['id']}/test/", {}, status=200).json
    assert time.monotonic() - started < 10
    assert answer["test_result"]["status"] == "timeout"


def test_test_refuses_an_invalid_definition_and_remote_tools(api):
    alice = api.as_user("alice")
    step = make_step(alice, parameters={})
    response = alice.post(f"{URL}{step['id']}/test/", {}, status=400)
    assert "parameters.command" in response.json["errors"]
    project = make_project(alice)
    jenkins = alice.post(
        "/api/v1/cicd/tools/",
        {
            "name": "j",
            "project": project["id"],
            "tool_type": "jenkins",
            "base_url": "http://127.0.0.1:9/",
        },
    ).json
    good = make_step(alice, "good")
    assert (
        "tool_id"
        in alice.post(f"{URL}{good['id']}/test/", {"tool_id": jenkins["id"]}, status=400).json[
            "errors"
        ]
    )
    assert (
        "tool_id"
        in alice.post(f"{URL}{good['id']}/test/", {"tool_id": 424242}, status=400).json["errors"]
    )
    local = alice.post("/api/v1/cicd/tools/create_local_executor/", {"project": project["id"]}).json
    answer = alice.post(f"{URL}{good['id']}/test/", {"tool_id": local["id"]}, status=200).json
    assert answer["tool_name"] == local["name"] and answer["test_result"]["success"]


def test_clone_makes_a_private_copy_for_the_caller(api):
    alice = api.as_user("alice")
    bob = api.as_user("bob")
    public = make_step(alice, "shared", is_public=True, description="the original")
    response = bob.post(f"{URL}{public['id']}/clone/", {"new_name": "mine"}, status=201)
    answer = response.json
    assert set(answer) == set(CloneOut.model_fields)
    clone = answer["cloned_step"]
    assert response.headers["Location"].endswith(f"{URL}{clone['id']}/")
    assert answer["original_step_id"] == public["id"]
    assert clone["name"] == "mine" and clone["is_public"] is False
    assert clone["created_by"] == bob.user_id
    assert clone["parameters"] == public["parameters"]
    assert clone["description"] == "Cloned from shared"
    described = bob.post(
        f"{URL}{public['id']}/clone/", {"new_name": "mine 2", "new_description": "x"}, status=201
    ).json
    assert described["cloned_step"]["description"] == "x"
    # Bad input, and steps the caller cannot see.
    for body, field in (
        ({}, "new_name"),
        ({"new_name": ""}, "new_name"),
        ({"new_name": 3}, "new_name"),
    ):
        assert field in bob.post(f"{URL}{public['id']}/clone/", body, status=400).json["errors"]
    private = make_step(alice, "secret")
    bob.post(f"{URL}{private['id']}/clone/", {"new_name": "stolen"}, status=404)
    api.anonymous.post(f"{URL}{public['id']}/clone/", {"new_name": "anon"}, status=401)


def test_categories_count_the_templates_the_caller_sees(api):
    alice = api.as_user("alice")
    bob = api.as_user("bob")
    make_step(alice, "a")
    make_step(alice, "b", is_public=True)
    make_step(alice, "c", step_type="docker_build", parameters={"image": "x"})
    make_step(bob, "hidden")
    answer = alice.get(f"{URL}categories/").json
    CategoriesOut.model_validate(answer)
    by_name = {c["name"]: c for c in answer["categories"]}
    assert answer["total_categories"] == len(answer["categories"]) >= 21
    assert by_name["shell_script"]["total_count"] == 2
    assert (by_name["shell_script"]["public_count"], by_name["shell_script"]["private_count"]) == (
        1,
        1,
    )
    assert by_name["docker_build"]["total_count"] == 1
    assert by_name["ansible"]["total_count"] == 0
    bobs = {c["name"]: c for c in bob.get(f"{URL}categories/").json["categories"]}
    assert bobs["shell_script"]["total_count"] == 2  # his own and alice's public one
    api.anonymous.get(f"{URL}categories/", status=401)


def test_usage_statistics_and_its_stats_alias(api):
    alice = api.as_user("alice")
    bob = api.as_user("bob")
    make_step(alice, "a")
    project = make_project(alice)
    pipeline = make_pipeline(alice, project["id"], steps=2)
    execution = make_execution(alice, pipeline["id"])
    with api.dbsession() as session:
        steps = session.scalars(
            select(StepExecution).where(StepExecution.execution_id == execution["id"])
        ).all()
        steps[0].status, steps[1].status = "success", "failed"
        assert session.scalar(select(func.count()).select_from(PipelineStep)) == 2
    answer = alice.get(f"{URL}usage_statistics/").json
    UsageOut.model_validate(answer)
    assert alice.get(f"{URL}stats/").json == answer
    shell = {c["category"]: c for c in answer["category_statistics"]}["shell_script"]
    assert shell == {
        "category": "shell_script",
        "label": shell["label"],
        "total_steps": 1,
        "pipeline_steps": 2,
        "total_executions": 2,
        "successful_executions": 1,
        "success_rate": 50.0,
    }
    assert answer["total_steps"] == 1 and answer["most_used_categories"] == ["shell_script"]
    # Bob sees none of alice's private template, pipeline or runs.
    assert bob.get(f"{URL}stats/").json == {
        "total_steps": 0,
        "category_statistics": [],
        "most_used_categories": [],
    }


def count_executions(api):
    with api.dbsession() as session:
        return session.scalar(select(func.count()).select_from(Execution))
