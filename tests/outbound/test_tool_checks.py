"""Tool checks through the API use the hardened client: credentials stay with their
origin, refused addresses are refused before connecting, port states do not leak."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from webtest import TestApp

from tests.domain.conftest import API, make_project, make_tool
from tests.outbound.test_client import Server


@pytest.fixture
def loopback_api(make_app, testapp, dbsession) -> API:
    app = make_app(ansflow__outbound_allowed_networks="127.0.0.0/8")
    return API(TestApp(app, extra_environ={"HTTP_HOST": "localhost"}), dbsession)


@pytest.fixture
def servers() -> Iterator[tuple[Server, Server]]:
    first, second = Server("127.0.0.1"), Server("127.0.0.2")
    yield first, second
    first.close()
    second.close()


def check(client, tool_id: int) -> dict:
    return client.post(f"/api/v1/cicd/tools/{tool_id}/health_check/", status=200).json


def test_the_token_is_not_sent_to_a_redirect_target_on_another_origin(loopback_api, servers):
    first, second = servers
    alice = loopback_api.as_user("alice")
    project = make_project(alice)
    # The tool's probe path (/api/json) is answered by a redirect to another host.
    first.httpd.redirect_target = f"{second.url}/elsewhere"  # type: ignore[attr-defined]
    tool = make_tool(alice, project["id"], base_url=f"{first.url}/hop", token="tool-token")
    result = check(alice, tool["id"])
    assert result["status"] == "authenticated"
    assert first.seen[0][2]["Authorization"].startswith("Basic ")
    assert second.seen and second.seen[0][2]["Authorization"] is None


def test_non_public_addresses_are_refused_by_default(testapp, dbsession):
    api = API(testapp, dbsession)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    try:
        alice = api.as_user("alice")
        project = make_project(alice)
        port = listener.getsockname()[1]
        for base in (f"http://127.0.0.1:{port}", "http://169.254.169.254", "http://10.0.0.1"):
            tool = make_tool(alice, project["id"], name=base, base_url=base)
            result = check(alice, tool["id"])
            assert result["status"] == "error"
            assert "not an address outbound calls may reach" in result["message"]
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


def test_closed_and_silent_ports_read_the_same(make_app, testapp, dbsession):
    app = make_app(
        ansflow__outbound_allowed_networks="127.0.0.1",
        ansflow__tool_check_timeout="0.5",
        ansflow__outbound_timeout_seconds="0.5",
    )
    alice = API(TestApp(app, extra_environ={"HTTP_HOST": "localhost"}), dbsession).as_user("a")
    project = make_project(alice)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True).start()
    try:
        messages = set()
        for port in (closed, silent.getsockname()[1]):
            tool = make_tool(
                alice, project["id"], name=str(port), base_url=f"http://127.0.0.1:{port}"
            )
            started = time.monotonic()
            result = check(alice, tool["id"])
            assert time.monotonic() - started < 3
            assert result["status"] == "offline"
            messages.add(result["message"].replace(str(port), "PORT"))
        assert len(messages) == 1, messages
    finally:
        silent.close()
