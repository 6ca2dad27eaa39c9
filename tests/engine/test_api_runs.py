"""Real runs through the API on a real waitress server (dispatch: worker threads).

Runs on whichever database the suite uses (SQLite, or PostgreSQL with REDIS_URL set,
in which case events also travel through Redis pub/sub).
"""

from __future__ import annotations

import time

import pytest
import requests

from ansflow_pyramid.testing import empty_all_tables
from tests.engine.conftest import processes_in_group
from tests.engine.live import Api, serve, step
from tests.sse_client import SSEClient

THOUSAND = 'for i in $(seq 1 1000); do echo "line-$i"; done'


@pytest.fixture
def engine_app(make_app, tmp_path):
    app = make_app(
        ansflow__dispatch="threads",
        ansflow__dispatch_threads="4",
        ansflow__sse_heartbeat="0.5",
        ansflow__max_streams="3",
        ansflow__workspace_root=str(tmp_path / "ws"),
        ansflow__cancel_poll_interval="0.5",
    )
    yield app
    app.registry["ansflow.execution"].close()
    empty_all_tables(app)


@pytest.fixture
def server(engine_app):
    with serve(engine_app) as base:
        yield base


@pytest.fixture
def alice(server, engine_app):
    return Api(server, engine_app, "alice")


def test_a_run_through_the_api_stores_states_exit_codes_and_every_line(alice):
    pipeline = alice.pipeline(
        [
            step("print", THOUSAND),
            step("sleep", 'sleep 0.5; echo "branch=$branch"', environment_vars={"X": "1"}),
            step("fail", "exit 3"),
            step("after", "echo no"),
        ]
    )
    created = alice.run(pipeline["id"], {"branch": "main"})
    assert created["status"] == "pending"
    execution = alice.wait_final(created["id"])
    assert execution["status"] == "failed"
    steps = {s["step_name"]: s for s in execution["step_executions"]}
    assert [(steps[n]["status"]) for n in ("print", "sleep", "fail", "after")] == [
        "success",
        "success",
        "failed",
        "skipped",
    ]
    assert steps["fail"]["error_message"] == "exited with code 3"
    assert execution["started_at"] and execution["completed_at"]
    # Every line in order through logs/ by offset, and the merged text for the client.
    page = alice.get(f"/api/v1/cicd/executions/{created['id']}/logs/", offset=0, limit=5000)
    stdout = [line["text"] for line in page["lines"] if line["stream"] == "stdout"]
    assert stdout == [f"line-{i}" for i in range(1, 1001)] + ["branch=main"]
    assert [line["number"] for line in page["lines"]] == list(range(1, len(page["lines"]) + 1))
    merged = alice.get(f"/api/v1/cicd/executions/{created['id']}/logs/")
    assert merged["logs"].startswith("line-1\nline-2\n")
    assert merged["complete"] is True
    pipeline_now = alice.get(f"/api/v1/pipelines/pipelines/{pipeline['id']}/")
    assert pipeline_now["status"] == "failed"


def test_create_through_cicd_executions_and_retry_run_from_the_stored_definition(alice):
    pipeline = alice.pipeline([step("hello", 'echo "hello $who"')])
    first = alice.post(
        "/api/v1/cicd/executions/", {"pipeline_id": pipeline["id"], "parameters": {"who": "world"}}
    )
    assert alice.wait_final(first["id"])["status"] == "success"
    # Changing the pipeline afterwards does not change what a retry runs.
    alice.session.patch(
        alice.url(f"/api/v1/pipelines/pipelines/{pipeline['id']}/"),
        json={"steps": [step("hello", "exit 9")]},
        timeout=10,
    ).raise_for_status()
    retried = alice.post(f"/api/v1/cicd/executions/{first['id']}/retry/")
    assert retried["id"] != first["id"]
    assert alice.wait_final(retried["id"])["status"] == "success"
    page = alice.get(f"/api/v1/cicd/executions/{retried['id']}/logs/", offset=0)
    assert [line["text"] for line in page["lines"]] == ["hello world"]


def test_cancel_through_the_api_ends_cancelled_within_seconds_without_leftovers(alice):
    pipeline = alice.pipeline([step("sleepy", 'echo "pgid=$$"; sleep 30'), step("after", "true")])
    execution = alice.run(pipeline["id"])
    line = alice.wait_for_line(execution["id"], "pgid=")
    assert line is not None
    pgid = int(line[5:])
    assert processes_in_group(pgid)
    requested = time.monotonic()
    answer = alice.post(f"/api/v1/cicd/executions/{execution['id']}/cancel/", status=200)
    assert answer["status"] in ("running", "cancelled")
    final = alice.wait_final(execution["id"], timeout=10)
    assert time.monotonic() - requested < 5
    assert final["status"] == "cancelled"
    assert [s["status"] for s in final["step_executions"]] == ["cancelled", "skipped"]
    assert processes_in_group(pgid) == []
    logs = alice.get(f"/api/v1/cicd/executions/{execution['id']}/logs/")["logs"]
    assert "Execution cancelled by alice." in logs
    # Cancelling again is refused: it has finished.
    alice.post(f"/api/v1/cicd/executions/{execution['id']}/cancel/", status=409)


