"""Helpers for the domain tests: users, tokens and an authenticated client.

``api`` wraps the ``testapp`` fixture: ``api.as_user("alice")`` returns a client whose
requests carry ``Authorization: Bearer <access>`` obtained from
``POST /api/v1/auth/token/``, exactly as AnsFlow's clients authenticate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from ansflow_pyramid.identity.services import create_user

PASSWORD = "correct horse battery staple"


@dataclass
class Client:
    """Requests to the test application as one user (or anonymously)."""

    testapp: Any
    headers: dict[str, str] = field(default_factory=dict)
    user_id: int | None = None
    username: str | None = None
    #: Every response body this client received (to check what never leaks).
    transcript: list[bytes] = field(default_factory=list)

    def _call(self, method: str, url: str, body: Any = None, status: Any = None, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        if method in ("get", "head", "options"):
            response = getattr(self.testapp, method)(
                url, params=body, headers=headers, status=status, **kw
            )
        elif body is None:
            response = getattr(self.testapp, method)(url, headers=headers, status=status, **kw)
        else:
            response = getattr(self.testapp, method + "_json")(
                url, body, headers=headers, status=status, **kw
            )
        self.transcript.append(response.body)
        return response

    def get(self, url: str, params: Any = None, status: Any = 200, **kw: Any) -> Any:
        return self._call("get", url, params, status, **kw)

    def post(self, url: str, body: Any = None, status: Any = 201, **kw: Any) -> Any:
        return self._call("post", url, body, status, **kw)

    def put(self, url: str, body: Any = None, status: Any = 200, **kw: Any) -> Any:
        return self._call("put", url, body, status, **kw)

    def patch(self, url: str, body: Any = None, status: Any = 200, **kw: Any) -> Any:
        return self._call("patch", url, body, status, **kw)

    def delete(self, url: str, body: Any = None, status: Any = 204, **kw: Any) -> Any:
        return self._call("delete", url, body, status, **kw)


@dataclass
class API:
    testapp: Any
    dbsession: Callable[[], Any]
    users: dict[str, int] = field(default_factory=dict)
    transcript: list[bytes] = field(default_factory=list)

    def user(self, username: str, *, superuser: bool = False) -> int:
        """Create ``username`` (once) and return its id."""
        if username not in self.users:
            with self.dbsession() as session:
                user = create_user(session, username, PASSWORD, is_superuser=superuser)
                self.users[username] = user.id
        return self.users[username]

    def token(self, username: str) -> str:
        response = self.testapp.post_json(
            "/api/v1/auth/token/", {"username": username, "password": PASSWORD}
        )
        return response.json["access"]

    def as_user(self, username: str, *, superuser: bool = False) -> Client:
        user_id = self.user(username, superuser=superuser)
        headers = {"Authorization": f"Bearer {self.token(username)}"}
        return Client(self.testapp, headers, user_id, username, self.transcript)

    @property
    def anonymous(self) -> Client:
        return Client(self.testapp, transcript=self.transcript)


@pytest.fixture
def api(testapp: Any, dbsession: Callable[[], Any]) -> API:
    return API(testapp, dbsession)


# -- building blocks ------------------------------------------------------------------
def make_project(client: Client, name: str = "Demo", **fields: Any) -> dict[str, Any]:
    return client.post("/api/v1/projects/projects/", {"name": name, **fields}).json


def add_member(client: Client, project_id: int, user_id: int, role: str) -> dict[str, Any]:
    return client.post(
        f"/api/v1/projects/projects/{project_id}/add_member/",
        {"user_id": user_id, "role": role},
    ).json


def make_pipeline(
    client: Client, project_id: int, name: str = "build", steps: int = 2, **fields: Any
) -> dict[str, Any]:
    body = {
        "name": name,
        "project": project_id,
        "steps": [
            {"name": f"step {i + 1}", "step_type": "shell_script", "command": f"echo {i + 1}"}
            for i in range(steps)
        ],
        **fields,
    }
    return client.post("/api/v1/pipelines/pipelines/", body).json


def make_tool(client: Client, project_id: int, name: str = "ci", **fields: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "project": project_id,
        "tool_type": "jenkins",
        "base_url": "http://127.0.0.1:9/",
        "username": "robot",
        "token": "s3cr3t-token-value",
        **fields,
    }
    return client.post("/api/v1/cicd/tools/", body).json


def make_execution(client: Client, pipeline_id: int, **fields: Any) -> dict[str, Any]:
    return client.post("/api/v1/cicd/executions/", {"pipeline_id": pipeline_id, **fields}).json
