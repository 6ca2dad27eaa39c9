"""Every uniqueness clash is a 409 naming the field, including the rules added for
pipeline names (per project) and atomic-step names (per creator)."""

from __future__ import annotations

from tests.domain.conftest import make_pipeline, make_project


def test_pipeline_names_are_unique_per_project(api):
    alice = api.as_user("alice")
    one, two = make_project(alice, "one"), make_project(alice, "two")
    make_pipeline(alice, one["id"], "build")
    clash = alice.post(
        "/api/v1/pipelines/pipelines/", {"name": "build", "project": one["id"]}, status=409
    ).json
    assert clash["code"] == "unique" and "name" in clash["errors"]
    make_pipeline(alice, two["id"], "build")  # another project: fine
    other = make_pipeline(alice, one["id"], "deploy")
    url = f"/api/v1/pipelines/pipelines/{other['id']}/"
    alice.patch(url, {"name": "build"}, status=409)
    assert alice.patch(url, {"name": "deploy"}).json["name"] == "deploy"


def test_atomic_step_names_are_unique_per_creator(api):
    alice, bob = api.as_user("alice"), api.as_user("bob")
    url = "/api/v1/cicd/atomic-steps/"
    first = alice.post(url, {"name": "lint", "step_type": "test"}).json
    clash = alice.post(url, {"name": "lint", "step_type": "build"}, status=409).json
    assert clash["errors"]["name"]
    bob.post(url, {"name": "lint", "step_type": "test"})
    second = alice.post(url, {"name": "format", "step_type": "test"}).json
    alice.patch(f"{url}{second['id']}/", {"name": "lint"}, status=409)
    assert alice.get(f"{url}{first['id']}/").json["name"] == "lint"


def test_users_projects_and_environments_answer_409_too(api):
    root = api.as_user("root", superuser=True)
    api.user("taken")
    body = {"username": "taken", "password": "long enough pw"}
    assert root.post("/api/v1/auth/users/", body, status=409).json["code"] == "unique"
    project = make_project(root, "p")
    root.post("/api/v1/projects/projects/", {"name": "p"}, status=409)
    env = {"project": project["id"], "name": "qa"}
    root.post("/api/v1/projects/environments/", env)
    root.post("/api/v1/projects/environments/", env, status=409)