def events_until_end(client, limit=100_000):
    events = []
    for event in client:
        events.append(event)
        if event.event == "end" or len(events) >= limit:
            break
    return events


def test_sse_client_gets_snapshot_lines_and_end_and_resumes_exactly_once(alice):
    pipeline = alice.pipeline(
        [
            step("trickle", 'for i in $(seq 1 300); do echo "t$i"; sleep 0.003; done'),
            step("fail", "exit 1"),
        ]
    )
    execution = alice.run(pipeline["id"])
    first = alice.stream(execution["id"])
    assert first.status == 200
    assert first.headers["content-type"].startswith("text/event-stream")
    assert first.headers["cache-control"] == "no-cache"
    assert first.headers["x-accel-buffering"] == "no"
    received = []
    for event in first:
        received.append(event)
        if sum(1 for e in received if e.event == "log") >= 100:
            break
    first.close()  # disconnect mid-run
    assert received[0].event == "snapshot"
    snapshot = received[0].json()
    assert snapshot["execution_id"] == execution["id"]
    assert [s["step_name"] for s in snapshot["steps"]] == ["trickle", "fail"]
    last_id = [e for e in received if e.event == "log"][-1].id
    time.sleep(0.3)

    second = alice.stream(execution["id"], last_event_id=last_id)
    rest = events_until_end(second)
    second.close()
    texts = [
        e.json()["message"]
        for e in received + rest
        if e.event == "log" and e.json()["stream"] == "stdout"
    ]
    assert texts == [f"t{i}" for i in range(1, 301)]
    numbers = [int(e.id) for e in received + rest if e.event == "log"]
    assert numbers == sorted(set(numbers))  # exactly once, in order
    assert rest[0].event == "snapshot" and rest[0].id == last_id
    assert rest[-1].event == "end" and rest[-1].json()["status"] == "failed"
    steps = [(e.json()["step_name"], e.json()["status"]) for e in rest if e.event == "step"]
    assert ("fail", "failed") in steps


def test_a_stream_of_a_finished_execution_replays_and_ends(alice):
    pipeline = alice.pipeline([step("s", "echo a; echo b")])
    execution = alice.run(pipeline["id"])
    alice.wait_final(execution["id"])
    with alice.stream(execution["id"]) as client:
        events = events_until_end(client)
    assert [e.event for e in events] == ["snapshot", "log", "log", "end"]


def test_streams_accept_a_stream_token_instead_of_a_header_and_nothing_else(alice, server):
    pipeline = alice.pipeline([step("s", "echo hi")])
    execution = alice.run(pipeline["id"])
    other = alice.run(pipeline["id"])
    alice.wait_final(execution["id"])
    issued = alice.post(f"/api/v1/cicd/executions/{execution['id']}/stream_token/", status=200)
    assert issued["expires_in"] > 0
    assert issued["url"].endswith(
        f"/api/v1/cicd/executions/{execution['id']}/events/?token={issued['token']}"
    )
    with SSEClient(issued["url"]) as client:  # no Authorization header, no cookie
        assert client.status == 200
        assert [e.event for e in events_until_end(client)][-1] == "end"
    # The token is for that stream only: not another execution's, not other views.
    with SSEClient(
        f"{server}/api/v1/cicd/executions/{other['id']}/events/?token={issued['token']}"
    ) as client:
        assert client.status == 401
        assert b"for another stream" in client.body()
    plain = requests.get(
        f"{server}/api/v1/cicd/executions/{execution['id']}/?token={issued['token']}", timeout=10
    )
    assert plain.status_code == 401
    with SSEClient(
        f"{server}/api/v1/cicd/executions/{execution['id']}/events/?token=forged.x"
    ) as client:
        assert client.status == 401
        body = client.body()
        assert b"stream_token_not_valid" in body and b"signature is not valid" in body
    anonymous = requests.post(
        f"{server}/api/v1/cicd/executions/{execution['id']}/stream_token/", timeout=10
    )
    assert anonymous.status_code == 401


def test_another_users_execution_stream_is_hidden(alice, server, engine_app):
    pipeline = alice.pipeline([step("s", "echo secret")])
    execution = alice.run(pipeline["id"])
    mallory = Api(server, engine_app, "mallory")
    with mallory.stream(execution["id"]) as client:
        assert client.status == 404
    mallory.post(f"/api/v1/cicd/executions/{execution['id']}/stream_token/", status=404)


