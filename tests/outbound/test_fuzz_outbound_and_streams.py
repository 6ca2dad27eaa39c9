"""The operations the general fuzz test leaves out, fuzzed against local targets: tool
health checks and connection tests (tools point at a fake CI server on loopback, which
this application allow-lists) and event streams (bounded to 0.2 s each).  Every
check of schemathesis applies: no 5xx, only documented statuses and JSON bodies."""

from __future__ import annotations

import os

from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from webtest import TestApp

from ansflow_pyramid.identity.services import create_user
from tests.outbound.test_client import Server
from tests.test_openapi import fuzz_operations

PASSWORD = "fuzzing password 123"
EXAMPLES = int(os.environ.get("ANSFLOW_FUZZ_EXAMPLES", "6"))
OUTBOUND = ("health_check/", "test_connection/")
STREAMING = ("events/",)
# Ansible's connection tests log in over SSH to the host the body names, not through the
# HTTP client: fuzzing them would send invented host names to the network.
# tests/ansible/ covers them against a local sshd.
NOT_HTTP = ("/api/v1/ansible/",)


def fuzzed_outbound(path: str) -> bool:
    return path.endswith(OUTBOUND) and not path.startswith(NOT_HTTP)


def test_fuzz_outbound_actions_and_streams(make_app, testapp, dbsession):
    fake_ci = Server("127.0.0.1")
    app = make_app(
        ansflow__outbound_allowed_networks="127.0.0.1",
        ansflow__tool_check_timeout="1",
        ansflow__stream_max_seconds="0.2",
        ansflow__sse_heartbeat="0.1",
        ansflow__dispatch="none",
    )
    client = TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
    try:
        with dbsession() as session:
            create_user(session, "fuzzer", PASSWORD, is_superuser=True)
        access = client.post_json(
            "/api/v1/auth/token/", {"username": "fuzzer", "password": PASSWORD}
        ).json["access"]
        headers = {"Authorization": f"Bearer {access}"}
        project = client.post_json(
            "/api/v1/projects/projects/", {"name": "fuzz"}, headers=headers
        ).json
        for tool_type in ("jenkins", "gitlab_ci", "github_actions", "local"):
            client.post_json(
                "/api/v1/cicd/tools/",
                {
                    "name": tool_type,
                    "project": project["id"],
                    "tool_type": tool_type,
                    "base_url": fake_ci.url,
                    "username": "robot",
                    "token": "t",
                },
                headers=headers,
            )
        client.post_json(
            "/api/v1/cicd/git-credentials/",
            {"name": "g", "platform": "gitlab", "server_url": fake_ci.url, "password": "p"},
            headers=headers,
        )
        failures = fuzz_operations(
            app,
            examples_per_operation=EXAMPLES,
            headers=headers,
            skip=lambda path: not fuzzed_outbound(path),
        )
        # A stream's success is text/event-stream, which the document (built from
        # JSON actions) cannot declare yet: every other check applies, and its error
        # answers are checked to be JSON below.
        failures += fuzz_operations(
            app,
            examples_per_operation=EXAMPLES,
            headers=headers,
            excluded=[content_type_conformance, response_schema_conformance],
            skip=lambda path: not path.endswith(STREAMING),
        )
        assert not failures, "\n\n".join(failures)
        assert fake_ci.seen, "no check reached the fake CI server"
        for path in (
            "/api/v1/cicd/executions/999999/events/",
            "/api/v1/cicd/executions/%ff/events/",
            "/api/v1/cicd/executions/1/events/?token=forged",
            "/api/v1/cicd/events/?token=forged",
            "/api/v1/cicd/events/?last_event_id=%00",
        ):
            answer = client.get(path, expect_errors=True)
            assert 400 <= answer.status_int < 500, (path, answer.status)
            assert answer.content_type == "application/json", (path, answer.content_type)
    finally:
        fake_ci.close()
