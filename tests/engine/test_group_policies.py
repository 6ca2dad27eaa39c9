"""Parallel groups' sync policies and timeouts in the engine: wait_any, fail_fast,
a group timeout - step states and wall time."""

from __future__ import annotations

import time

from ansflow_pyramid.execution import GroupSpec, StepSpec


def test_wait_any_continues_when_the_first_step_succeeds(harness):
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(1, "mirror-a", command="sleep 0.3; echo a", parallel_group="g", order=1),
            StepSpec(2, "mirror-b", command="sleep 30", parallel_group="g", order=2),
            StepSpec(3, "broken", command="exit 3", parallel_group="g", order=3),
            StepSpec(4, "after", command="echo after", order=4),
        ],
        groups={"g": GroupSpec("g", "wait_any")},
    )
    started = time.monotonic()
    assert harness.run(execution_id) == "success"
    wall = time.monotonic() - started
    assert wall < 5, wall  # not the 30 s of mirror-b
    assert store.step("mirror-a").status == "success"
    assert store.step("mirror-b").status == "cancelled"
    assert "succeeded first" in store.step("mirror-b").error
    # A member that failed before the winner does not fail the group either.
    assert store.step("broken").status == "failed"
    assert store.step("after").status == "success"
    assert store.step("after").started >= store.step("mirror-b").finished


def test_wait_any_fails_when_no_step_succeeds(harness):
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(1, "a", command="exit 1", parallel_group="g", order=1),
            StepSpec(2, "b", command="sleep 0.2; exit 2", parallel_group="g", order=2),
            StepSpec(3, "after", command="echo no", order=3),
        ],
        groups={"g": GroupSpec("g", "wait_any")},
    )
    assert harness.run(execution_id) == "failed"
    assert [store.step(n).status for n in ("a", "b", "after")] == ["failed", "failed", "skipped"]


def test_fail_fast_cancels_the_others_at_the_first_failure(harness):
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(1, "slow", command="sleep 30", parallel_group="g", order=1),
            StepSpec(2, "lint", command="sleep 0.3; exit 4", parallel_group="g", order=2),
            StepSpec(3, "after", command="echo no", order=3),
        ],
        groups={"g": GroupSpec("g", "fail_fast")},
    )
    started = time.monotonic()
    assert harness.run(execution_id) == "failed"
    assert time.monotonic() - started < 5
    assert store.step("lint").status == "failed"
    assert store.step("slow").status == "cancelled"
    assert "'lint' of parallel group 'g' failed" in store.step("slow").error
    assert store.step("after").status == "skipped"
    # The execution's reason names the failure, not the step cancelled because of it.
    assert "lint" in store.record(execution_id).reason


def test_wait_all_lets_the_group_finish(harness):
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(1, "fast-fail", command="exit 2", parallel_group="g", order=1),
            StepSpec(2, "slow-ok", command="sleep 0.5; echo ok", parallel_group="g", order=2),
        ],
        groups={"g": GroupSpec("g", "wait_all")},
    )
    assert harness.run(execution_id) == "failed"
    assert store.step("slow-ok").status == "success"


def test_a_group_timeout_ends_its_running_steps_as_timeout(harness):
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(1, "quick", command="echo quick", parallel_group="g", order=1),
            StepSpec(2, "slow-1", command="sleep 30", parallel_group="g", order=2),
            StepSpec(3, "slow-2", command="sleep 30", parallel_group="g", order=3),
            StepSpec(4, "after", command="echo no", order=4),
        ],
        groups={"g": GroupSpec("g", "wait_all", timeout_seconds=1)},
    )
    started = time.monotonic()
    assert harness.run(execution_id) == "timeout"
    wall = time.monotonic() - started
    assert 1.0 <= wall < 5, wall
    assert store.step("quick").status == "success"
    assert [store.step(n).status for n in ("slow-1", "slow-2")] == ["timeout", "timeout"]
    assert "parallel group 'g'" in store.step("slow-1").error
    assert store.step("after").status == "skipped"
    assert "timed out" in store.record(execution_id).reason
    assert any(
        "parallel group 'g' timed out" in line.text for line in store.record(execution_id).lines
    )


def test_a_pipeline_with_wait_any_fail_fast_and_a_group_timeout(harness):
    """One run through three groups: a wait_any group that succeeds, a wait_all group
    cut by its 1 s timeout (the execution ends ``timeout``), a fail_fast group after
    it that never starts."""
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(1, "any-fast", command="sleep 0.2", parallel_group="any", order=1),
            StepSpec(2, "any-slow", command="sleep 30", parallel_group="any", order=2),
            StepSpec(3, "capped-1", command="sleep 30", parallel_group="capped", order=3),
            StepSpec(4, "capped-2", command="sleep 0.1", parallel_group="capped", order=4),
            StepSpec(5, "ff-1", command="exit 1", parallel_group="ff", order=5),
            StepSpec(6, "ff-2", command="sleep 30", parallel_group="ff", order=6),
        ],
        groups={
            "any": GroupSpec("any", "wait_any"),
            "capped": GroupSpec("capped", "wait_all", timeout_seconds=1),
            "ff": GroupSpec("ff", "fail_fast"),
        },
    )
    started = time.monotonic()
    assert harness.run(execution_id) == "timeout"
    wall = time.monotonic() - started
    assert 1.2 <= wall < 6, wall
    states = {
        n: store.step(n).status
        for n in ("any-fast", "any-slow", "capped-1", "capped-2", "ff-1", "ff-2")
    }
    assert states == {
        "any-fast": "success",
        "any-slow": "cancelled",
        "capped-1": "timeout",
        "capped-2": "success",
        "ff-1": "skipped",
        "ff-2": "skipped",
    }
