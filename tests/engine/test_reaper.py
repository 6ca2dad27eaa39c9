"""The heartbeat reaper fails executions whose worker stopped heartbeating."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from types import SimpleNamespace

from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution import StepSpec
from ansflow_pyramid.execution.config import EngineSettings
from ansflow_pyramid.execution.events import InProcessEventBus
from ansflow_pyramid.execution.reaper import Reaper
from tests.engine.memory_store import MemoryStore


def make_runtime(active=()):
    bus = InProcessEventBus()
    return SimpleNamespace(
        store=MemoryStore(),
        bus=bus,
        settings=replace(EngineSettings(), heartbeat_timeout=2.0, reaper_interval=0.1),
        active_ids=lambda: list(active),
        publish=bus.publish,
    )


def running(store, age_seconds):
    execution_id = store.add([StepSpec(1, "a"), StepSpec(2, "b", order=2)])
    record = store.record(execution_id)
    record.status = "running"
    record.heartbeat = utcnow() - dt.timedelta(seconds=age_seconds)
    record.steps[1].status = "running"
    return execution_id


def test_an_execution_without_a_recent_heartbeat_is_failed_with_a_reason():
    runtime = make_runtime()
    stale = running(runtime.store, 10)
    fresh = running(runtime.store, 0.5)
    events = runtime.bus.subscribe(None)
    assert Reaper(runtime).run_once() == [stale]
    record = runtime.store.record(stale)
    assert record.status == "failed"
    assert record.reason == "worker lost: no heartbeat for more than 2 s"
    assert [s.status for s in record.steps.values()] == ["failed", "skipped"]
    assert runtime.store.record(fresh).status == "running"
    event = events.get(timeout=1)
    assert (event.kind, event.execution_id, event.data["status"]) == ("status", stale, "failed")
    # A second pass (another reaper) finds nothing more to do.
    assert Reaper(runtime).run_once() == []


def test_executions_running_in_this_process_are_not_reaped():
    store_runtime = make_runtime()
    stale = running(store_runtime.store, 10)
    store_runtime.active_ids = lambda: [stale]
    assert Reaper(store_runtime).run_once() == []
    assert store_runtime.store.record(stale).status == "running"


def test_the_reaper_thread_runs_periodically():
    runtime = make_runtime()
    stale = running(runtime.store, 10)
    reaper = Reaper(runtime)
    reaper.start()
    try:
        from tests.engine.conftest import wait_for

        assert wait_for(lambda: runtime.store.record(stale).status == "failed", 3)
    finally:
        reaper.stop()
