"""Who may read and change what: project roles, visibility, superusers, anonymous."""

from __future__ import annotations

import pytest
from ansflow_cicd.models import GitCredential, Tool
from sqlalchemy import select

from tests.domain.conftest import add_member, make_execution, make_pipeline, make_project, make_tool

ROLES = ("maintainer", "developer", "reporter", "guest")


@pytest.fixture
def world(api):
    """Project "secret" (private) owned by alice with one member per role."""
    owner = api.as_user("owner")
    project = make_project(owner, "secret")
    for role in ROLES:
        add_member(owner, project["id"], api.user(role), role)
    tool = make_tool(owner, project["id"], token="tool-token-never-shown")
    pipeline = make_pipeline(owner, project["id"], execution_tool=tool["id"])
    execution = make_execution(owner, pipeline["id"])
    environment = owner.post(
        "/api/v1/projects/environments/", {"project": project["id"], "name": "prod"}
    ).json
    clients = {role: api.as_user(role) for role in ROLES}
    clients["owner"] = owner
    clients["outsider"] = api.as_user("outsider")
    clients["root"] = api.as_user("root", superuser=True)
    clients["anonymous"] = api.anonymous
    urls = {
        "project": f"/api/v1/projects/projects/{project['id']}/",
        "pipeline": f"/api/v1/pipelines/pipelines/{pipeline['id']}/",
        "tool": f"/api/v1/cicd/tools/{tool['id']}/",
        "execution": f"/api/v1/cicd/executions/{execution['id']}/",
        "execution_alias": f"/api/v1/executions/{execution['id']}/",
        "steps": f"/api/v1/cicd/executions/{execution['id']}/steps/",
        "steps_alias": f"/api/v1/pipelines/executions/{execution['id']}/steps/",
        "pipeline_executions": f"/api/v1/pipelines/{pipeline['id']}/executions/",
        "environment": f"/api/v1/projects/environments/{environment['id']}/",
        "logs": f"/api/v1/cicd/executions/{execution['id']}/logs/",
        "timeline": f"/api/v1/cicd/executions/{execution['id']}/timeline/",
        "export": f"/api/v1/pipelines/pipelines/{pipeline['id']}/export/",
    }
    return {
        "clients": clients,
        "project": project,
        "pipeline": pipeline,
        "tool": tool,
        "execution": execution,
        "urls": urls,
    }


READERS = ("owner", "maintainer", "developer", "reporter", "guest", "root")


def test_who_can_read(world):
    # Reading changes nothing, so one world serves every caller (building it is most
    # of the cost: eight users, their tokens, a project with one of everything).
    for who in [*READERS, "outsider", "anonymous"]:
        check_reads(world, who)


def check_reads(world, who):
    client = world["clients"][who]
    expected = 200 if who in READERS else 404 if who == "outsider" else 401
    for name, url in world["urls"].items():
        response = client.get(url, status="*")
        if name == "pipeline_executions" and who == "outsider":
            # A filtered list: empty for someone who cannot see the project.
            assert response.status_int == 200 and response.json["count"] == 0, name
            continue
        assert response.status_int == expected, (who, name, response.status_int, response.body)
        assert response.content_type == "application/json", (who, name)
    lists = {
        "/api/v1/projects/projects/": 1,
        "/api/v1/pipelines/pipelines/": 1,
        "/api/v1/cicd/tools/": 1,
        "/api/v1/cicd/executions/": 1,
        "/api/v1/executions/": 1,
        "/api/v1/projects/environments/": 1,
        "/api/v1/projects/memberships/": 5,
    }
    for url, count in lists.items():
        response = client.get(url, status="*")
        if who == "anonymous":
            assert response.status_int == 401, (who, url)
        else:
            assert response.json["count"] == (count if who in READERS else 0), (who, url)


