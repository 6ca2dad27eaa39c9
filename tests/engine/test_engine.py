"""The engine with the local shell runner over an in-memory store."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ansflow_pyramid.execution import StepSpec
from ansflow_pyramid.execution.events import CONTROL, ExecutionEvent
from ansflow_pyramid.execution.runners import RunnerRegistry
from tests.engine.conftest import processes_in_group, wait_for
from tests.engine.memory_store import MemoryStore

THOUSAND_LINES = 'for i in $(seq 1 1000); do echo "line-$i"; done'


def stdout_lines(record, step_id):
    return [line for line in record.lines if line.step_id == step_id and line.stream == "stdout"]


def test_three_steps_run_to_failed_with_states_exit_codes_and_every_line_in_order(harness):
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(1, "print", command=THOUSAND_LINES, order=1),
            StepSpec(2, "sleep", command="sleep 0.3; echo slept", order=2),
            StepSpec(3, "fail", command="echo failing >&2; exit 3", order=3),
            StepSpec(4, "after", command="echo must-not-run", order=4),
        ]
    )
    assert harness.run(execution_id) == "failed"

    record = store.record(execution_id)
    assert record.status == "failed"
    assert "fail" in record.reason and "exited with code 3" in record.reason
    states = {s.spec.name: (s.status, s.exit_code) for s in record.steps.values()}
    assert states == {
        "print": ("success", 0),
        "sleep": ("success", 0),
        "fail": ("failed", 3),
        "after": ("skipped", None),
    }
    assert store.step("fail").error == "exited with code 3"
    # Every line, in order, numbered 1..n without gaps across the whole execution.
    assert [line.text for line in stdout_lines(record, 1)] == [f"line-{i}" for i in range(1, 1001)]
    assert [line.text for line in stdout_lines(record, 2)] == ["slept"]
    assert [line.text for line in stdout_lines(record, 3)] == ["failing"]  # stderr merged
    assert not stdout_lines(record, 4)
    numbers = [line.number for line in record.lines]
    assert numbers == list(range(1, len(numbers) + 1))
    # Batched: far fewer store calls than lines.
    assert record.batches < 100
    # The steps ran one after another.
    assert store.step("sleep").started >= store.step("print").finished
    assert store.step("fail").started >= store.step("sleep").finished


def test_a_successful_pipeline_succeeds_and_events_follow_the_store(harness):
    store = harness.store
    execution_id = store.add(
        [StepSpec(1, "a", command="echo a", order=1), StepSpec(2, "b", command="true", order=2)]
    )
    events = []
    subscription = harness.bus.subscribe(execution_id)
    assert harness.run(execution_id) == "success"
    while (event := subscription.get_nowait()) is not None:
        events.append(event)
    kinds = [(e.kind, e.data.get("status")) for e in events if e.kind != "log"]
    assert kinds == [
        ("status", "running"),
        ("step", "running"),
        ("step", "success"),
        ("step", "running"),
        ("step", "success"),
        ("status", "success"),
    ]
    logs = [line for e in events if e.kind == "log" for line in e.data["lines"]]
    assert [(line["line"], line["message"], line["step_name"]) for line in logs] == [(1, "a", "a")]
    assert store.record(execution_id).status == "success"


def test_a_parallel_group_runs_concurrently_and_the_next_step_waits_for_all(harness):
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(1, "p1", command="sleep 1", parallel_group="g", order=1),
            StepSpec(2, "p2", command="sleep 1", parallel_group="g", order=2),
            StepSpec(3, "p3", command="sleep 1", parallel_group="g", order=3),
            StepSpec(4, "after", command="echo done", order=4),
        ]
    )
    started = time.monotonic()
    assert harness.run(execution_id) == "success"
    wall = time.monotonic() - started
    # Sequentially this takes three seconds; concurrently a little over one.
    assert 1.0 <= wall < 2.0, wall
    group = [store.step(name) for name in ("p1", "p2", "p3")]
    assert max(s.started for s in group) < min(s.finished for s in group)
    assert store.step("after").started >= max(s.finished for s in group)


def test_a_failing_member_lets_its_group_finish_then_skips_the_rest(harness):
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(1, "fast-fail", command="exit 2", parallel_group="g", order=1),
            StepSpec(2, "slow-ok", command="sleep 0.5; echo ok", parallel_group="g", order=2),
            StepSpec(3, "after", command="echo no", order=3),
        ]
    )
    assert harness.run(execution_id) == "failed"
    assert store.step("fast-fail").status == "failed"
    assert store.step("slow-ok").status == "success"
    assert store.step("after").status == "skipped"


def test_cancel_during_a_sleeping_step_ends_cancelled_within_seconds_leaving_no_process(harness):
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(1, "sleepy", command='echo "pgid=$$"; sleep 30; echo never', order=1),
            StepSpec(2, "after", command="echo no", order=2),
        ]
    )
    thread = harness.run_in_thread(execution_id)
    assert wait_for(
        lambda: any("pgid=" in line.text for line in store.record(execution_id).lines), 10
    )
    pgid = int(
        next(line.text for line in store.record(execution_id).lines if "pgid=" in line.text)[5:]
    )
    assert processes_in_group(pgid), "the step's processes should be running"

    requested = time.monotonic()
    # What the API does: store the request, then tell the engine through the bus.
    store.request_cancel(execution_id)
    harness.bus.publish(ExecutionEvent(CONTROL, execution_id, {"action": "cancel"}))
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - requested < 5
    record = store.record(execution_id)
    assert record.status == "cancelled"
    assert store.step("sleepy").status == "cancelled"
    assert store.step("sleepy").exit_code == -15
    assert store.step("after").status == "skipped"
    assert "never" not in [line.text for line in record.lines]
    assert processes_in_group(pgid) == []


def test_the_stored_cancel_flag_alone_cancels_and_sigkill_follows_an_ignored_sigterm(
    make_harness,
):
    harness = make_harness(cancel_grace=0.5, cancel_poll_interval=0.1)
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(
                1, "stubborn", command="trap '' TERM; echo \"pgid=$$\"; sleep 30 & wait", order=1
            )
        ]
    )
    thread = harness.run_in_thread(execution_id)
    assert wait_for(
        lambda: any("pgid=" in line.text for line in store.record(execution_id).lines), 10
    )
    pgid = int(
        next(line.text for line in store.record(execution_id).lines if "pgid=" in line.text)[5:]
    )
    requested = time.monotonic()
    store.request_cancel(execution_id)  # no control message: the heartbeat poll sees it
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - requested < 3
    assert store.record(execution_id).status == "cancelled"
    assert store.step("stubborn").exit_code == -9  # SIGTERM was ignored
    assert processes_in_group(pgid) == []


def test_a_pending_execution_whose_cancel_was_requested_is_not_started(harness):
    store = harness.store
    execution_id = store.add([StepSpec(1, "x", command="echo hi")])
    store.request_cancel(execution_id)
    assert harness.run(execution_id) is None
    assert store.record(execution_id).status == "pending"  # the API finalises it, not the engine
    assert store.record(execution_id).lines == []


def test_a_step_over_its_timeout_ends_as_timeout_and_stops_the_run(harness):
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(1, "slow", command='echo "pgid=$$"; sleep 30', timeout_seconds=1, order=1),
            StepSpec(2, "after", command="echo no", order=2),
        ]
    )
    started = time.monotonic()
    assert harness.run(execution_id) == "timeout"
    assert time.monotonic() - started < 4
    record = store.record(execution_id)
    assert store.step("slow").status == "timeout"
    assert store.step("slow").error == "timed out after 1 s"
    assert store.step("after").status == "skipped"
    assert "timed out" in record.reason
    assert any(line.stream == "system" and "timed out" in line.text for line in record.lines)
    pgid = int(next(line.text for line in record.lines if "pgid=" in line.text)[5:])
    assert processes_in_group(pgid) == []


def test_parameters_and_variables_reach_the_step_but_server_secrets_do_not(harness, monkeypatch):
    monkeypatch.setenv("ANSFLOW_TEST_SERVER_SECRET", "s3cret")
    store = harness.store
    script = (
        'echo "branch=$branch"; echo "param=$ANSFLOW_PARAM_BRANCH"; echo "flag=$DEPLOY"; '
        'echo "var=$MY_VAR"; echo "exec=$ANSFLOW_EXECUTION_ID"; echo "json=$OPTS"; '
        'echo "secret=${ANSFLOW_TEST_SERVER_SECRET:-unset}"; echo "path-ok=$(command -v ls >/dev/null && echo yes)"; '
        'echo "ws=$ANSFLOW_WORKSPACE"; pwd'
    )
    execution_id = store.add(
        [
            StepSpec(
                1,
                "env",
                command=script,
                environment_vars={"MY_VAR": "from-step", "branch": "step-wins"},
            )
        ],
        parameters={"branch": "main", "DEPLOY": True, "OPTS": {"a": 1}, "PATH": "/nowhere"},
    )
    assert harness.run(execution_id) == "success"
    lines = [line.text for line in store.record(execution_id).lines if line.stream == "stdout"]
    assert "branch=step-wins" in lines  # the step's own variables win over parameters
    assert "param=main" in lines
    assert "flag=true" in lines
    assert "var=from-step" in lines
    assert f"exec={execution_id}" in lines
    assert 'json={"a":1}' in lines
    assert "secret=unset" in lines
    assert "path-ok=yes" in lines  # a PATH parameter cannot replace PATH
    workspace = next(line[3:] for line in lines if line.startswith("ws="))
    assert lines[-1] == workspace  # the step runs in its workspace


def test_steps_share_the_workspace_and_it_is_removed_afterwards(harness):
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(1, "write", command="echo artefact > built.txt; pwd", order=1),
            StepSpec(2, "read", command="cat built.txt", order=2),
        ]
    )
    assert harness.run(execution_id) == "success"
    lines = [line.text for line in store.record(execution_id).lines]
    assert lines[1] == "artefact"
    assert Path(lines[0]).parent == Path(harness.settings.workspace_root)
    assert not Path(lines[0]).exists()


def test_a_background_child_holding_the_pipe_does_not_hang_the_step_and_is_stopped(harness):
    store = harness.store
    execution_id = store.add(
        [StepSpec(1, "daemonish", command='echo "pgid=$$"; sleep 30 & echo started')]
    )
    started = time.monotonic()
    assert harness.run(execution_id) == "success"
    assert time.monotonic() - started < 5
    record = store.record(execution_id)
    pgid = int(next(line.text for line in record.lines if "pgid=" in line.text)[5:])
    assert "started" in [line.text for line in record.lines]
    assert processes_in_group(pgid) == []


def test_a_step_type_nothing_can_run_fails_with_a_reason(harness):
    harness.engine.runners = RunnerRegistry()  # no fallback runner
    store = harness.store
    execution_id = store.add(
        [StepSpec(1, "exotic", step_type="quantum", command="x"), StepSpec(2, "after", order=2)]
    )
    assert harness.run(execution_id) == "failed"
    assert store.step("exotic").status == "failed"
    assert "no runner is installed for step type 'quantum'" in store.step("exotic").error
    assert store.step("after").status == "skipped"


def test_an_execution_that_is_not_pending_is_left_alone(harness):
    store = harness.store
    execution_id = store.add([StepSpec(1, "x", command="echo hi")])
    store.record(execution_id).status = "running"  # claimed by another worker
    assert harness.run(execution_id) is None
    assert store.record(execution_id).lines == []
    assert store.step("x").status == "pending"


def test_a_running_execution_heartbeats(make_harness):
    harness = make_harness(heartbeat_interval=0.1, cancel_poll_interval=0.05)
    store = harness.store
    execution_id = store.add([StepSpec(1, "sleep", command="sleep 1")])
    assert harness.run(execution_id) == "success"
    # About ten beats in a second; a heartbeat that stopped after the first would fail.
    assert store.record(execution_id).heartbeats >= 5


def test_an_empty_command_succeeds_without_a_process(harness):
    store = harness.store
    execution_id = store.add([StepSpec(1, "approval", step_type="approval", command="")])
    assert harness.run(execution_id) == "success"
    assert [line.text for line in store.record(execution_id).lines] == ["no command to run"]


def test_long_lines_and_invalid_utf8_are_kept_safely(harness):
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(
                1,
                "bytes",
                command="printf 'caf\\xc3\\xa9 \\xff\\n'; head -c 100000 /dev/zero | tr '\\0' x; echo",
            )
        ]
    )
    assert harness.run(execution_id) == "success"
    texts = [line.text for line in store.record(execution_id).lines]
    assert texts[0] == "café \ufffd"
    assert "".join(texts[1:]) == "x" * 100000
    assert all(len(text) <= 65536 for text in texts)


def test_no_stray_threads_or_processes_after_runs(harness):
    before = {t.name for t in threading.enumerate()}
    store = harness.store
    execution_id = store.add([StepSpec(1, "x", command="echo $$")])
    harness.run(execution_id)
    pgid = int(store.record(execution_id).lines[0].text)
    assert processes_in_group(pgid) == []
    # Only the engine's one monitor thread outlives a run.
    assert wait_for(
        lambda: not ({t.name for t in threading.enumerate()} - before - {"ansflow-monitor"}), 3
    )
    assert os.getpgrp() != pgid


class BrokenLogStore(MemoryStore):
    def last_line_number(self, execution_id):
        raise RuntimeError("database went away")


def test_an_engine_failure_still_ends_the_execution_and_every_step(make_harness):
    harness = make_harness()
    harness.store = harness.engine.store = harness.engine.monitor.store = BrokenLogStore()
    store = harness.store
    execution_id = store.add([StepSpec(1, "a", command="echo a"), StepSpec(2, "b", order=2)])
    before = {t.name for t in threading.enumerate()}
    assert harness.run(execution_id) == "failed"
    record = store.record(execution_id)
    assert record.status == "failed"
    assert record.reason == "engine error: RuntimeError: database went away"
    assert [s.status for s in record.steps.values()] == ["skipped", "skipped"]
    assert harness.engine.active.ids() == []
    assert wait_for(
        lambda: not ({t.name for t in threading.enumerate()} - before - {"ansflow-monitor"}), 3
    )


class FlakyStepStore(MemoryStore):
    def step_started(self, execution_id, step_id):
        if step_id == 2:
            raise RuntimeError("lost the connection")
        super().step_started(execution_id, step_id)


def test_a_store_failure_during_a_step_fails_that_step_and_stops_the_run(make_harness):
    harness = make_harness()
    harness.store = harness.engine.store = harness.engine.monitor.store = FlakyStepStore()
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(1, "a", command="echo a", order=1),
            StepSpec(2, "b", command="echo b", order=2),
            StepSpec(3, "c", command="echo c", order=3),
        ]
    )
    assert harness.run(execution_id) == "failed"
    assert [store.step(n).status for n in ("a", "b", "c")] == ["success", "failed", "skipped"]
    assert "lost the connection" in store.step("b").error
