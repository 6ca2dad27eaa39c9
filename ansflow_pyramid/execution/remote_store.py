"""Stored observation state of remote runs: the interface the scheduler runs against.

The core owns no execution tables, so the plugin that owns executions' remote state
implements :class:`RemoteRunStore` and registers it with
``config.set_remote_run_store(factory)`` (``factory(registry)``).

What makes a restart lose or repeat nothing is :meth:`RemoteRunStore.save`: the new
log lines of a poll and the log offsets they advance to are written in *one*
transaction, and only while this process still holds the run's lease.  A process
that dies between two saves left the offsets of the last stored lines; its successor
reads from there.  The lease (an owner name and an expiry time on the run's row)
makes one observer per run across any number of processes: a run is claimed only
when its lease expired or is already ours, and a save by an observer whose lease was
taken over is refused.
"""

from __future__ import annotations

import abc
import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyramid.config import Configurator

from ansflow_pyramid.execution.remote import RemoteRunHandle, RemoteTarget, RemoteTool
from ansflow_pyramid.execution.specs import LogLine

REGISTRY_KEY = "ansflow.remote_run_store"
FACTORY_KEY = "ansflow.remote_run_store_factory"

#: Phases of a stored remote run.
TRIGGER, OBSERVE, FINISHED = "trigger", "observe", "finished"


@dataclass
class JobCursor:
    """Where the log of one remote job was read up to, and what we last saw of it."""

    offset: int = 0
    cursor: dict[str, Any] = field(default_factory=dict)
    status: str = ""
    step_id: int | None = None
    log_done: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "cursor": self.cursor,
            "status": self.status,
            "step_id": self.step_id,
            "log_done": self.log_done,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobCursor:
        return cls(
            offset=int(data.get("offset") or 0),
            cursor=dict(data.get("cursor") or {}),
            status=str(data.get("status") or ""),
            step_id=data.get("step_id"),
            log_done=bool(data.get("log_done")),
        )


@dataclass
class RemoteRun:
    """One remote run's observation state, as stored between polls.

    ``execution_status`` and ``cancel_requested`` are read from the execution with
    the claim (they are not part of the state the scheduler writes).
    """

    execution_id: int
    target: RemoteTarget
    dispatch_token: str
    phase: str = TRIGGER
    handle: RemoteRunHandle | None = None
    jobs: dict[str, JobCursor] = field(default_factory=dict)
    #: The last status recorded for each step execution (str(step_id) -> status).
    step_states: dict[str, str] = field(default_factory=dict)
    remote_status: str = ""
    #: The tool's last status mapped onto AnsFlow's (``running``, ``success``...).
    observed_status: str = ""
    #: How often triggering was attempted (stored before each attempt).
    trigger_attempts: int = 0
    failures: int = 0
    failing_since: dt.datetime | None = None
    last_error: str = ""
    cancel_sent_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    next_poll_at: dt.datetime | None = None
    execution_status: str = "running"
    cancel_requested: bool = False
    #: The stored state's version when it was read; a save of a stale copy (another
    #: save happened since) is refused like a lost lease.
    version: int = 0

    def state_json(self) -> dict[str, Any]:
        """The JSON document stored for the scheduler's fields."""
        return {
            "handle": None
            if self.handle is None
            else {
                "external_id": self.handle.external_id,
                "external_url": self.handle.external_url,
                "data": self.handle.data,
            },
            "jobs": {key: job.as_json() for key, job in self.jobs.items()},
            "steps": dict(self.step_states),
            "observed_status": self.observed_status,
            "trigger_attempts": self.trigger_attempts,
            "last_error": self.last_error,
        }

    def load_state_json(self, data: dict[str, Any]) -> None:
        handle = data.get("handle")
        self.handle = (
            None
            if not handle
            else RemoteRunHandle(
                str(handle.get("external_id") or ""),
                str(handle.get("external_url") or ""),
                dict(handle.get("data") or {}),
            )
        )
        self.jobs = {key: JobCursor.from_json(v) for key, v in (data.get("jobs") or {}).items()}
        self.step_states = {str(k): str(v) for k, v in (data.get("steps") or {}).items()}
        self.last_error = str(data.get("last_error") or "")
        self.observed_status = str(data.get("observed_status") or "")
        self.trigger_attempts = int(data.get("trigger_attempts") or 0)


