"""Helpers for trigger tests: an authenticated client, pipelines, triggers, and
signed deliveries the way each source sends them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from ansflow_cicd.models import Execution
from ansflow_triggers.models import WebhookDelivery
from ansflow_triggers.sources import sign
from sqlalchemy import func, select

from ansflow_pyramid.identity.services import create_user

PASSWORD = "correct horse battery staple"
SECRET = "s3cret-webhook-key-0123456789"


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]


def delivery(
    source: str,
    payload: Any,
    *,
    secret: str | None = SECRET,
    event: str | None = None,
    delivery_id: str | None = None,
    raw: bytes | None = None,
) -> Delivery:
    """A delivery signed like ``source`` signs them (``secret=None``: unsigned)."""
    body = raw if raw is not None else json.dumps(payload).encode()
    delivery_id = delivery_id or str(uuid.uuid4())
    headers = {"Content-Type": "application/json"}
    if source == "github":
        headers.update({"X-GitHub-Event": event or "push", "X-GitHub-Delivery": delivery_id})
        if secret is not None:
            headers["X-Hub-Signature-256"] = sign(secret, body)
    elif source == "gitlab":
        headers.update({"X-Gitlab-Event": event or "Push Hook", "X-Gitlab-Event-UUID": delivery_id})
        if secret is not None:
            headers["X-Gitlab-Token"] = secret
    else:
        headers["X-Delivery-ID"] = delivery_id
        if event:
            headers["X-Jenkins-Event" if source == "jenkins" else "X-AnsFlow-Event"] = event
        if secret is not None:
            headers["X-AnsFlow-Signature-256"] = sign(secret, body)
    return Delivery(body, headers)


def github_push(
    repository: str = "acme/app", ref: str = "refs/heads/main", commit: str = "a" * 40
) -> dict[str, Any]:
    return {
        "ref": ref,
        "after": commit,
        "repository": {"full_name": repository},
        "sender": {"login": "octocat"},
    }


def gitlab_push(
    repository: str = "acme/app", ref: str = "refs/heads/main", commit: str = "b" * 40
) -> dict[str, Any]:
    return {
        "object_kind": "push",
        "ref": ref,
        "checkout_sha": commit,
        "after": commit,
        "user_username": "tanuki",
        "project": {"path_with_namespace": repository},
    }


def generic_event(repository: str = "acme/app", ref: str = "refs/heads/main") -> dict[str, Any]:
    return {"event": "deploy", "repository": repository, "ref": ref, "commit": "c" * 40}


def jenkins_notification(job: str = "acme-app", number: int = 7) -> dict[str, Any]:
    return {
        "name": job,
        "build": {
            "number": number,
            "phase": "COMPLETED",
            "status": "SUCCESS",
            "full_url": f"http://jenkins.example/job/{job}/{number}/",
        },
    }


class Client:
    """JSON calls to the test application as one user (Bearer token)."""

    def __init__(self, testapp: Any, dbsession: Callable[[], Any], username: str) -> None:
        self.testapp = testapp
        with dbsession() as session:
            self.user_id = create_user(session, username, PASSWORD).id
        token = testapp.post_json(
            "/api/v1/auth/token/", {"username": username, "password": PASSWORD}
        ).json["access"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, url: str, status: int = 200, **params: Any) -> Any:
        return self.testapp.get(url, params=params, headers=self.headers, status=status).json

    def post(self, url: str, body: Any, status: int = 201) -> Any:
        return self.testapp.post_json(url, body, headers=self.headers, status=status).json

    def patch(self, url: str, body: Any, status: int = 200) -> Any:
        return self.testapp.patch_json(url, body, headers=self.headers, status=status).json

    def pipeline(self, name: str = "app", steps: list[dict[str, Any]] | None = None) -> Any:
        project = self.post("/api/v1/projects/projects/", {"name": f"{name}-project"})
        steps = steps or [{"name": "build", "step_type": "shell_script", "command": "true"}]
        return self.post(
            "/api/v1/pipelines/pipelines/",
            {"name": name, "project": project["id"], "steps": steps},
        )

    def trigger(self, pipeline_id: int, source: str = "github", **fields: Any) -> Any:
        body = {"source": source, "repository": "acme/app", "secret": SECRET, **fields}
        return self.post(f"/api/v1/pipelines/{pipeline_id}/webhook-triggers/", body)


def send(testapp: Any, source: str, sent: Delivery, status: int = 202, path: str = "") -> Any:
    return testapp.post(
        path or f"/api/v1/webhooks/{source}/", sent.body, headers=sent.headers, status=status
    )


@pytest.fixture
def alice(testapp, dbsession) -> Client:
    return Client(testapp, dbsession, "alice")


@pytest.fixture
def counts(dbsession) -> Callable[[], tuple[int, int]]:
    """``(executions, recorded deliveries)`` in the database right now."""

    def count() -> tuple[int, int]:
        with dbsession() as session:
            return (
                session.scalar(select(func.count()).select_from(Execution)),
                session.scalar(select(func.count()).select_from(WebhookDelivery)),
            )

    return count


def observed(app: Any, execution_id: int) -> tuple[str, str] | None:
    """``(phase, remote status)`` of an execution's remote run as its observer last
    stored it (None: not handed to the observer yet)."""
    from ansflow_remote.models import RemoteRunRecord

    from ansflow_pyramid.db import session_scope

    with session_scope(app.registry["dbsession_factory"]) as session:
        record = session.get(RemoteRunRecord, execution_id)
        return None if record is None else (record.phase, record.remote_status)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
