"""One answer per kind of mistake: 409 for every uniqueness clash (including the rules
added for pipeline names per project and atomic-step names per creator), 400 naming a
read-only field a body tries to change, every bad query parameter in one 400, and 415
for any body that is not JSON."""

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


def test_changing_a_read_only_field_is_a_400_naming_it(api):
    alice = api.as_user("alice")
    one, two = make_project(alice, "one"), make_project(alice, "two")
    pipeline = make_pipeline(alice, one["id"], "build")
    url = f"/api/v1/pipelines/pipelines/{pipeline['id']}/"
    refused = alice.patch(url, {"project": two["id"]}, status=400).json
    assert refused["errors"] == {"project": ["This field is read-only; it cannot be changed."]}
    alice.patch(url, {"id": pipeline["id"] + 1, "name": "x"}, status=400)
    # What a client read can be sent back unchanged (PUT of the representation).
    current = alice.get(url).json
    assert alice.put(url, {**current, "description": "d"}).json["description"] == "d"
    assert alice.get(url).json["project"] == one["id"]


def test_every_invalid_query_parameter_is_reported_at_once(api):
    alice = api.as_user("alice")
    project = make_project(alice, "one")
    pipeline = make_pipeline(alice, project["id"], "build")
    listed = alice.get(
        "/api/v1/pipelines/pipelines/",
        {"status": "nope", "ordering": "colour", "page": "0", "page_size": "x"},
        status=400,
    ).json
    assert set(listed["errors"]) == {"status", "ordering", "page", "page_size"}
    execution = alice.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"]}).json
    logs = alice.get(
        f"/api/v1/cicd/executions/{execution['id']}/logs/",
        {"offset": "-1", "limit": "abc"},
        status=400,
    ).json
    assert set(logs["errors"]) == {"offset", "limit"}


def test_any_body_that_is_not_json_is_a_415(api):
    alice = api.as_user("alice")
    for media_type in ("text/plain", "text/csv", "multipart/form-data; boundary=x"):
        refused = alice.testapp.post(
            "/api/v1/projects/projects/",
            b'{"name": "p"}',
            headers={**alice.headers, "Content-Type": media_type},
            status=415,
        ).json
        assert refused["code"] == "unsupported_media_type"
    alice.testapp.post(
        "/api/v1/projects/projects/",
        b'{"name": "p"}',
        headers={**alice.headers, "Content-Type": "application/merge-patch+json"},
        status=201,
    )
