"""The engine's monitor thread: deadlines, heartbeats, stored cancel requests."""

from __future__ import annotations

import threading
import time

from ansflow_pyramid.execution import StepSpec
from ansflow_pyramid.execution.engine import RunState
from ansflow_pyramid.execution.monitor import Monitor
from tests.engine.conftest import wait_for
from tests.engine.memory_store import MemoryStore


def test_deadlines_fire_in_order_and_cancelled_ones_never():
    monitor = Monitor(MemoryStore(), heartbeat_interval=5, cancel_poll_interval=5)
    fired = []
    started = time.monotonic()
    monitor.call_later(0.2, lambda: fired.append(("b", time.monotonic() - started)))
    monitor.call_later(0.1, lambda: fired.append(("a", time.monotonic() - started)))
    monitor.call_later(0.15, lambda: fired.append(("never", 0))).cancel()
    try:
        assert wait_for(lambda: len(fired) == 2, 3)
        time.sleep(0.1)
        assert [name for name, _ in fired] == ["a", "b"]
        assert 0.09 <= fired[0][1] < 0.5 and 0.19 <= fired[1][1] < 0.6
    finally:
        monitor.stop()


def test_one_thread_heartbeats_every_watched_run_and_sees_stored_cancels():
    store = MemoryStore()
    ids = [store.add([StepSpec(1, "s")]) for _ in range(3)]
    for execution_id in ids:
        store.mark_running(execution_id, "w")
    states = [RunState(execution_id) for execution_id in ids]
    monitor = Monitor(store, heartbeat_interval=0.1, cancel_poll_interval=0.05)
    threads_before = set(threading.enumerate())
    try:
        for state in states:
            monitor.watch(state)
        # One thread for all three runs.
        assert set(threading.enumerate()) - threads_before == {monitor._thread}
        assert wait_for(lambda: all(store.record(i).heartbeats >= 3 for i in ids), 3)
        store.request_cancel(ids[1])
        assert wait_for(lambda: states[1].cancelled.is_set(), 2)
        assert not states[0].cancelled.is_set() and not states[2].cancelled.is_set()
        monitor.unwatch(states[0])
        beats = store.record(ids[0]).heartbeats
        time.sleep(0.3)
        assert store.record(ids[0]).heartbeats == beats
    finally:
        monitor.stop()
