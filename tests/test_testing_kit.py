"""The integrator's kit of the pytest plugin (``ansflow_pyramid.testing``)."""

from __future__ import annotations


def test_clients_by_role_see_what_their_role_allows(ansflow):
    owner = ansflow.client("olivia")
    project = ansflow.project(owner, "demo", visibility="private")
    developer = ansflow.member(owner, project["id"], "dave", "developer")
    reporter = ansflow.member(owner, project["id"], "rita", "reporter")
    body = {"name": "build", "project": project["id"], "steps": []}
    reporter.post("/api/v1/pipelines/pipelines/", body, status=403)
    assert developer.post("/api/v1/pipelines/pipelines/", body).json["project"] == project["id"]
    stranger = ansflow.client("sam")
    assert stranger.get("/api/v1/pipelines/pipelines/").json["count"] == 0
    ansflow.anonymous.get("/api/v1/pipelines/pipelines/", status=401)


def test_a_session_client_sends_its_csrf_token(ansflow):
    browser = ansflow.session_client("bea")
    assert browser.get("/api/v1/auth/users/me/").json["username"] == "bea"
    assert "Authorization" not in browser.headers
    project = ansflow.project(browser, "by cookie")
    assert project["name"] == "by cookie"
    # Without the header the same request is refused: the kit really sends it.
    browser.testapp.post_json("/api/v1/projects/projects/", {"name": "no token"}, status=403)


def test_factories_and_a_synchronous_run(ansflow):
    owner = ansflow.client("olivia")
    project = ansflow.project(owner)
    pipeline = ansflow.pipeline(
        owner, project["id"], steps=[("hello", "echo hello from the kit"), ("bye", "true")]
    )
    assert [s["name"] for s in pipeline["steps"]] == ["hello", "bye"]
    execution = ansflow.execution(owner, pipeline["id"])
    assert execution["status"] == "pending"
    finished = ansflow.run(execution["id"], as_client=owner)
    assert finished["status"] == "success"
    logs = owner.get(f"/api/v1/cicd/executions/{execution['id']}/logs/").json
    assert "hello from the kit" in logs["logs"]
