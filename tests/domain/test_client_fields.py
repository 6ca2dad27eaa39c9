"""The fields AnsFlow's client reads on projects, pipelines and tools, computed when
read, and lists that cost a constant number of queries whatever their length."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ansflow_cicd.models import Tool
from ansflow_pipelines.models import Pipeline
from ansflow_projects.models import Project, ProjectMembership
from sqlalchemy import event

from tests.domain.conftest import add_member, make_pipeline, make_project, make_tool

USER_FIELDS = {"id", "username", "email", "first_name", "last_name"}


@contextmanager
def counting_statements(app: Any) -> Iterator[list[str]]:
    """Every SQL statement the application's engine runs inside the block."""
    engine = app.registry["db_engine"]
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def statements_for(client: Any, app: Any, url: str, params: dict[str, Any]) -> tuple[int, Any]:
    client.get(url, params)  # warm: caches, prepared statements, the token
    with counting_statements(app) as statements:
        body = client.get(url, params).json
    return len(statements), body


# -- projects -----------------------------------------------------------------------
def test_project_owner_members_and_counts_on_detail_and_list(api):
    alice = api.as_user("alice")
    bob = api.as_user("bob")
    carol = api.as_user("carol")
    with api.dbsession() as session:
        from ansflow_pyramid.identity import User

        user = session.get(User, alice.user_id)
        user.email, user.first_name, user.last_name = "alice@example.org", "Alice", "Liddell"
    project = make_project(alice, "Shop", visibility="internal")
    add_member(alice, project["id"], bob.user_id, "developer")
    make_pipeline(alice, project["id"], "build")
    make_pipeline(alice, project["id"], "deploy")

    detail = alice.get(f"/api/v1/projects/projects/{project['id']}/").json
    listed = alice.get("/api/v1/projects/projects/").json["results"][0]
    for document in (detail, listed):
        assert document["owner"] == {
            "id": alice.user_id,
            "username": "alice",
            "email": "alice@example.org",
            "first_name": "Alice",
            "last_name": "Liddell",
        }
        assert document["member_count"] == 2
        assert document["pipeline_count"] == 2
        members = {m["user"]["username"]: m for m in document["members"]}
        assert set(members) == {"alice", "bob"}
        assert members["bob"]["role"] == "developer"
        assert set(members["bob"]["user"]) == USER_FIELDS
        assert members["alice"]["role"] == "owner"

    # Carol may read the internal project but is no member: no member list for her.
    for document in (
        carol.get(f"/api/v1/projects/projects/{project['id']}/").json,
        carol.get("/api/v1/projects/projects/").json["results"][0],
    ):
        assert document["members"] == []
        assert document["member_count"] == 2
        assert document["owner"]["username"] == "alice"
        assert document["owner"]["first_name"] == "Alice"
        assert document["owner"]["email"] == ""  # her address is for members
    body = carol.get(f"/api/v1/projects/projects/{project['id']}/").body
    assert b"bob" not in body and b"alice@example.org" not in body


def test_writing_owner_as_before_still_works(api):
    """``owner`` is read-only: clients that send it (an id, or the object they read)
    create and update projects as before, and the owner never changes."""
    alice = api.as_user("alice")
    bob_id = api.user("bob")
    created = alice.post("/api/v1/projects/projects/", {"name": "P", "owner": bob_id}).json
    assert created["owner"]["id"] == alice.user_id
    url = f"/api/v1/projects/projects/{created['id']}/"
    body = {**created, "description": "changed"}
    updated = alice.put(url, body).json
    assert updated["description"] == "changed"
    assert updated["owner"]["id"] == alice.user_id
    patched = alice.patch(url, {"owner": {"id": bob_id}, "default_branch": "dev"}).json
    assert patched["default_branch"] == "dev"
    assert patched["owner"]["id"] == alice.user_id


def test_project_list_costs_the_same_for_10_and_100_rows(api):
    alice = api.as_user("alice")
    bob_id = api.user("bob")
    with api.dbsession() as session:
        for index in range(100):
            project = Project(name=f"project {index:03}", owner_id=alice.user_id)
            session.add(project)
            session.flush()
            session.add(
                ProjectMembership(project_id=project.id, user_id=alice.user_id, role="owner")
            )
            session.add(ProjectMembership(project_id=project.id, user_id=bob_id, role="guest"))
            session.add(Pipeline(project_id=project.id, name="p", created_by_id=alice.user_id))
    app = api.testapp.app
    url = "/api/v1/projects/projects/"
    small, small_body = statements_for(alice, app, url, {"page_size": 10})
    large, large_body = statements_for(alice, app, url, {"page_size": 100})
    assert len(small_body["results"]) == 10 and len(large_body["results"]) == 100
    assert 2 <= small == large, (small, large)
    assert all(p["member_count"] == 2 and p["pipeline_count"] == 1 for p in large_body["results"])
    assert all(len(p["members"]) == 2 for p in large_body["results"])


