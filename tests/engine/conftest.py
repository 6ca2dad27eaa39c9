"""Fixtures for engine tests: an engine over the in-memory store and the real local
shell runner, and helpers to look at processes."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from ansflow_local_executor import LocalShellRunner

from ansflow_pyramid.execution.config import EngineSettings
from ansflow_pyramid.execution.engine import Engine
from ansflow_pyramid.execution.events import InProcessEventBus
from ansflow_pyramid.execution.runners import RunnerRegistry
from tests.engine.memory_store import MemoryStore


def processes_in_group(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after it.
        fields = stat[stat.rindex(")") + 2 :].split()
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            found.append(int(entry))
    return found


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class EngineHarness:
    def __init__(self, tmp_path: Any, **overrides: Any) -> None:
        self.store = MemoryStore()
        self.bus = InProcessEventBus()
        self.runners = RunnerRegistry()
        self.runners.register("*", LocalShellRunner)
        defaults = dict(
            heartbeat_interval=0.2,
            heartbeat_timeout=5.0,
            cancel_poll_interval=0.2,
            cancel_grace=1.0,
            workspace_root=str(tmp_path / "workspaces"),
            log_flush_interval=0.02,
        )
        defaults.update(overrides)
        self.settings = replace(EngineSettings(), **defaults)
        self.engine = Engine(self.store, self.bus, self.runners, self.settings, name="test-worker")
        self.threads: list[threading.Thread] = []

    def run(self, execution_id: int) -> str | None:
        return self.engine.run(execution_id)

    def run_in_thread(self, execution_id: int) -> threading.Thread:
        thread = threading.Thread(target=self.engine.run, args=(execution_id,), daemon=True)
        thread.start()
        self.threads.append(thread)
        return thread

    def stop(self) -> None:
        for state_id in self.engine.active.ids():
            self.engine.active.cancel(state_id)
        for thread in self.threads:
            thread.join(timeout=10)
        self.engine.monitor.stop()


@pytest.fixture
def harness(tmp_path) -> Iterator[EngineHarness]:
    h = EngineHarness(tmp_path)
    yield h
    h.stop()


@pytest.fixture
def make_harness(tmp_path) -> Iterator[Callable[..., EngineHarness]]:
    made: list[EngineHarness] = []

    def factory(**overrides: Any) -> EngineHarness:
        h = EngineHarness(tmp_path, **overrides)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.stop()
