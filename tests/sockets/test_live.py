"""A run watched live over a socket: every line in order, exactly once, the same as
over SSE; the control/stop command cancels with the permission of ``cancel/``."""

from __future__ import annotations

import json
import threading
import time

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ansflow_pyramid.execution.sseclient import SSEClient
from tests.sockets.conftest import Client

LINES = 400


def socket_messages(url: str, headers: dict, timeout: float = 30) -> tuple[list[dict], int]:
    """Every message until the server closes; and the close code."""
    messages = []
    with connect(url, additional_headers=headers, open_timeout=10) as ws:
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                messages.append(json.loads(ws.recv(timeout=timeout)))
        except ConnectionClosed:
            pass
        return messages, ws.close_code


def test_lines_reach_the_socket_in_order_and_match_the_sse_stream(live_server):
    live = live_server()
    alice = Client(live, "alice")
    script = f"sleep 0.7; for i in $(seq 1 {LINES}); do echo line-$i; done"
    pipeline = alice.pipeline([script, "echo second-step"])
    execution = alice.run(pipeline["id"])
    sse_events = []

    def watch_sse() -> None:
        url = f"{live.base}/api/v1/cicd/executions/{execution['id']}/events/"
        with SSEClient(url, headers=alice.bearer()) as client:
            for event in client:
                sse_events.append(event)
                if event.event == "end":
                    return

    sse = threading.Thread(target=watch_sse)
    sse.start()
    messages, code = socket_messages(
        f"{live.ws_base}/ws/execution/{execution['id']}", alice.bearer()
    )
    sse.join(timeout=30)
    assert code == 1000
    types = [m["type"] for m in messages]
    assert types[:2] == ["connection", "execution_status"]
    assert types[-1] == "execution_update" and messages[-1]["status"] == "success"
    assert "step_progress" in types
    entries = [m for m in messages if m["type"] == "log_entry"]
    numbers = [m["line"] for m in entries]
    assert numbers == list(range(1, len(numbers) + 1))  # in order, none lost, none twice
    stdout = [m["message"] for m in entries if m["stream"] == "stdout"]
    assert stdout == [f"line-{i}" for i in range(1, LINES + 1)] + ["second-step"]
    sse_lines = [(int(e.id), e.json()["message"]) for e in sse_events if e.event == "log"]
    assert sse_lines == [(m["line"], m["message"]) for m in entries]
    assert {m["step_name"] for m in entries if m["stream"] == "stdout"} == {"step-0", "step-1"}


def test_control_stop_cancels_with_the_cancel_permission(live_server):
    live = live_server()
    alice = Client(live, "alice")
    guest = Client(live, "guest")
    pipeline = alice.pipeline(["echo started; sleep 30"])
    alice.call(
        "POST",
        f"/api/v1/projects/projects/{pipeline['project']}/add_member/",
        201,
        json={"user_id": guest.user_id, "role": "guest"},
    )
    execution = alice.run(pipeline["id"])
    url = f"{live.ws_base}/ws/execution/{execution['id']}"
    # A guest may watch but not cancel: an error message, and the socket stays open.
    with connect(url, additional_headers=guest.bearer()) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "connection"
        ws.send(json.dumps({"type": "control", "action": "stop"}))
        reply = None
        while reply is None or reply["type"] not in ("error", "control_result"):
            reply = json.loads(ws.recv(timeout=10))
        assert (reply["type"], reply["code"]) == ("error", "permission_denied")
        ws.send(json.dumps({"type": "ping"}))
        while json.loads(ws.recv(timeout=10))["type"] != "pong":
            pass
    with connect(url, additional_headers=alice.bearer()) as ws:
        seen = []
        while not any(m.get("type") == "log_entry" and m["message"] == "started" for m in seen):
            seen.append(json.loads(ws.recv(timeout=10)))
        ws.send(json.dumps({"type": "control", "action": "stop"}))
        try:
            while True:
                seen.append(json.loads(ws.recv(timeout=20)))
        except ConnectionClosed:
            pass
        assert ws.close_code == 1000
    result = next(m for m in seen if m["type"] == "control_result")
    assert result["success"] is True
    assert seen[-1]["type"] == "execution_update" and seen[-1]["status"] == "cancelled"
    assert alice.wait_final(execution["id"])["status"] == "cancelled"


def test_events_of_a_run_in_another_process_reach_the_socket(live_server, redis_url):
    """One process runs the execution, another serves the socket: events cross
    through Redis pub/sub."""
    runner = live_server(redis__url=redis_url)
    watcher = live_server(redis__url=redis_url, ansflow__dispatch="none")
    alice = Client(runner, "alice")
    pipeline = alice.pipeline(["sleep 2; for i in $(seq 1 50); do echo x-$i; done"])
    execution = alice.run(pipeline["id"])
    messages, code = socket_messages(
        f"{watcher.ws_base}/ws/execution/{execution['id']}", alice.bearer()
    )
    assert code == 1000
    stdout = [
        m["message"] for m in messages if m["type"] == "log_entry" and m["stream"] == "stdout"
    ]
    assert stdout == [f"x-{i}" for i in range(1, 51)]
    assert messages[-1]["type"] == "execution_update" and messages[-1]["status"] == "success"
    # The watcher process saw the run live (not only from the store at the end), unless
    # a loaded machine let the run finish before the socket opened.
    if messages[1]["status"] not in ("success", "failed"):
        assert any(m["type"] == "step_progress" for m in messages)


def test_an_sse_stream_ends_when_its_client_leaves(live_server):
    """Through the ASGI server too, a closed EventSource frees its stream slot."""
    live = live_server(ansflow__sse_heartbeat=0.2)
    alice = Client(live, "alice")
    execution = alice.run(alice.pipeline(["echo started; sleep 30"])["id"])
    streams = live.app.registry["ansflow.execution"].streams
    url = f"{live.base}/api/v1/cicd/executions/{execution['id']}/events/"
    client = SSEClient(url, headers=alice.bearer())
    events = iter(client)
    assert next(events).event == "snapshot"
    assert streams.active == 1
    client.close()
    deadline = time.monotonic() + 5
    while streams.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert streams.active == 0
    alice.call("POST", f"/api/v1/cicd/executions/{execution['id']}/cancel/")
