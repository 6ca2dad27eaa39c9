"""Pipelines: nested steps written atomically, clone, export/import, tool mappings."""

from __future__ import annotations

import pytest
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationConflictError

from tests.domain.conftest import make_execution, make_pipeline, make_project, make_tool


def test_writing_steps_replaces_them(api):
    alice = api.as_user("alice")
    project = make_project(alice)
    pipeline = make_pipeline(alice, project["id"], steps=3)
    url = f"/api/v1/pipelines/pipelines/{pipeline['id']}/"

    # Orders may be given in any order; the steps come back sorted by order.
    replaced = alice.patch(
        url,
        {
            "steps": [
                {"name": "deploy", "step_type": "deploy", "order": 20},
                {"name": "build", "step_type": "build", "order": 10, "timeout_seconds": 60},
            ]
        },
    ).json
    assert [(s["name"], s["order"]) for s in replaced["steps"]] == [("build", 10), ("deploy", 20)]
    assert replaced["steps"][0]["timeout_seconds"] == 60

    # A PATCH without steps, or a PUT without steps, leaves them alone.
    alice.patch(url, {"description": "two steps"})
    kept = alice.put(url, {"name": "renamed"}).json
    assert [s["name"] for s in kept["steps"]] == ["build", "deploy"]
    assert kept["description"] == ""  # PUT: omitted fields take their defaults

    # A rejected write leaves the old steps in place (one transaction).
    alice.patch(
        url,
        {"steps": [{"name": "a", "order": 1}, {"name": "b", "step_type": "warp", "order": 2}]},
        status=400,
    )
    alice.patch(url, {"steps": [{"name": "a", "order": 1}, {"name": "b", "order": 1}]}, status=400)
    assert [s["name"] for s in alice.get(url).json["steps"]] == ["build", "deploy"]

    emptied = alice.patch(url, {"steps": []}).json
    assert emptied["steps"] == [] and emptied["steps_count"] == 0


def test_execution_keeps_its_snapshot_when_the_pipeline_changes(api):
    alice = api.as_user("alice")
    project = make_project(alice)
    pipeline = make_pipeline(alice, project["id"], steps=2)
    execution = make_execution(alice, pipeline["id"])
    alice.post(f"/api/v1/cicd/executions/{execution['id']}/cancel/", status=200)
    alice.patch(
        f"/api/v1/pipelines/pipelines/{pipeline['id']}/",
        {"name": "renamed", "steps": [{"name": "only", "command": "true"}]},
    )
    detail = alice.get(f"/api/v1/cicd/executions/{execution['id']}/").json
    assert detail["definition"]["pipeline"]["name"] == "build"
    assert [s["step_name"] for s in detail["step_executions"]] == ["step 1", "step 2"]
    assert [s["pipeline_step"] for s in detail["step_executions"]] == [None, None]
    assert detail["pipeline_name"] == "renamed"  # computed from the pipeline now

    # A retry runs the snapshot, not the edited pipeline.
    retried = alice.post(f"/api/v1/cicd/executions/{execution['id']}/retry/").json
    assert [s["step_name"] for s in retried["step_executions"]] == ["step 1", "step 2"]
    assert retried["definition"]["steps"] == detail["definition"]["steps"]


def test_clone_export_import_round_trip(api):
    alice = api.as_user("alice")
    project = make_project(alice, "One")
    other = make_project(alice, "Two")
    tool = make_tool(alice, project["id"])
    pipeline = make_pipeline(
        alice,
        project["id"],
        "release",
        steps=2,
        config={"env": "prod"},
        execution_tool=tool["id"],
        tool_job_name="release-job",
    )
    url = f"/api/v1/pipelines/pipelines/{pipeline['id']}/"

    clone = alice.post(f"{url}clone/")
    assert clone.headers["Location"] == (
        f"http://localhost/api/v1/pipelines/pipelines/{clone.json['id']}/"
    )
    assert clone.json["name"] == "release (copy)"
    assert clone.json["execution_tool"] == tool["id"]
    assert [s["command"] for s in clone.json["steps"]] == ["echo 1", "echo 2"]
    assert {s["id"] for s in clone.json["steps"]}.isdisjoint(s["id"] for s in pipeline["steps"])

    elsewhere = alice.post(f"{url}clone/", {"name": "moved", "project": other["id"]}).json
    assert elsewhere["project"] == other["id"] and elsewhere["execution_tool"] is None

    document = alice.get(f"{url}export/").json
    assert document["format"] == "ansflow-pipeline" and document["version"] == 1
    assert "id" not in document["pipeline"] and all("id" not in s for s in document["steps"])
    imported = alice.post(
        "/api/v1/pipelines/pipelines/import/", {**document, "project": other["id"]}
    ).json
    assert alice.get(f"/api/v1/pipelines/pipelines/{imported['id']}/export/").json == document
    assert imported["config"] == {"env": "prod"}
    assert imported["tool_job_name"] == "release-job"

    mappings = alice.get(f"{url}tool_mappings/").json
    assert mappings == [
        {
            "pipeline": pipeline["id"],
            "tool": tool["id"],
            "tool_name": "ci",
            "tool_type": "jenkins",
            "external_job_name": "release-job",
            "job_config": {},
            "execution_mode": "local",
        }
    ]
    assert alice.get(f"/api/v1/pipelines/pipelines/{elsewhere['id']}/tool_mappings/").json == []

    # Deleting the tool unlinks the pipelines that used it.
    alice.delete(f"/api/v1/cicd/tools/{tool['id']}/")
    assert alice.get(url).json["execution_tool"] is None


def test_a_tool_of_another_project_is_refused(api):
    alice = api.as_user("alice")
    one = make_project(alice, "One")
    two = make_project(alice, "Two")
    foreign = make_tool(alice, two["id"])
    error = alice.post(
        "/api/v1/pipelines/pipelines/",
        {"name": "p", "project": one["id"], "execution_tool": foreign["id"]},
        status=400,
    ).json
    assert "execution_tool" in error["errors"]
    pipeline = make_pipeline(alice, one["id"])
    error = alice.post(
        "/api/v1/cicd/executions/",
        {"pipeline_id": pipeline["id"], "cicd_tool_id": foreign["id"]},
        status=400,
    ).json
    assert "cicd_tool_id" in error["errors"]


def test_inactive_pipelines_do_not_run(api):
    alice = api.as_user("alice")
    project = make_project(alice)
    pipeline = make_pipeline(alice, project["id"], is_active=False)
    error = alice.post(f"/api/v1/pipelines/pipelines/{pipeline['id']}/run/", {}, status=409).json
    assert error["code"] == "pipeline_inactive"


def test_step_types_are_a_registry_plugins_extend(ansflow_settings):
    from ansflow_pipelines.extensions import step_types

    config = Configurator(settings=dict(ansflow_settings))
    config.include("ansflow_pyramid.migrations")
    config.include("ansflow_pyramid.traversal")
    config.include("ansflow_pyramid.api")
    config.include("ansflow_pipelines")
    config.include(lambda c: c.add_step_type("terraform", label="Terraform"))
    config.commit()
    assert step_types(config.registry)["terraform"].label == "Terraform"
    assert "build" in step_types(config.registry)

    clash = Configurator(settings=dict(ansflow_settings))
    clash.include("ansflow_pyramid.migrations")
    clash.include("ansflow_pyramid.traversal")
    clash.include("ansflow_pyramid.api")
    clash.include("ansflow_pipelines")
    clash.include("tests.domain.step_plugins.first")
    clash.include("tests.domain.step_plugins.second")
    with pytest.raises(ConfigurationConflictError):
        clash.commit()
