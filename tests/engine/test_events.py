"""Event buses: in-process, and Redis pub/sub between two buses (two "processes")."""

from __future__ import annotations

import uuid

import pytest
import redis

from ansflow_pyramid.execution.events import (
    CONTROL,
    LOG,
    STATUS,
    STEP,
    ExecutionEvent,
    InProcessEventBus,
)
from ansflow_pyramid.execution.redis_events import RedisEventBus
from tests.engine.conftest import wait_for


def drain(subscription):
    events = []
    while (event := subscription.get_nowait()) is not None:
        events.append(event)
    return events


def test_in_process_bus_routes_by_execution_and_kind():
    bus = InProcessEventBus()
    one = bus.subscribe(1)
    two = bus.subscribe(2)
    everything = bus.subscribe(None)
    controls = []
    bus.add_control_handler(controls.append)

    bus.publish(ExecutionEvent(STATUS, 1, {"status": "running"}))
    bus.publish(ExecutionEvent(LOG, 1, {"lines": []}))
    bus.publish(ExecutionEvent(STEP, 2, {"status": "success"}))
    bus.publish(ExecutionEvent(CONTROL, 2, {"action": "cancel"}))

    assert [(e.kind, e.execution_id) for e in drain(one)] == [(STATUS, 1), (LOG, 1)]
    assert [(e.kind, e.execution_id) for e in drain(two)] == [(STEP, 2)]
    # The global stream carries status and step events only, of every execution.
    assert [(e.kind, e.execution_id) for e in drain(everything)] == [(STATUS, 1), (STEP, 2)]
    assert [(e.kind, e.execution_id) for e in controls] == [(CONTROL, 2)]

    one.close()
    bus.publish(ExecutionEvent(STATUS, 1, {"status": "success"}))
    assert drain(one) == []
    assert not bus.has_local_interest(LOG, 1)


def test_a_subscriber_that_falls_behind_is_marked_lagged_not_blocking():
    bus = InProcessEventBus(queue_size=3)
    subscription = bus.subscribe(1)
    for i in range(5):
        bus.publish(ExecutionEvent(STATUS, 1, {"i": i}))
    assert [e.data["i"] for e in drain(subscription)] == [0, 1, 2]
    assert subscription.take_lagged() is True
    assert subscription.take_lagged() is False


def test_a_failing_control_handler_does_not_stop_the_others():
    bus = InProcessEventBus()
    seen = []

    def broken(event):
        raise RuntimeError("boom")

    bus.add_control_handler(broken)
    bus.add_control_handler(seen.append)
    bus.publish(ExecutionEvent(CONTROL, 5, {"action": "cancel"}))
    assert len(seen) == 1


def test_events_round_trip_as_json():
    event = ExecutionEvent(LOG, 7, {"lines": [{"line": 1, "message": "é"}]})
    assert ExecutionEvent.from_json(event.to_json()) == event


@pytest.fixture
def redis_buses(redis_url):
    prefix = f"ansflow-test-{uuid.uuid4().hex[:8]}:"
    clients = [redis.Redis.from_url(redis_url) for _ in range(2)]
    buses = [RedisEventBus(client, prefix) for client in clients]
    yield buses
    for bus in buses:
        bus.close()
    for client in clients:
        client.close()


def test_redis_bus_carries_events_between_processes(redis_buses):
    publisher, listener = redis_buses
    execution = listener.subscribe(41)
    everything = listener.subscribe(None)
    controls = []
    listener.add_control_handler(controls.append)

    publisher.publish(ExecutionEvent(STATUS, 41, {"status": "running"}))
    publisher.publish(ExecutionEvent(LOG, 41, {"lines": [{"line": 1, "message": "hi"}]}))
    publisher.publish(ExecutionEvent(LOG, 42, {"lines": [{"line": 1, "message": "other"}]}))
    publisher.publish(ExecutionEvent(STEP, 42, {"status": "success"}))
    publisher.publish(ExecutionEvent(CONTROL, 41, {"action": "cancel"}))

    received = []
    assert wait_for(lambda: received.extend(drain(execution)) or len(received) >= 2, 5)
    assert [(e.kind, e.execution_id, e.data) for e in received] == [
        (STATUS, 41, {"status": "running"}),
        (LOG, 41, {"lines": [{"line": 1, "message": "hi"}]}),
    ]
    assert wait_for(lambda: len(controls) == 1, 5)
    assert controls[0].data == {"action": "cancel"}
    dashboard = []
    assert wait_for(lambda: dashboard.extend(drain(everything)) or len(dashboard) >= 2, 5)
    assert [(e.kind, e.execution_id) for e in dashboard] == [(STATUS, 41), (STEP, 42)]


def test_redis_bus_channels_carry_the_prefix(redis_buses, redis_url):
    publisher, _ = redis_buses
    spy = redis.Redis.from_url(redis_url).pubsub()
    spy.psubscribe(publisher.channel_prefix + "*")
    assert wait_for(lambda: spy.get_message(timeout=0.1) is not None, 5)  # confirmation
    publisher.publish(ExecutionEvent(STATUS, 3, {"status": "running"}))
    message = None
    for _ in range(50):
        message = spy.get_message(timeout=0.1)
        if message and message["type"] == "pmessage":
            break
    spy.close()
    assert message is not None
    assert message["channel"].decode() == publisher.channel_prefix + "status:3"
    assert message["channel"].decode().startswith("ansflow-test-")
