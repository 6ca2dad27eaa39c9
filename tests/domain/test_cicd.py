"""Tools (checks, secrets), local executors, atomic steps, git credentials, statistics."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ansflow_cicd.models import Execution, GitCredential, Tool
from ansflow_cicd.secrets import SecretBox, get_secret_box
from sqlalchemy import select, update

from tests.domain.conftest import (
    API,
    make_execution,
    make_pipeline,
    make_project,
    make_tool,
)

#: The fake CI servers listen on loopback, which the outbound policy refuses unless an
#: operator allows it: tests that reach them build an application that does.
LOOPBACK_ALLOWED = "127.0.0.0/8 ::1"


class FakeCI(BaseHTTPRequestHandler):
    """A loopback "CI server": 200 for the right Basic credentials, 401 otherwise."""

    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        FakeCI.seen.append((self.path, self.headers.get("Authorization")))
        good = self.headers.get("Authorization") == "Basic cm9ib3Q6Z29vZC10b2tlbg=="
        self.send_response(200 if good else 401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_ci() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeCI.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def loopback_api(make_app, testapp, dbsession) -> API:
    """``api`` on an application whose outbound policy allows loopback targets."""
    from webtest import TestApp

    app = make_app(ansflow__outbound_allowed_networks=LOOPBACK_ALLOWED)
    return API(TestApp(app, extra_environ={"HTTP_HOST": "localhost"}), dbsession)


@pytest.fixture
def closed_port() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_health_check_records_what_the_tool_answers(loopback_api, fake_ci, closed_port):
    alice = loopback_api.as_user("alice")
    project = make_project(alice)
    tool = make_tool(alice, project["id"], base_url=fake_ci, token="good-token")
    url = f"/api/v1/cicd/tools/{tool['id']}/"

    result = alice.post(f"{url}health_check/", status=200).json
    assert (result["status"], result["healthy"]) == ("authenticated", True)
    assert FakeCI.seen == [("/api/json", "Basic cm9ib3Q6Z29vZC10b2tlbg==")]
    stored = alice.get(url).json
    assert stored["status"] == "authenticated" and stored["last_health_check"] is not None

    alice.patch(url, {"token": "bad-token"})
    result = alice.post(f"{url}test_connection/", status=200).json
    assert (result["status"], result["success"]) == ("needs_auth", False)

    alice.patch(url, {"base_url": closed_port})
    result = alice.post(f"{url}health_check/", status=200).json
    assert result["status"] == "offline"
    assert alice.get(url).json["status_display"] == "Offline"


def test_health_checks_refuse_loopback_unless_allowed(api, fake_ci):
    """The default policy refuses the loopback fake server before connecting."""
    alice = api.as_user("alice")
    tool = make_tool(alice, make_project(alice)["id"], base_url=fake_ci, token="good-token")
    result = alice.post(f"/api/v1/cicd/tools/{tool['id']}/health_check/", status=200).json
    assert (result["status"], result["healthy"]) == ("error", False)
    assert "ansflow.outbound_allowed_networks" in result["message"]
    assert FakeCI.seen == []


def test_tokens_are_encrypted_write_only_and_removable(api, dbsession, ansflow_app):
    alice = api.as_user("alice")
    project = make_project(alice)
    tool = make_tool(alice, project["id"], token="first-token")
    url = f"/api/v1/cicd/tools/{tool['id']}/"
    box = get_secret_box(ansflow_app.registry)
    with dbsession() as session:
        stored = session.scalar(select(Tool.token_encrypted).where(Tool.id == tool["id"]))
    assert "first-token" not in stored and box.decrypt(stored) == "first-token"
    # Another key cannot read it.
    with pytest.raises(ValueError, match="cannot decrypt"):
        SecretBox("some-other-secret-key-0123456789").decrypt(stored)
    # Rotation: the old key listed as old still decrypts.
    rotated = SecretBox("a-new-secret-key-0123456789abcdef", ["test-secret-" + "x" * 40])
    assert rotated.decrypt(stored) == "first-token"

    assert alice.patch(url, {"username": "x"}).json["has_token"] is True
    assert alice.patch(url, {"token": None}).json["has_token"] is True
    assert alice.patch(url, {"token": ""}).json["has_token"] is False
    with dbsession() as session:
        assert session.scalar(select(Tool.token_encrypted).where(Tool.id == tool["id"])) is None


def test_local_executor_is_created_once_and_always_healthy(api):
    alice = api.as_user("alice")
    project = make_project(alice)
    url = "/api/v1/cicd/tools/create_local_executor/"
    created = alice.post(url, {"project_id": project["id"]}, status=201)
    tool = created.json
    assert tool["tool_type"] == "local" and tool["base_url"] == ""
    assert created.headers["Location"].endswith(f"/api/v1/cicd/tools/{tool['id']}/")
    assert alice.post(url, {"project": project["id"]}, status=200).json["id"] == tool["id"]
    check = alice.post(f"/api/v1/cicd/tools/{tool['id']}/health_check/", status=200).json
    assert check["status"] == "authenticated"
    # Other tool types need a base URL; GitHub's has a default.
    error = alice.post(
        "/api/v1/cicd/tools/",
        {"name": "j", "project": project["id"], "tool_type": "jenkins"},
        status=400,
    ).json
    assert "base_url" in error["errors"]
    github = alice.post(
        "/api/v1/cicd/tools/",
        {"name": "gh", "project": project["id"], "tool_type": "github_actions"},
    ).json
    assert github["base_url"] == "https://api.github.com"


def test_git_credentials_crud_and_connection_test(loopback_api, fake_ci, dbsession):
    alice = loopback_api.as_user("alice")
    created = alice.post(
        "/api/v1/cicd/git-credentials/",
        {
            "name": "gitlab",
            "platform": "gitlab",
            "server_url": fake_ci,
            "credential_type": "access_token",
            "password": "glpat-secret",
        },
    ).json
    assert created["has_password"] is True and created["user"] == alice.user_id
    url = f"/api/v1/cicd/git-credentials/{created['id']}/"
    result = alice.post(f"{url}test_connection/", status=200).json
    # The fake server asks for credentials: reachable, and the secret was not sent.
    assert result["success"] is True
    assert FakeCI.seen == [("/", None)]
    assert alice.get(url).json["last_test_result"] == "success"
    alice.put(url, {"name": "gitlab-main", "platform": "gitlab"})
    with dbsession() as session:
        credential = session.scalars(select(GitCredential)).one()
        assert credential.name == "gitlab-main" and credential.password_encrypted
    alice.delete(url)
    assert alice.get("/api/v1/cicd/git-credentials/").json["count"] == 0


def test_atomic_steps_crud(api):
    alice = api.as_user("alice")
    step = alice.post(
        "/api/v1/cicd/atomic-steps/",
        {"name": "unit tests", "step_type": "test", "parameters": {"cmd": "pytest"}},
    ).json
    assert step["created_by_username"] == "alice" and step["is_public"] is False
    url = f"/api/v1/cicd/atomic-steps/{step['id']}/"
    assert alice.patch(url, {"retry_count": 2}).json["retry_count"] == 2
    assert alice.get("/api/v1/cicd/atomic-steps/", {"step_type": "test"}).json["count"] == 1
    alice.delete(url)
    alice.get(url, status=404)


def test_statistics_average_duration_and_success_rate(api, dbsession):
    alice = api.as_user("alice")
    project = make_project(alice)
    pipeline = make_pipeline(alice, project["id"])
    made = [make_execution(alice, pipeline["id"]) for _ in range(4)]
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    now = dt.datetime.now(dt.UTC)
    outcomes = [("success", 10), ("success", 20), ("failed", 60)]
    with dbsession() as session:
        for execution, (status, seconds) in zip(made, outcomes, strict=False):
            session.execute(
                update(Execution)
                .where(Execution.id == execution["id"])
                .values(
                    status=status,
                    started_at=start,
                    completed_at=start + dt.timedelta(seconds=seconds),
                )
            )
        # An execution older than the window is not counted.
        session.execute(
            update(Execution)
            .where(Execution.id == made[3]["id"])
            .values(created_at=now - dt.timedelta(days=10))
        )
    stats = alice.get("/api/v1/cicd/executions/statistics/", {"days": 7}).json
    assert stats["total"] == 3
    assert stats["by_status"]["success"] == 2 and stats["by_status"]["failed"] == 1
    assert stats["success_rate"] == pytest.approx(66.67)
    assert stats["average_duration"] == pytest.approx(30.0)
    assert alice.get("/api/v1/cicd/executions/statistics/", {"days": 30}).json["total"] == 4
    # Another user sees none of it.
    bob = api.as_user("bob")
    assert bob.get("/api/v1/cicd/executions/statistics/").json["total"] == 0
    detail = alice.get(f"/api/v1/cicd/executions/{made[0]['id']}/").json
    assert detail["duration"] == 10.0 and detail["status_display"] == "Success"
    # A finished execution cannot be cancelled but can be retried.
    alice.post(f"/api/v1/cicd/executions/{made[0]['id']}/cancel/", status=409)
    alice.post(f"/api/v1/cicd/executions/{made[0]['id']}/retry/", status=201)


def test_tool_types_are_a_registry_plugins_extend(api, make_app):
    from webtest import TestApp

    app = make_app(ansflow__plugins="tests.domain.tool_plugin")
    client = TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
    api.user("alice")
    token = client.post_json(
        "/api/v1/auth/token/", {"username": "alice", "password": "correct horse battery staple"}
    ).json["access"]
    headers = {"Authorization": f"Bearer {token}"}
    project = client.post_json("/api/v1/projects/projects/", {"name": "x"}, headers=headers).json
    tool = client.post_json(
        "/api/v1/cicd/tools/",
        {"name": "tc", "project": project["id"], "tool_type": "teamcity", "base_url": "http://tc"},
        headers=headers,
    ).json
    result = client.post(f"/api/v1/cicd/tools/{tool['id']}/health_check/", headers=headers).json
    assert (result["status"], result["message"]) == ("authenticated", "TeamCity says hello")
