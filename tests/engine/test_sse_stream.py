"""The SSE event stream (generator level): snapshot, replay, live, resume, end."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution import StepSpec
from ansflow_pyramid.execution.events import LOG, STATUS, ExecutionEvent
from ansflow_pyramid.execution.specs import LogLine
from ansflow_pyramid.execution.sse import (
    StreamBody,
    StreamLimiter,
    execution_event_stream,
    format_event,
    global_event_stream,
)
from tests.sse_client import parse_stream


def runtime_for(harness, heartbeat=0.2):
    return SimpleNamespace(
        store=harness.store,
        bus=harness.bus,
        settings=SimpleNamespace(sse_heartbeat=heartbeat, stream_max_seconds=60),
    )


def collect(stream, stop_after=None):
    events = []
    for event in parse_stream(stream):
        events.append(event)
        if event.event == "end" or (stop_after and stop_after(events)):
            break
    return events


def log_texts(events):
    return [e.json()["message"] for e in events if e.event == "log"]


def test_a_live_stream_gets_the_snapshot_every_line_step_events_and_the_end(harness):
    store = harness.store
    execution_id = store.add(
        [
            StepSpec(
                1, "count", command="for i in $(seq 1 300); do echo n$i; done; sleep 0.2", order=1
            ),
            StepSpec(2, "fail", command="exit 4", order=2),
        ]
    )
    stream = execution_event_stream(runtime_for(harness), execution_id)
    first = next(stream)  # retry hint; the stream has subscribed now
    assert first.startswith(b"retry:")
    harness.run_in_thread(execution_id)
    events = collect(stream)

    assert events[0].event == "snapshot"
    snapshot = events[0].json()
    assert snapshot["type"] == "execution_status"
    assert [s["step_name"] for s in snapshot["steps"]] == ["count", "fail"]
    assert log_texts(events) == [f"n{i}" for i in range(1, 301)]
    ids = [int(e.id) for e in events if e.event == "log"]
    assert ids == list(range(1, 301))
    steps = [(e.json()["step_name"], e.json()["status"]) for e in events if e.event == "step"]
    assert steps == [
        ("count", "running"),
        ("count", "success"),
        ("fail", "running"),
        ("fail", "failed"),
    ]
    assert events[-1].event == "end"
    assert events[-1].json()["status"] == "failed"
    statuses = [e.json()["status"] for e in events if e.event == "status"]
    assert statuses[-1] == "failed"


def test_reconnecting_with_last_event_id_yields_every_line_exactly_once(harness):
    store = harness.store
    execution_id = store.add(
        [StepSpec(1, "trickle", command="for i in $(seq 1 200); do echo t$i; sleep 0.005; done")]
    )
    first = execution_event_stream(runtime_for(harness), execution_id)
    next(first)
    harness.run_in_thread(execution_id)
    received = collect(first, stop_after=lambda events: len(log_texts(events)) >= 50)
    first.close()  # the client disconnects mid-run
    last_id = int([e for e in received if e.event == "log"][-1].id)
    time.sleep(0.2)  # lines keep coming while nobody listens

    second = execution_event_stream(runtime_for(harness), execution_id, after=last_id)
    rest = collect(second)
    assert rest[0].event == "snapshot" and int(rest[0].id) == last_id
    assert log_texts(received) + log_texts(rest) == [f"t{i}" for i in range(1, 201)]
    assert rest[-1].event == "end"


def test_a_finished_execution_streams_snapshot_lines_and_end_at_once(harness):
    store = harness.store
    execution_id = store.add([StepSpec(1, "s", command="echo a; echo b; echo c")])
    harness.run(execution_id)
    events = collect(execution_event_stream(runtime_for(harness), execution_id, after=1))
    assert [e.event for e in events] == ["snapshot", "log", "log", "end"]
    assert log_texts(events) == ["b", "c"]
    assert events[-1].json() == {"execution_id": execution_id, "status": "success"}


def test_a_gap_in_live_lines_is_filled_from_the_store_and_duplicates_are_dropped(harness):
    store = harness.store
    execution_id = store.add([StepSpec(1, "s", command="true")])
    store.record(execution_id).status = "running"
    stream = execution_event_stream(runtime_for(harness, heartbeat=30), execution_id)
    assert next(stream).startswith(b"retry:")
    assert b"snapshot" in next(stream)

    def line(n):
        return LogLine(n, 1, f"x{n}", utcnow())

    # Lines 1-3 are stored but their event was lost; 4-5 arrive live, then 5 again.
    store.append_log_lines(execution_id, [line(1), line(2), line(3), line(4), line(5)])
    harness.bus.publish(
        ExecutionEvent(
            LOG, execution_id, {"lines": [line(4).as_event_data(), line(5).as_event_data()]}
        )
    )
    harness.bus.publish(ExecutionEvent(LOG, execution_id, {"lines": [line(5).as_event_data()]}))
    store.record(execution_id).status = "success"
    harness.bus.publish(ExecutionEvent(STATUS, execution_id, {"status": "success"}))
    events = collect(stream)
    assert log_texts(events) == ["x1", "x2", "x3", "x4", "x5"]
    assert events[-1].event == "end"


def test_without_events_the_stream_heartbeats_and_notices_the_end_from_the_store(harness):
    store = harness.store
    execution_id = store.add([StepSpec(1, "s", command="true")])
    store.record(execution_id).status = "running"
    stream = execution_event_stream(runtime_for(harness, heartbeat=0.1), execution_id)
    chunks = [next(stream), next(stream), next(stream)]
    assert chunks[2] == b": keep-alive\n\n"
    # The final status was stored but its event lost (a publisher crash, say).
    store.append_log_lines(execution_id, [LogLine(1, 1, "late", utcnow())])
    store.record(execution_id).status = "failed"
    events = collect(stream)
    assert log_texts(events) == ["late"]
    assert events[-1].event == "end" and events[-1].json()["status"] == "failed"


def test_a_stream_ends_at_its_time_limit(harness):
    store = harness.store
    execution_id = store.add([StepSpec(1, "s", command="true")])
    store.record(execution_id).status = "running"
    clock = iter([0.0, 0.0, 100.0, 100.0])
    runtime = runtime_for(harness)
    stream = execution_event_stream(
        runtime, execution_id, heartbeat=50, max_seconds=10, clock=lambda: next(clock)
    )
    chunks = list(stream)
    assert chunks[-1].startswith(b": stream time limit reached")


def test_the_global_stream_filters_events_and_sends_no_logs(harness):
    runtime = runtime_for(harness, heartbeat=30)
    stream = global_event_stream(
        runtime, allow=lambda e: e.execution_id != 2, initial=lambda: {"running": []}
    )
    assert next(stream).startswith(b"retry:")
    assert next(stream) == format_event("snapshot", {"running": []})
    harness.bus.publish(ExecutionEvent(STATUS, 1, {"status": "running"}))
    harness.bus.publish(ExecutionEvent(STATUS, 2, {"status": "running"}))
    harness.bus.publish(ExecutionEvent(LOG, 1, {"lines": []}))
    harness.bus.publish(ExecutionEvent(STATUS, 1, {"status": "success"}))
    events = collect(stream, stop_after=lambda events: len(events) == 2)
    stream.close()
    assert [(e.event, e.json()) for e in events] == [
        ("status", {"execution_id": 1, "status": "running"}),
        ("status", {"execution_id": 1, "status": "success"}),
    ]
    assert not harness.bus.all_subscriptions()


def test_stream_slots_are_bounded_and_released_by_close_even_if_never_iterated(harness):
    limiter = StreamLimiter(2)
    slots = [limiter.try_acquire(), limiter.try_acquire()]
    assert all(slots)
    assert limiter.try_acquire() is None
    bodies = [StreamBody(iter([b"x"]), slot) for slot in slots]
    bodies[0].close()
    bodies[0].close()  # idempotent: released once
    assert limiter.active == 1
    assert list(bodies[1]) == [b"x"]  # exhausting the body releases it too
    assert limiter.active == 0


def test_closing_a_stream_unsubscribes(harness):
    store = harness.store
    execution_id = store.add([StepSpec(1, "s", command="true")])
    store.record(execution_id).status = "running"
    stream = execution_event_stream(runtime_for(harness, heartbeat=30), execution_id)
    next(stream)
    assert harness.bus.has_local_interest(LOG, execution_id)
    closer = threading.Timer(0.05, stream.close)
    next(stream)
    closer.cancel()
    stream.close()
    assert not harness.bus.has_local_interest(LOG, execution_id)