# -- pipelines ----------------------------------------------------------------------
def test_pipeline_execution_tool_name_and_type(api):
    alice = api.as_user("alice")
    project = make_project(alice)
    tool = make_tool(alice, project["id"], "jenkins-main")
    pipeline = make_pipeline(alice, project["id"], execution_tool=tool["id"])
    local = make_pipeline(alice, project["id"], "local")
    assert pipeline["execution_tool_name"] == "jenkins-main"
    detail = alice.get(f"/api/v1/pipelines/pipelines/{pipeline['id']}/").json
    listed = {p["id"]: p for p in alice.get("/api/v1/pipelines/pipelines/").json["results"]}
    for document in (detail, listed[pipeline["id"]]):
        assert document["execution_tool_name"] == "jenkins-main"
        assert document["execution_tool_type"] == "jenkins"
    assert listed[local["id"]]["execution_tool_name"] is None
    assert listed[local["id"]]["execution_tool_type"] is None


def test_pipeline_list_costs_the_same_for_10_and_100_rows(api):
    alice = api.as_user("alice")
    project = make_project(alice)
    with api.dbsession() as session:
        tools = []
        for index in range(10):
            tool = Tool(project_id=project["id"], name=f"t{index}", tool_type="jenkins")
            session.add(tool)
            tools.append(tool)
        session.flush()
        for index in range(100):
            session.add(
                Pipeline(
                    project_id=project["id"],
                    name=f"p{index}",
                    created_by_id=alice.user_id,
                    execution_tool_id=tools[index % 10].id,
                )
            )
    app = api.testapp.app
    url = "/api/v1/pipelines/pipelines/"
    small, _ = statements_for(alice, app, url, {"page_size": 10})
    large, body = statements_for(alice, app, url, {"page_size": 100})
    assert 2 <= small == large, (small, large)
    assert all(p["execution_tool_type"] == "jenkins" for p in body["results"])


# -- tools ----------------------------------------------------------------------------
def test_tool_fields_on_detail_and_list(api):
    alice = api.as_user("alice")
    project = make_project(alice, "Shop")
    tool = make_tool(alice, project["id"], "ci")
    detail = alice.get(f"/api/v1/cicd/tools/{tool['id']}/").json
    listed = alice.get("/api/v1/cicd/tools/").json["results"][0]
    for document in (tool, detail, listed):
        assert document["project_name"] == "Shop"
        assert document["created_by_username"] == "alice"
        assert document["tool_type_display"] == "Jenkins"
        assert document["status"] == "unknown"
        assert document["status_display"] == "Unknown"
        assert document["detailed_status"] == "unknown"
        assert document["is_active"] is False
        assert "token" not in document
    with api.dbsession() as session:
        session.get(Tool, tool["id"]).status = "authenticated"
    assert alice.get(f"/api/v1/cicd/tools/{tool['id']}/").json["is_active"] is True


def test_health_check_answers_is_healthy_and_detailed_status(api):
    alice = api.as_user("alice")
    project = make_project(alice)
    local = alice.post("/api/v1/cicd/tools/create_local_executor/", {"project": project["id"]}).json
    assert local["tool_type_display"] == "Local executor"
    checked = alice.post(f"/api/v1/cicd/tools/{local['id']}/health_check/", status=200).json
    assert checked["is_healthy"] is True
    assert checked["detailed_status"] == "authenticated"
    remote = make_tool(alice, project["id"], "down", base_url="http://127.0.0.1:9/")
    checked = alice.post(f"/api/v1/cicd/tools/{remote['id']}/health_check/", status=200).json
    assert checked["is_healthy"] is False
    # The test settings do not allow loopback: the outbound policy refuses the address
    # before connecting, which is an "error" (a configuration problem), not "offline".
    assert checked["detailed_status"] == "error"
    assert alice.get(f"/api/v1/cicd/tools/{remote['id']}/").json["is_active"] is False


def test_tool_list_costs_the_same_for_10_and_100_rows(api):
    alice = api.as_user("alice")
    project = make_project(alice)
    with api.dbsession() as session:
        for index in range(100):
            session.add(
                Tool(
                    project_id=project["id"],
                    name=f"t{index:03}",
                    tool_type="gitlab_ci",
                    created_by_id=alice.user_id,
                )
            )
    app = api.testapp.app
    url = "/api/v1/cicd/tools/"
    small, _ = statements_for(alice, app, url, {"page_size": 10})
    large, body = statements_for(alice, app, url, {"page_size": 100})
    assert 2 <= small == large, (small, large)
    assert all(t["created_by_username"] == "alice" for t in body["results"])


def test_documents_read_with_the_new_fields_can_be_written_back(api):
    """The client PUTs what it read: the derived fields are read-only and ignored."""
    alice = api.as_user("alice")
    project = make_project(alice)
    tool = make_tool(alice, project["id"], "ci")
    pipeline = make_pipeline(alice, project["id"], execution_tool=tool["id"])
    tool_url = f"/api/v1/cicd/tools/{tool['id']}/"
    read = alice.get(tool_url).json
    written = alice.put(tool_url, {**read, "name": "ci-2", "is_active": True}).json
    assert (written["name"], written["is_active"], written["has_token"]) == ("ci-2", False, True)
    pipeline_url = f"/api/v1/pipelines/pipelines/{pipeline['id']}/"
    read = alice.get(pipeline_url).json
    written = alice.put(pipeline_url, {**read, "execution_tool_name": "x"}).json
    assert written["execution_tool_name"] == "ci-2"
    assert len(written["steps"]) == len(pipeline["steps"])