# (method, url key or path, body, {role: expected status}); roles left out get the default.
def write_cases(world):
    pid = world["project"]["id"]
    plid = world["pipeline"]["id"]
    u = world["urls"]
    return [
        ("patch", u["pipeline"], {"description": "changed"}, {"developer": 200, "maintainer": 200}),
        ("post", f"{u['pipeline']}run/", {}, {"developer": 201, "maintainer": 201}),
        ("post", f"{u['pipeline']}clone/", {}, {"developer": 201, "maintainer": 201}),
        (
            "post",
            "/api/v1/cicd/executions/",
            {"pipeline_id": plid},
            {"developer": 201, "maintainer": 201, "outsider": 400},
        ),
        (
            "post",
            "/api/v1/pipelines/pipelines/",
            {"name": "new", "project": pid},
            {"developer": 201, "maintainer": 201, "outsider": 400},
        ),
        (
            "post",
            "/api/v1/cicd/tools/",
            {"name": "t2", "project": pid, "tool_type": "local"},
            {"developer": 201, "maintainer": 201, "outsider": 400},
        ),
        ("patch", u["tool"], {"username": "other"}, {"developer": 200, "maintainer": 200}),
        ("post", f"{u['tool']}health_check/", {}, {"developer": 200, "maintainer": 200}),
        (
            "post",
            f"{u['project']}add_member/",
            {"user_id": world["clients"]["outsider"].user_id, "role": "guest"},
            {"maintainer": 201},
        ),
        ("post", f"{u['project']}create_environment/", {"name": "qa"}, {"maintainer": 201}),
        ("patch", u["environment"], {"url": "https://x.example"}, {"maintainer": 200}),
        ("patch", u["project"], {"description": "new"}, {"maintainer": 200}),
        ("post", f"{u['execution']}cancel/", {}, {"developer": 200, "maintainer": 200}),
        ("delete", u["pipeline"], None, {"maintainer": 204}),
        ("delete", u["project"], None, {}),
    ]


@pytest.mark.parametrize("who", ["maintainer", "developer", "reporter", "guest", "outsider"])
def test_who_can_write(world, who, dbsession):
    client = world["clients"][who]
    for method, url, body, allowed in write_cases(world):
        default = 404 if who == "outsider" else 403
        expected = allowed.get(who, default)
        response = getattr(client, method)(url, body, status="*")
        assert response.status_int == expected, (method, url, who, response.body)
        if expected >= 400:
            assert response.json["code"] in ("permission_denied", "not_found", "invalid")


def test_owner_and_superuser_can_delete_the_project(world, api):
    url = world["urls"]["project"]
    world["clients"]["maintainer"].delete(url, status=403)
    world["clients"]["root"].patch(url, {"description": "by root"})
    world["clients"]["owner"].delete(url)
    world["clients"]["owner"].get(world["urls"]["pipeline"], status=404)
    world["clients"]["owner"].get(world["urls"]["execution"], status=404)


def test_anonymous_writes_are_401(world):
    client = world["clients"]["anonymous"]
    for method, url, body, _ in write_cases(world):
        response = getattr(client, method)(url, body, status="*")
        assert response.status_int == 401, (method, url)


def test_internal_and_public_projects_are_readable_by_every_user(api):
    owner = api.as_user("owner")
    outsider = api.as_user("outsider")
    for visibility in ("internal", "public"):
        project = make_project(owner, f"p-{visibility}", visibility=visibility)
        pipeline = make_pipeline(owner, project["id"], f"pl-{visibility}")
        execution = make_execution(owner, pipeline["id"])
        outsider.get(f"/api/v1/projects/projects/{project['id']}/")
        outsider.get(f"/api/v1/pipelines/pipelines/{pipeline['id']}/")
        outsider.get(f"/api/v1/executions/{execution['id']}/")
        outsider.patch(f"/api/v1/pipelines/pipelines/{pipeline['id']}/", {"name": "x"}, status=403)
        outsider.post(f"/api/v1/pipelines/pipelines/{pipeline['id']}/run/", {}, status=403)
        # Visible but not a member: creating in it is forbidden, not "unknown".
        outsider.post(
            "/api/v1/pipelines/pipelines/", {"name": "n", "project": project["id"]}, status=403
        )
        api.anonymous.get(f"/api/v1/projects/projects/{project['id']}/", status=401)
    assert outsider.get("/api/v1/projects/projects/").json["count"] == 2


