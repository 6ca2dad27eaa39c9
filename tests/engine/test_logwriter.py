"""The buffered log writer: numbering, batching, ordering, back-pressure, failures."""

from __future__ import annotations

import threading
import time

from ansflow_pyramid.execution import StepSpec
from ansflow_pyramid.execution.logwriter import LogWriter
from tests.engine.memory_store import MemoryStore


def make(store=None, **options):
    store = store or MemoryStore()
    execution_id = store.add([StepSpec(1, "s")])
    published = []
    writer = LogWriter(execution_id, store, published.append, step_names={1: "s"}, **options)
    return store, execution_id, writer, published


def test_lines_are_numbered_stored_in_batches_and_published_after_storing():
    store, execution_id, writer, published = make(
        flush_lines=100, flush_interval=10, max_pending=100
    )
    for i in range(1000):
        writer.write(1, f"l{i}")
    writer.close()
    record = store.record(execution_id)
    assert [line.number for line in record.lines] == list(range(1, 1001))
    assert [line.text for line in record.lines] == [f"l{i}" for i in range(1000)]
    # Count-triggered flushes (the interval is far away): never one per line.
    assert 10 <= record.batches <= 20
    lines = [line for event in published for line in event.data["lines"]]
    assert [line["line"] for line in lines] == list(range(1, 1001))
    assert lines[0] == {
        "line": 1,
        "timestamp": lines[0]["timestamp"],
        "level": "info",
        "message": "l0",
        "step_id": 1,
        "step_name": "s",
        "stream": "stdout",
    }


def test_a_lone_line_is_flushed_after_the_interval():
    store, execution_id, writer, _published = make(flush_lines=1000, flush_interval=0.05)
    started = time.monotonic()
    writer.write(1, "only")
    while not store.record(execution_id).lines and time.monotonic() - started < 2:
        time.sleep(0.005)
    elapsed = time.monotonic() - started
    writer.close()
    assert [line.text for line in store.record(execution_id).lines] == ["only"]
    assert 0.04 <= elapsed < 1.0


def test_flush_waits_until_everything_written_is_stored():
    store, execution_id, writer, _published = make(flush_lines=10_000, flush_interval=60)
    for i in range(5):
        writer.write(1, str(i))
    assert writer.flush(timeout=5)
    assert len(store.record(execution_id).lines) == 5
    writer.close()


def test_concurrent_writers_get_unique_numbers_in_storage_order():
    store, execution_id, writer, published = make(flush_lines=50, flush_interval=0.01)

    def produce(step):
        for i in range(500):
            writer.write(step, f"{step}-{i}")

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    record = store.record(execution_id)
    assert [line.number for line in record.lines] == list(range(1, 2001))
    for step in range(4):
        mine = [line.text for line in record.lines if line.step_id == step]
        assert mine == [f"{step}-{i}" for i in range(500)]
    published_numbers = [line["line"] for e in published for line in e.data["lines"]]
    assert published_numbers == list(range(1, 2001))


class SlowStore(MemoryStore):
    def __init__(self):
        super().__init__()
        self.gate = threading.Event()

    def append_log_lines(self, execution_id, lines):
        self.gate.wait(5)
        super().append_log_lines(execution_id, lines)


def test_writers_block_when_the_store_falls_behind():
    store = SlowStore()
    _, execution_id, writer, _ = make(store, flush_lines=10, flush_interval=0.001, max_pending=20)
    done = threading.Event()

    def produce():
        for i in range(100):
            writer.write(1, str(i))
        done.set()

    thread = threading.Thread(target=produce)
    thread.start()
    time.sleep(0.3)
    assert not done.is_set()  # back-pressure: the writer waits for the store
    store.gate.set()
    thread.join(5)
    writer.close()
    assert done.is_set()
    assert len(store.record(execution_id).lines) == 100


class FlakyStore(MemoryStore):
    def __init__(self, failures):
        super().__init__()
        self.failures = failures

    def append_log_lines(self, execution_id, lines):
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database hiccup")
        super().append_log_lines(execution_id, lines)


def test_a_failed_store_write_is_retried():
    store = FlakyStore(failures=2)
    _, execution_id, writer, published = make(store, flush_interval=0.001)
    writer.write(1, "kept")
    writer.close()
    assert [line.text for line in store.record(execution_id).lines] == ["kept"]
    assert writer.dropped == 0
    assert published


def test_a_store_that_keeps_failing_drops_the_batch_but_not_later_lines(monkeypatch):
    monkeypatch.setattr("ansflow_pyramid.execution.logwriter.time.sleep", lambda s: None)
    store = FlakyStore(failures=4)
    _, execution_id, writer, published = make(store, flush_interval=0.001)
    writer.write(1, "lost")
    assert writer.flush(timeout=5)
    writer.write(1, "kept")
    writer.close()
    assert [line.text for line in store.record(execution_id).lines] == ["kept"]
    assert writer.dropped == 1
    # Nothing is published that the store does not have.
    assert [line["message"] for e in published for line in e.data["lines"]] == ["kept"]
