"""Observation of remote runs across SSE reconnects and observer restarts."""

from __future__ import annotations

import copy
import time

from tests.engine.live import serve, step
from tests.integrations.conftest import FAST_REMOTE, remote_pipeline

LINES = 30
TRICKLE = "; ".join(f"echo line-{i}; sleep 0.05" for i in range(1, LINES + 1))


def crash_observer(app) -> None:
    """Stop an app's observation scheduler the way a killed process would: without
    giving its leases back."""
    scheduler = app.registry["ansflow.execution"]._remote
    scheduler._stop.set()
    scheduler._wake.set()
    scheduler._thread.join(5)
    scheduler._pool.shutdown(wait=True)
    scheduler._thread = scheduler._pool = None


def as_user_on(api, base):
    other = copy.copy(api)
    other.base = base
    return other


def test_live_lines_survive_an_sse_reconnect_and_an_observer_restart(
    alice, jenkins, make_app, remote_app, tmp_path
):
    pipeline, _tool = remote_pipeline(
        alice,
        "jenkins",
        jenkins.url,
        [step("trickle", TRICKLE), step("after", "echo done")],
        username="admin",
        token="api-token",
    )
    execution = alice.run(pipeline["id"])
    received = []
    first = alice.stream(execution["id"])
    for event in first:
        received.append(event)
        if sum(1 for e in received if e.event == "log" and "line-" in e.json()["message"]) >= 5:
            break
    first.close()
    # Lines arrived while the build was still running on Jenkins.
    job = jenkins.build(f"ansflow-pipeline-{pipeline['id']}", 1)
    assert job.building
    crash_observer(remote_app)
    last_id = next(e.id for e in reversed(received) if e.id is not None)

    # Another process takes over once the dead observer's lease expires.
    successor = make_app(ansflow__workspace_root=str(tmp_path / "ws2"), **FAST_REMOTE)
    with serve(successor) as base:
        again = as_user_on(alice, base)
        with again.stream(execution["id"], last_event_id=last_id) as second:
            rest = []
            for event in second:
                rest.append(event)
                if event.event == "end":
                    break
        final = again.wait_final(execution["id"])
    assert final["status"] == "success", final["error_message"]
    assert rest[-1].json()["status"] == "success"
    events = [e for e in received + rest if e.event == "log"]
    texts = [e.json()["message"] for e in events if e.json()["stream"] == "stdout"]
    expected = [f"line-{i}" for i in range(1, LINES + 1)] + ["done"]
    assert [t for t in texts if t in expected] == expected  # in order, exactly once
    numbers = [int(e.id) for e in events]
    assert numbers == sorted(set(numbers))
    stored = alice.get(f"/api/v1/cicd/executions/{execution['id']}/logs/", offset=0, limit=5000)
    stored_texts = [line["text"] for line in stored["lines"]]
    assert [t for t in stored_texts if t in expected] == expected


def test_one_observer_per_run_across_processes(alice, jenkins, make_app, tmp_path):
    # A second process observing the same database polls nothing twice: every
    # status poll of the build comes from one lease holder at a time.
    other = make_app(ansflow__workspace_root=str(tmp_path / "ws2"), **FAST_REMOTE)
    pipeline, _tool = remote_pipeline(
        alice,
        "jenkins",
        jenkins.url,
        [step("s", "; ".join(f"echo x{i}; sleep 0.05" for i in range(20)))],
        username="admin",
        token="api-token",
    )
    execution = alice.wait_final(alice.run(pipeline["id"])["id"])
    assert execution["status"] == "success"
    texts = [
        line["text"]
        for line in alice.get(
            f"/api/v1/cicd/executions/{execution['id']}/logs/", offset=0, limit=5000
        )["lines"]
    ]
    assert [t for t in texts if t.startswith("x")] == [f"x{i}" for i in range(20)], texts
    assert other.registry["ansflow.execution"].remote.is_running()
    # Roughly 1.5 s at a 0.1 s interval: far fewer polls than two observers would make.
    polls = jenkins.count("GET", "/1/api/json")
    assert 0 < polls < 40
    time.sleep(0)