def test_git_credentials_and_atomic_steps_belong_to_their_creator(api):
    alice = api.as_user("alice")
    bob = api.as_user("bob")
    credential = alice.post(
        "/api/v1/cicd/git-credentials/",
        {"name": "gh", "platform": "github", "username": "a", "password": "gh-password-1"},
    ).json
    url = f"/api/v1/cicd/git-credentials/{credential['id']}/"
    bob.get(url, status=404)
    bob.patch(url, {"name": "mine"}, status=404)
    assert bob.get("/api/v1/cicd/git-credentials/").json["count"] == 0
    assert alice.get("/api/v1/cicd/git-credentials/").json["count"] == 1

    private = alice.post("/api/v1/cicd/atomic-steps/", {"name": "lint"}).json
    public = alice.post("/api/v1/cicd/atomic-steps/", {"name": "test", "is_public": True}).json
    bob.get(f"/api/v1/cicd/atomic-steps/{private['id']}/", status=404)
    bob.get(f"/api/v1/cicd/atomic-steps/{public['id']}/")
    bob.patch(f"/api/v1/cicd/atomic-steps/{public['id']}/", {"name": "x"}, status=403)
    bob.delete(f"/api/v1/cicd/atomic-steps/{public['id']}/", status=403)
    assert [s["name"] for s in bob.get("/api/v1/cicd/atomic-steps/").json["results"]] == ["test"]
    alice.patch(f"/api/v1/cicd/atomic-steps/{public['id']}/", {"name": "tests"})


def test_secrets_never_appear_in_responses(world, api, dbsession):
    owner = world["clients"]["owner"]
    tool_url = world["urls"]["tool"]
    owner.patch(tool_url, {"token": "rotated-token-never-shown"})
    credential = owner.post(
        "/api/v1/cicd/git-credentials/",
        {
            "name": "key",
            "credential_type": "ssh_key",
            "ssh_private_key": "-----BEGIN KEY never-shown-key-----",
        },
    ).json
    owner.post(
        "/api/v1/cicd/git-credentials/",
        {"name": "pw", "username": "u", "password": "git-password-never-shown"},
    )
    assert credential["has_ssh_key"] is True and credential["has_password"] is False
    # Read everything back every way there is.
    for url in [*world["urls"].values(), "/api/v1/cicd/tools/", "/api/v1/cicd/git-credentials/"]:
        owner.get(url)
    owner.get(f"{tool_url}", headers={"Accept": "application/json"})
    owner.put(
        tool_url,
        {"name": "ci", "tool_type": "jenkins", "base_url": "http://127.0.0.1:9/"},
    )
    owner.post(f"{world['urls']['pipeline']}run/", {})
    owner.get("/api/v1/cicd/executions/", {"page_size": 100})
    owner.get("/api/v1/openapi.json")
    secrets = [
        b"tool-token-never-shown",
        b"rotated-token-never-shown",
        b"never-shown-key",
        b"git-password-never-shown",
    ]
    leaks = [s for s in secrets for body in api.transcript if s in body]
    assert api.transcript and not leaks
    # A PUT without a token keeps it; the stored value is ciphertext, not the token.
    assert owner.get(tool_url).json["has_token"] is True
    with dbsession() as session:
        stored = session.scalars(select(Tool.token_encrypted)).all()
        stored += session.scalars(select(GitCredential.password_encrypted)).all()
        stored += session.scalars(select(GitCredential.ssh_private_key_encrypted)).all()
    blob = " ".join(value for value in stored if value).encode()
    assert blob and not [s for s in secrets if s in blob]