def test_streams_are_bounded_per_process(alice):
    pipeline = alice.pipeline([step("long", "sleep 30")])
    execution = alice.run(pipeline["id"])
    clients = [alice.stream(execution["id"]) for _ in range(3)]  # ansflow.max_streams = 3
    try:
        assert [c.status for c in clients] == [200, 200, 200]
        for c in clients:
            assert next(iter(c)).event == "snapshot"
        with alice.stream(execution["id"]) as refused:
            assert refused.status == 503
            assert refused.headers["retry-after"] == "5"
            assert b"too_many_streams" in refused.body()
        clients.pop().close()
        deadline = time.monotonic() + 5  # the server notices at the next heartbeat
        while True:
            with alice.stream(execution["id"]) as again:
                if again.status == 200 or time.monotonic() > deadline:
                    break
            time.sleep(0.2)
        assert again.status == 200
    finally:
        for c in clients:
            c.close()
        alice.post(f"/api/v1/cicd/executions/{execution['id']}/cancel/", status=200)
        alice.wait_final(execution["id"])


def test_the_global_stream_feeds_dashboards_with_visible_executions_only(alice, server, engine_app):
    mallory = Api(server, engine_app, "mallory")
    mine = alice.pipeline([step("s", "sleep 0.3")], name="mine")
    theirs = mallory.pipeline([step("s", "true")], name="theirs")
    client = SSEClient(
        f"{server}/api/v1/cicd/events/",
        headers={"Authorization": f"Bearer {alice.token}"},
        timeout=15,
    )
    events = []
    try:
        first = next(iter(client))
        assert first.event == "snapshot" and first.json()["type"] == "executions"
        hidden = mallory.run(theirs["id"])
        mallory.wait_final(hidden["id"])
        execution = alice.run(mine["id"])
        for event in client:
            events.append(event)
            data = event.json()
            if (event.event, data["execution_id"], data["status"]) == (
                "status",
                execution["id"],
                "success",
            ):
                break
    finally:
        client.close()
    seen = {e.json()["execution_id"] for e in events}
    assert seen == {execution["id"]}
    kinds = [(e.event, e.json()["status"]) for e in events]
    assert ("status", "running") in kinds and ("step", "success") in kinds
    assert all(e.json()["project_id"] == mine["project"] for e in events)


def test_a_thread_dispatch_process_resumes_pending_executions_left_behind(make_app, tmp_path):
    from webtest import TestApp

    quiet = make_app(ansflow__dispatch="none")
    with serve(quiet) as base:
        bob = Api(base, quiet, "bob")
        pipeline = bob.pipeline([step("s", "echo resumed")])
        execution = bob.run(pipeline["id"])
    try:
        assert bob_status(quiet, execution["id"], bob.token) == "pending"
        # A new process with thread dispatch starts: the pending execution runs.
        app = make_app(ansflow__dispatch="threads", ansflow__workspace_root=str(tmp_path / "ws"))
        deadline = time.monotonic() + 15
        while bob_status(app, execution["id"], bob.token) not in ("success", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert bob_status(app, execution["id"], bob.token) == "success"
        logs = (
            TestApp(app)
            .get(
                f"/api/v1/cicd/executions/{execution['id']}/logs/",
                headers={"Authorization": f"Bearer {bob.token}"},
            )
            .json
        )
        assert logs["logs"] == "resumed"
    finally:
        empty_all_tables(quiet)


def bob_status(app, execution_id, token):
    from webtest import TestApp

    response = TestApp(app).get(
        f"/api/v1/cicd/executions/{execution_id}/", headers={"Authorization": f"Bearer {token}"}
    )
    return response.json["status"]


def test_head_on_a_stream_answers_headers_without_streaming(alice, server):
    pipeline = alice.pipeline([step("s", "sleep 30")])
    execution = alice.run(pipeline["id"])
    try:
        started = time.monotonic()
        response = alice.session.head(
            f"{server}/api/v1/cicd/executions/{execution['id']}/events/", timeout=10
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert time.monotonic() - started < 5
    finally:
        alice.post(f"/api/v1/cicd/executions/{execution['id']}/cancel/", status=200)
        alice.wait_final(execution["id"])


def test_the_global_stream_accepts_its_own_stream_token(alice, server):
    issued = alice.post("/api/v1/cicd/events/token/", status=200)
    assert issued["url"] == f"{server}/api/v1/cicd/events/?token={issued['token']}"
    with SSEClient(issued["url"]) as client:
        assert client.status == 200
        assert next(iter(client)).event == "snapshot"
    pipeline = alice.pipeline([step("s", "true")])
    execution = alice.run(pipeline["id"])
    alice.wait_final(execution["id"])
    # An execution's token does not open the global stream, nor the reverse.
    execution_token = alice.post(
        f"/api/v1/cicd/executions/{execution['id']}/stream_token/", status=200
    )["token"]
    with SSEClient(f"{server}/api/v1/cicd/events/?token={execution_token}") as client:
        assert client.status == 401
    with SSEClient(
        f"{server}/api/v1/cicd/executions/{execution['id']}/events/?token={issued['token']}"
    ) as client:
        assert client.status == 401
    with SSEClient(f"{server}/api/v1/cicd/events/") as client:
        assert client.status == 401
