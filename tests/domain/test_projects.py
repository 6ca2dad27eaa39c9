"""Projects, memberships and environments."""

from __future__ import annotations

from tests.domain.conftest import add_member, make_project


def test_creator_becomes_owner_member_and_names_are_unique(api):
    alice = api.as_user("alice")
    project = make_project(alice, "Alpha", settings={"notify": ["ops"]})
    assert project["visibility"] == "private" and project["default_branch"] == "main"
    assert project["settings"] == {"notify": ["ops"]}
    members = alice.get("/api/v1/projects/memberships/", {"project": project["id"]}).json
    assert [(m["user"], m["role"]) for m in members["results"]] == [(alice.user_id, "owner")]
    error = alice.post("/api/v1/projects/projects/", {"name": "Alpha"}, status=400).json
    assert "name" in error["errors"]
    other = make_project(alice, "Beta")
    alice.patch(f"/api/v1/projects/projects/{other['id']}/", {"name": "Alpha"}, status=400)
    renamed = alice.patch(f"/api/v1/projects/projects/{other['id']}/", {"name": "Gamma"}).json
    assert renamed["name"] == "Gamma"
    # The owner is read-only: a body naming another owner changes nothing.
    patched = alice.patch(f"/api/v1/projects/projects/{other['id']}/", {"owner": 999}).json
    assert patched["owner"]["id"] == alice.user_id


def test_membership_roles_change_what_members_may_do(api):
    alice = api.as_user("alice")
    bob = api.as_user("bob")
    project = make_project(alice, "Alpha")
    url = f"/api/v1/projects/projects/{project['id']}/"
    membership = add_member(alice, project["id"], bob.user_id, "reporter")
    bob.post("/api/v1/pipelines/pipelines/", {"name": "p", "project": project["id"]}, status=403)

    # add_member on an existing member changes the role (200, not a duplicate).
    again = alice.post(
        f"{url}add_member/", {"user_id": bob.user_id, "role": "developer"}, status=200
    )
    assert again.json["id"] == membership["id"] and again.json["role"] == "developer"
    bob.post("/api/v1/pipelines/pipelines/", {"name": "p", "project": project["id"]})

    # Maintainers manage members but cannot hand out or take away ownership.
    alice.patch(f"/api/v1/projects/memberships/{membership['id']}/", {"role": "maintainer"})
    carol_id = api.user("carol")
    bob.post(f"{url}add_member/", {"user_id": carol_id, "role": "owner"}, status=403)
    bob.post(f"{url}add_member/", {"user_id": carol_id, "role": "guest"})
    bob.post(f"{url}add_member/", {"user_id": 424242, "role": "guest"}, status=400)
    owner_row = alice.get(
        "/api/v1/projects/memberships/", {"project": project["id"], "role": "owner"}
    ).json["results"][0]
    bob.delete(f"/api/v1/projects/memberships/{owner_row['id']}/", status=403)

    # remove_member accepts the user in the body (DELETE) or the query string.
    alice.delete(f"{url}remove_member/", {"user_id": carol_id})
    alice.delete(f"{url}remove_member/?user_id={carol_id}", status=404)
    alice.delete(f"{url}remove_member/", {"user_id": bob.user_id})
    bob.get(url, status=404)
    assert bob.get("/api/v1/projects/projects/").json["count"] == 0


def test_environments_unique_per_project(api):
    alice = api.as_user("alice")
    one = make_project(alice, "One")
    two = make_project(alice, "Two")
    env = alice.post(
        f"/api/v1/projects/projects/{one['id']}/create_environment/",
        {"name": "prod", "env_type": "production", "config": {"replicas": 3}},
    ).json
    assert env["project"] == one["id"] and env["env_type_display"] == "Production"
    alice.post(
        f"/api/v1/projects/projects/{one['id']}/create_environment/", {"name": "prod"}, status=400
    )
    alice.post("/api/v1/projects/environments/", {"project": two["id"], "name": "prod"})
    assert alice.get("/api/v1/projects/environments/", {"project": one["id"]}).json["count"] == 1
    updated = alice.put(
        f"/api/v1/projects/environments/{env['id']}/",
        {"name": "production", "env_type": "production", "auto_deploy": True},
    ).json
    assert updated["name"] == "production" and updated["auto_deploy"] is True
    assert updated["config"] == {}  # PUT replaces every writable field
    assert updated["project"] == one["id"]
    alice.delete(f"/api/v1/projects/environments/{env['id']}/")
    assert alice.get(f"/api/v1/projects/projects/{one['id']}/environments/").json == []


def test_deleting_a_project_removes_what_belongs_to_it(api, dbsession):
    from ansflow_cicd.models import Execution, StepExecution, Tool
    from ansflow_pipelines.models import Pipeline, PipelineStep
    from sqlalchemy import func, select

    from tests.domain.conftest import make_execution, make_pipeline, make_tool

    alice = api.as_user("alice")
    project = make_project(alice, "Doomed")
    keep = make_project(alice, "Kept")
    tool = make_tool(alice, project["id"])
    pipeline = make_pipeline(alice, project["id"], execution_tool=tool["id"])
    make_execution(alice, pipeline["id"])
    kept_pipeline = make_pipeline(alice, keep["id"])
    make_execution(alice, kept_pipeline["id"])
    alice.delete(f"/api/v1/projects/projects/{project['id']}/")
    with dbsession() as session:
        counts = {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Pipeline, PipelineStep, Tool, Execution, StepExecution)
        }
    assert counts == {
        "Pipeline": 1,
        "PipelineStep": 2,
        "Tool": 0,
        "Execution": 1,
        "StepExecution": 2,
    }
