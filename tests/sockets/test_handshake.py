"""Who may open a socket: origin, credentials, the execution's ACL - refused before the
upgrade with the documented statuses, over a real uvicorn server."""

from __future__ import annotations

import json

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ansflow_pyramid.traversal.introspection import describe_resources
from tests.sockets.conftest import Client, LiveASGI


def refusal(url: str, **kw) -> tuple[int, dict]:
    with pytest.raises(InvalidStatus) as caught, connect(url, open_timeout=10, **kw):
        pass
    response = caught.value.response
    return response.status_code, json.loads(response.body or b"{}")


def first_messages(url: str, count: int, **kw) -> list[dict]:
    with connect(url, open_timeout=10, **kw) as ws:
        return [json.loads(ws.recv(timeout=10)) for _ in range(count)]


@pytest.fixture(scope="module")
def setup(ansflow_app, ansflow_settings):
    """One server for the module (its tests only read, or use users of their own):
    executions stay pending (no dispatch)."""
    from ansflow_pyramid import make_configurator
    from ansflow_pyramid.testing import empty_all_tables

    settings = {
        **ansflow_settings,
        "ansflow.dispatch": "none",
        "ansflow.allowed_hosts": "client.example",
    }
    app = make_configurator(settings, environ={}).make_wsgi_app()
    live = LiveASGI(app)
    try:
        alice = Client(live, "alice")
        bob = Client(live, "bob")
        pipeline = alice.pipeline(["echo hi"])
        execution = alice.run(pipeline["id"])
        yield live, alice, bob, execution
    finally:
        live.stop()
        app.registry["ansflow.execution"].close()
        empty_all_tables(app)
        app.registry["db_engine"].dispose()


def test_socket_paths_are_in_the_registry(setup):
    live, _, _, execution = setup
    described = {r["path"]: r for r in describe_resources(live.app.registry)}
    socket = described["/ws/executions/{execution_id}/"]
    assert socket["protocol"] == "websocket"
    assert [a["path"] for a in socket["aliases"]] == ["/ws/execution/{execution_id}/"]
    assert described["/ws/monitor/"]["protocol"] == "websocket"
    # Plain HTTP on a socket path: a JSON 426, not an HTML page.
    response = requests.get(f"{live.base}/ws/executions/{execution['id']}/", timeout=10)
    assert response.status_code == 426
    assert response.json()["code"] == "upgrade_required"


def test_every_spelling_reaches_the_same_socket(setup):
    live, alice, _, execution = setup
    for path in (
        f"/ws/executions/{execution['id']}/",
        f"/ws/executions/{execution['id']}",
        f"/ws/execution/{execution['id']}",
        f"/ws/execution/{execution['id']}/",
    ):
        connection, status = first_messages(
            live.ws_base + path, 2, additional_headers=alice.bearer()
        )
        assert connection["type"] == "connection"
        assert status["type"] == "execution_status"
        assert status["execution_id"] == execution["id"]
        assert {"steps", "total_steps", "completed_steps"} <= set(status)


def test_refusals_before_the_upgrade(setup):
    live, alice, bob, execution = setup
    url = f"{live.ws_base}/ws/execution/{execution['id']}"
    # A browser page on another site.
    status, body = refusal(url, origin="http://evil.example", additional_headers=alice.bearer())
    assert (status, body["code"]) == (403, "origin_not_allowed")
    # The configured allowed host, and clients that send no Origin (not browsers), pass.
    first_messages(url, 1, origin="https://client.example", additional_headers=alice.bearer())
    # No credentials.
    status, body = refusal(url, origin="https://client.example")
    assert (status, body["code"]) == (401, "not_authenticated")
    # A forged token.
    status, body = refusal(url, additional_headers={"Authorization": "Bearer x.y.z"})
    assert (status, body["code"]) == (401, "not_authenticated")
    # Another user's private project: its id does not leak.
    status, body = refusal(url, additional_headers=bob.bearer())
    assert (status, body["code"]) == (404, "not_found")
    # No such execution, and no socket at all there.
    status, _ = refusal(f"{live.ws_base}/ws/execution/999999", additional_headers=alice.bearer())
    assert status == 404
    status, _ = refusal(f"{live.ws_base}/ws/nothing/", additional_headers=alice.bearer())
    assert status == 404


def test_a_revoked_token_is_refused(setup):
    live, _, _, _ = setup
    carol = Client(live, "carol")
    execution = carol.run(carol.pipeline(["echo hi"], name="carols")["id"])
    url = f"{live.ws_base}/ws/execution/{execution['id']}"
    first_messages(url, 1, additional_headers=carol.bearer())
    carol.call("POST", "/api/v1/auth/logout/", 200, json={"refresh": carol.refresh})
    status, body = refusal(url, additional_headers=carol.bearer())
    assert (status, body["code"]) == (401, "not_authenticated")


def test_a_stream_token_opens_its_own_execution_only(setup):
    live, alice, _, execution = setup
    token = alice.call(
        "POST", f"/api/v1/cicd/executions/{execution['id']}/stream_token/", 200, json={}
    )["token"]
    url = f"{live.ws_base}/ws/execution/{execution['id']}?token={token}"
    assert first_messages(url, 1)[0]["type"] == "connection"
    other = alice.run(execution["pipeline"])
    status, _ = refusal(f"{live.ws_base}/ws/execution/{other['id']}?token={token}")
    assert status == 401


def test_the_monitor_shows_only_visible_executions(setup):
    live, _, bob, _ = setup
    dave = Client(live, "dave")
    mine = dave.run(dave.pipeline(["echo dave"], name="daves")["id"])
    bob.run(bob.pipeline(["echo bob"], name="bobs")["id"])
    messages = first_messages(f"{live.ws_base}/ws/monitor/", 3, additional_headers=dave.bearer())
    assert [m["type"] for m in messages] == ["connection", "system_status", "recent_executions"]
    assert messages[1]["pending_executions"] == 1
    assert [e["id"] for e in messages[2]["executions"]] == [mine["id"]]
    status, _ = refusal(f"{live.ws_base}/ws/monitor/")
    assert status == 401


def test_client_messages(setup):
    live, alice, _, execution = setup
    url = f"{live.ws_base}/ws/execution/{execution['id']}"
    with connect(url, additional_headers=alice.bearer()) as ws:
        assert [json.loads(ws.recv(timeout=10))["type"] for _ in range(2)] == [
            "connection",
            "execution_status",
        ]
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "pong"
        ws.send("not json")
        assert json.loads(ws.recv(timeout=10))["code"] == "invalid_message"
        ws.send(json.dumps({"type": "dance"}))
        reply = json.loads(ws.recv(timeout=10))
        assert (reply["type"], reply["code"]) == ("error", "unknown_message_type")
        ws.send(json.dumps({"type": "get_status"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "execution_status"
        ws.send(json.dumps({"type": "subscribe", "execution_id": execution["id"]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
        # Still open after all that.
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "pong"
