"""The persistence interface the engine runs against.

The core owns no execution tables: the plugin that owns executions (``ansflow_cicd``)
implements :class:`ExecutionStore` and registers it with
``config.set_execution_store(factory)``, where ``factory(registry)`` returns the
store.  Every method runs in its own short transaction and commits before returning,
because the engine runs outside any request (a worker thread, an RQ job) and other
processes must see each change at once.  Methods are called from several threads at
the same time and must be thread-safe.
"""

from __future__ import annotations

import abc
import datetime as dt
import threading
from collections.abc import Callable, Sequence
from typing import Any

from pyramid.config import Configurator

from ansflow_pyramid.execution.specs import LogLine, RunSpec

REGISTRY_KEY = "ansflow.execution_store"
FACTORY_KEY = "ansflow.execution_store_factory"


class ExecutionStore(abc.ABC):
    """Stored state of executions, their steps and their log lines."""

    # -- the engine's side -------------------------------------------------------------
    @abc.abstractmethod
    def load_run_spec(self, execution_id: int) -> RunSpec | None:
        """The execution's definition as the engine runs it, or None if it is gone."""

    @abc.abstractmethod
    def mark_running(self, execution_id: int, worker: str) -> bool:
        """Atomically move a *pending* execution to running (start time, first
        heartbeat, the worker's name).  False when it is not pending any more (claimed
        by another worker, cancelled before it started, finished): the caller must
        then leave it alone."""

    @abc.abstractmethod
    def mark_finished(self, execution_id: int, status: str, reason: str | None = None) -> None:
        """Record the final ``status`` (and a human ``reason`` for failures), the
        completion time and duration."""

    @abc.abstractmethod
    def step_started(self, execution_id: int, step_id: int) -> None:
        """The step is running (start time)."""

    @abc.abstractmethod
    def step_finished(
        self,
        execution_id: int,
        step_id: int,
        status: str,
        exit_code: int | None = None,
        error: str | None = None,
    ) -> None:
        """The step ended with ``status`` (completion time, duration, exit code, error);
        also used for steps that never ran (``skipped``)."""

    @abc.abstractmethod
    def append_log_lines(self, execution_id: int, lines: Sequence[LogLine]) -> None:
        """Store a batch of lines in one transaction.  Numbers are assigned by the
        caller, unique and increasing per execution."""

    def last_line_number(self, execution_id: int) -> int:
        """The number of the execution's last stored line (0: none).  The engine
        numbers its lines after it."""
        return 0

    @abc.abstractmethod
    def heartbeat(self, execution_id: int) -> None:
        """The worker running the execution is alive (store the current time)."""

    @abc.abstractmethod
    def is_cancel_requested(self, execution_id: int) -> bool:
        """True once someone asked to cancel the execution."""

    def heartbeat_many(self, execution_ids: Sequence[int]) -> None:
        """Heartbeat several executions (override to do it in one statement)."""
        for execution_id in execution_ids:
            self.heartbeat(execution_id)

    def cancel_requested_among(self, execution_ids: Sequence[int]) -> list[int]:
        """Those of ``execution_ids`` someone asked to cancel (override to do it in
        one query)."""
        return [i for i in execution_ids if self.is_cancel_requested(i)]

    # -- the reaper's side -------------------------------------------------------------
    @abc.abstractmethod
    def find_stale(self, heartbeat_before: dt.datetime) -> list[int]:
        """Ids of running executions whose last heartbeat is older than the cutoff."""

    @abc.abstractmethod
    def finish_stale(self, execution_id: int, heartbeat_before: dt.datetime, reason: str) -> bool:
        """Mark the execution failed with ``reason`` if it is *still* running with a
        heartbeat older than the cutoff (a conditional update: a worker that just came
        back wins).  Unfinished steps end as failed/skipped.  True if it was marked."""

    def find_unclaimed(self, created_before: dt.datetime) -> list[int]:
        """Ids of executions still *pending* that were created before the cutoff
        (the reaper asks the dispatcher whether each one is still queued)."""
        return []

    def fail_unclaimed(self, execution_id: int, reason: str) -> bool:
        """Mark a *pending* execution failed with ``reason`` (it could not be queued,
        or no worker claimed it): a conditional update, so an execution a worker claimed
        meanwhile is left alone.  Its steps end as skipped.  True if it was marked.
        Stores that cannot do this return False (the execution then stays pending)."""
        return False

    def find_pending(self) -> list[int]:
        """Ids of pending executions, oldest first (resubmitted when a process using
        thread dispatch starts: its queue died with the previous process)."""
        return []

    # -- readers (the live view) -------------------------------------------------------
    @abc.abstractmethod
    def snapshot(self, execution_id: int) -> dict[str, Any] | None:
        """The execution and its steps as one document (AnsFlow's ``execution_status``:
        ``execution_id``, ``status``, ``steps`` [{``step_id``, ``step_name``,
        ``status``, ...}], ``total_steps``, ``completed_steps``...), or None."""

    @abc.abstractmethod
    def read_log_lines(self, execution_id: int, after: int = 0, limit: int = 1000) -> list[LogLine]:
        """Lines numbered above ``after``, in order, at most ``limit`` of them."""

    def step_names(self, execution_id: int) -> dict[int, str]:
        """Step id -> step name, to label log events (from the snapshot by default)."""
        snapshot = self.snapshot(execution_id) or {}
        return {step["step_id"]: step.get("step_name", "") for step in snapshot.get("steps", [])}


StoreFactory = Callable[[Any], ExecutionStore]


def set_execution_store(config: Configurator, factory: StoreFactory | str) -> None:
    """Register the factory of the :class:`ExecutionStore`: ``factory(registry)``.

    Only one store per application: a second registration is a conflict at startup.
    The store is created on first use.
    """
    resolved = config.maybe_dotted(factory)

    def register() -> None:
        config.registry[FACTORY_KEY] = resolved
        config.registry.pop(REGISTRY_KEY, None)

    config.action("ansflow.execution-store", register)


class NoExecutionStore(RuntimeError):
    """No plugin registered an execution store (install the cicd plugin)."""


_creation_lock = threading.Lock()


def get_execution_store(registry: Any) -> ExecutionStore:
    """The application's store, created on first use."""
    store = registry.get(REGISTRY_KEY)
    if store is not None:
        return store
    with _creation_lock:
        store = registry.get(REGISTRY_KEY)
        if store is None:
            factory = registry.get(FACTORY_KEY)
            if factory is None:
                raise NoExecutionStore(
                    "no execution store is configured: a plugin must call "
                    "config.set_execution_store(factory)"
                )
            store = factory(registry)
            registry[REGISTRY_KEY] = store
    return store


def includeme(config: Configurator) -> None:
    config.add_directive("set_execution_store", set_execution_store)
