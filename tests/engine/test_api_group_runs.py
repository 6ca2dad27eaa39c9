"""Parallel groups made through the API and honoured by the engine (real runs on a
real server, dispatch: worker threads)."""

from __future__ import annotations

import time

import pytest

from ansflow_pyramid.testing import empty_all_tables
from tests.engine.live import Api, serve, step


@pytest.fixture
def alice(make_app, tmp_path):
    app = make_app(
        ansflow__dispatch="threads",
        ansflow__dispatch_threads="2",
        ansflow__workspace_root=str(tmp_path / "ws"),
        ansflow__cancel_poll_interval="0.5",
    )
    with serve(app) as base:
        yield Api(base, app, "alice")
    app.registry["ansflow.execution"].close()
    empty_all_tables(app)


def test_groups_from_the_api_drive_the_run(alice):
    pipeline = alice.pipeline(
        [
            step("any-fast", "sleep 0.2", parallel_group="g-any"),
            step("any-slow", "sleep 30", parallel_group="g-any"),
            step("ff-fail", "sleep 0.3; exit 5", parallel_group="g-ff"),
            step("ff-slow", "sleep 30", parallel_group="g-ff"),
            step("after", "echo no"),
        ]
    )
    alice.post(
        "/api/v1/pipelines/parallel-groups/",
        {"id": "g-any", "name": "mirrors", "pipeline": pipeline["id"], "sync_policy": "wait_any"},
    )
    alice.post(
        "/api/v1/pipelines/parallel-groups/",
        {"id": "g-ff", "name": "checks", "pipeline": pipeline["id"], "sync_policy": "fail_fast",
         "timeout_seconds": 20},
    )  # fmt: skip
    started = time.monotonic()
    created = alice.run(pipeline["id"])
    assert created["definition"]["parallel_groups"]["g-ff"] == {
        "name": "checks",
        "sync_policy": "fail_fast",
        "timeout_seconds": 20,
    }
    execution = alice.wait_final(created["id"])
    wall = time.monotonic() - started
    assert execution["status"] == "failed"
    assert wall < 15, wall
    steps = {s["step_name"]: s for s in execution["step_executions"]}
    assert {name: s["status"] for name, s in steps.items()} == {
        "any-fast": "success",
        "any-slow": "cancelled",
        "ff-fail": "failed",
        "ff-slow": "cancelled",
        "after": "skipped",
    }
    assert "'checks'" in steps["ff-slow"]["error_message"]


def test_a_group_timeout_from_the_api_ends_the_execution_as_timeout(alice):
    pipeline = alice.pipeline(
        [step("a", "sleep 30", parallel_group="capped"), step("b", "true", parallel_group="capped")]
    )
    alice.post(
        "/api/v1/pipelines/parallel-groups/",
        {"id": "capped", "name": "capped", "pipeline": pipeline["id"], "timeout_seconds": 1},
    )
    started = time.monotonic()
    execution = alice.wait_final(alice.run(pipeline["id"])["id"])
    assert execution["status"] == "timeout"
    assert 1.0 <= time.monotonic() - started < 10
    steps = {s["step_name"]: s["status"] for s in execution["step_executions"]}
    assert steps == {"a": "timeout", "b": "success"}