@dataclass(frozen=True)
class NewLine:
    """A line to store with a save: its step (None: the run's) and its stream."""

    step_id: int | None
    text: str
    stream: str = "stdout"


class RemoteRunStore(abc.ABC):
    """Observation state of remote runs.  Every method is its own short transaction
    (committed before returning) and must be thread-safe."""

    @abc.abstractmethod
    def remote_target(self, execution_id: int) -> RemoteTarget | None:
        """Where the execution runs remotely, or None when it runs locally (its
        pipeline's mode is ``local``, or it has no tool with a remote backend)."""

    @abc.abstractmethod
    def load_tool(self, tool_id: int) -> RemoteTool | None:
        """The tool with its decrypted token, or None when it was deleted."""

    @abc.abstractmethod
    def create(self, run: RemoteRun, owner: str, lease_until: dt.datetime) -> bool:
        """Store a new run, leased to ``owner``; False (and no change) when the
        execution has one already."""

    @abc.abstractmethod
    def claim_due(
        self, owner: str, now: dt.datetime, lease_until: dt.datetime, limit: int
    ) -> list[RemoteRun]:
        """Lease and return up to ``limit`` unfinished runs that are due (their
        ``next_poll_at`` passed) and not leased by another live owner, plus runs
        whose lease expired (their observer died) whether due or not."""

    @abc.abstractmethod
    def renew(self, owner: str, lease_until: dt.datetime) -> list[int]:
        """Extend every lease ``owner`` holds; returns the leased execution ids."""

    @abc.abstractmethod
    def save(
        self,
        owner: str,
        run: RemoteRun,
        lines: Sequence[NewLine],
        next_poll_at: dt.datetime | None,
        lease_until: dt.datetime,
    ) -> list[LogLine] | None:
        """In one transaction: append ``lines`` after the execution's last line and
        store ``run``'s state (phase, handle, job cursors, failures...), only if
        ``owner`` still holds the lease.  Returns the stored lines with their
        numbers, or None when the lease was lost or ``run`` is stale (its
        ``version`` is not the stored one): nothing was written then.  On success
        ``run.version`` is the new version."""

    @abc.abstractmethod
    def release(self, owner: str, execution_ids: Sequence[int]) -> None:
        """Give up leases (a stopping process), so others take over at once."""

    @abc.abstractmethod
    def nudge(self, execution_id: int) -> bool:
        """Make the run due now (a webhook said something changed)."""

    @abc.abstractmethod
    def get(self, execution_id: int) -> RemoteRun | None:
        """The stored run (for views and tests)."""

    def active_count(self) -> int:
        """How many runs are not finished (for metrics)."""
        return 0


StoreFactory = Callable[[Any], RemoteRunStore]


class NoRemoteRunStore(RuntimeError):
    """No plugin registered a remote run store."""


_creation_lock = threading.Lock()


def set_remote_run_store(config: Configurator, factory: StoreFactory | str) -> None:
    """Register the factory of the :class:`RemoteRunStore` (one per application)."""
    resolved = config.maybe_dotted(factory)

    def register() -> None:
        config.registry[FACTORY_KEY] = resolved
        config.registry.pop(REGISTRY_KEY, None)

    config.action("ansflow.remote-run-store", register)


def get_remote_run_store(registry: Any) -> RemoteRunStore | None:
    """The application's store, created on first use; None when none is configured."""
    store = registry.get(REGISTRY_KEY)
    if store is not None:
        return store
    factory = registry.get(FACTORY_KEY)
    if factory is None:
        return None
    with _creation_lock:
        store = registry.get(REGISTRY_KEY)
        if store is None:
            store = registry[REGISTRY_KEY] = factory(registry)
    return store


def includeme(config: Configurator) -> None:
    config.add_directive("set_remote_run_store", set_remote_run_store)
