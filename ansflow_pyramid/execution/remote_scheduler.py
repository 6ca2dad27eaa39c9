"""The observation scheduler: one per process, polling every active remote run.

An execution that runs on a CI tool is *handed off* by the engine
(:meth:`ObservationScheduler.hand_off`): it is claimed (pending -> running), a
remote run row is stored, and the engine's thread or RQ job is free again.  From then
on the scheduler drives the run through its :class:`RemoteBackend`:

* a loop thread claims the runs that are due (a lease on their row: one observer per
  run across every process sharing the database) and hands them to a small pool of
  I/O threads - a pool for the whole process, not a thread per run;
* each observation triggers (first time), sends a requested cancel, polls the run
  and its jobs (one status poll), reads the jobs' logs from their stored offsets,
  and stores the new lines together with the advanced offsets in one transaction
  (:meth:`RemoteRunStore.save`), then publishes them: nothing lost, nothing
  repeated, whichever process observes next;
* the next poll is due after ``ansflow.remote_poll_interval`` with jitter; while the
  tool fails, after an exponential backoff (or what ``Retry-After`` / a rate limit
  said), and a tool that stayed unavailable ``ansflow.remote_failure_timeout``
  seconds fails the execution with the reason - it is never left running;
* :func:`nudge_remote_run` makes a run due now (webhooks call it).

Settings (all optional):

================================== ====================================================
``ansflow.remote_observer``        ``auto`` (default: on where executions run - the
                                   serving process with ``threads`` dispatch, the
                                   workers with ``rq``), ``true``, ``false``
``ansflow.remote_poll_interval``   seconds between polls of a running run (5)
``ansflow.remote_max_backoff``     longest wait between polls of a failing tool (60)
``ansflow.remote_failure_timeout`` a tool failing this long fails the run (300)
``ansflow.remote_cancel_timeout``  a stop the tool does not confirm in this time ends
                                   the run ``cancelled`` anyway (60)
``ansflow.remote_observer_threads`` I/O threads observing runs (8)
``ansflow.remote_lease_seconds``   a silent observer's runs are taken over after (15)
``ansflow.remote_tick``            seconds between looks for due runs (0.1)
================================== ====================================================
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution.events import CONTROL, LOG, STATUS, STEP, ExecutionEvent
from ansflow_pyramid.execution.remote import (
    HYBRID,
    RemoteBackend,
    RemoteError,
    RemoteJob,
    RemoteObservation,
    RemoteRunContext,
    RemoteUnavailable,
    get_remote_backends,
    remote_steps,
)
from ansflow_pyramid.execution.remote_store import (
    FINISHED,
    OBSERVE,
    TRIGGER,
    JobCursor,
    NewLine,
    RemoteRun,
    RemoteRunStore,
    get_remote_run_store,
)
from ansflow_pyramid.execution.specs import ExecutionStatus, LogLine, RunSpec, StepStatus
from ansflow_pyramid.settings import as_bool

log = logging.getLogger(__name__)

RUNTIME_KEY = "ansflow.execution"
NUDGE = "nudge"
#: After the run ended, how long to keep reading logs that lag behind the status.
LOG_GRACE_SECONDS = 10.0
JOB_FINAL = StepStatus.FINAL


def _float(settings: Mapping[str, Any], key: str, default: float) -> float:
    raw = settings.get(key)
    if raw in (None, ""):
        return default
    value = float(raw)
    if value < 0:
        raise ValueError(f"{key} must not be negative")
    return value


@dataclass(frozen=True)
class SchedulerSettings:
    enabled: str = "auto"
    poll_interval: float = 5.0
    max_backoff: float = 60.0
    failure_timeout: float = 300.0
    cancel_timeout: float = 60.0
    threads: int = 8
    lease_seconds: float = 15.0
    tick: float = 0.1

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SchedulerSettings:
        enabled = str(settings.get("ansflow.remote_observer") or "auto").strip().lower()
        if enabled not in ("auto", "true", "false", "on", "off", "yes", "no", "1", "0"):
            raise ValueError("ansflow.remote_observer must be auto, true or false")
        if enabled != "auto":
            enabled = "true" if as_bool(enabled) else "false"
        return cls(
            enabled=enabled,
            poll_interval=max(0.05, _float(settings, "ansflow.remote_poll_interval", 5.0)),
            max_backoff=max(0.1, _float(settings, "ansflow.remote_max_backoff", 60.0)),
            failure_timeout=_float(settings, "ansflow.remote_failure_timeout", 300.0),
            cancel_timeout=_float(settings, "ansflow.remote_cancel_timeout", 60.0),
            threads=max(1, int(settings.get("ansflow.remote_observer_threads") or 8)),
            lease_seconds=max(1.0, _float(settings, "ansflow.remote_lease_seconds", 15.0)),
            tick=max(0.01, _float(settings, "ansflow.remote_tick", 0.1)),
        )


@dataclass
class _Loaded:
    """What one observation needs besides the stored state (cached per run)."""

    context: RemoteRunContext
    backend: RemoteBackend
    step_names: dict[int, str]
    loaded_at: float


class RemoteHandOffError(RemoteError):
    """An execution cannot run remotely (no backend, no store, the tool is gone)."""


class ObservationScheduler:
    """Observes this process's share of the active remote runs.

    :param runtime: the :class:`~ansflow_pyramid.execution.runtime.ExecutionRuntime`
        (its execution store, event bus and engine name are used).
    """

    def __init__(self, runtime: Any, settings: SchedulerSettings, owner: str) -> None:
        self.runtime = runtime
        self.registry = runtime.registry
        self.settings = settings
        self.owner = owner
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._cache: dict[int, _Loaded] = {}
        self._tool_not_before: dict[int, float] = {}
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._last_renew = 0.0
        self.polls = 0
        runtime.bus.add_control_handler(self._on_control)

    # -- set-up ------------------------------------------------------------------------
    @property
    def store(self) -> RemoteRunStore:
        store = get_remote_run_store(self.registry)
        if store is None:
            raise RemoteHandOffError(
                "remote runs need a remote run store: install the ansflow_remote plugin"
            )
        return store

    def _lease_until(self) -> dt.datetime:
        return utcnow() + dt.timedelta(seconds=self.settings.lease_seconds)

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._pool = ThreadPoolExecutor(
                max_workers=self.settings.threads, thread_name_prefix="ansflow-observe"
            )
            self._thread = threading.Thread(
                target=self._loop, name="ansflow-remote-scheduler", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop observing; leases are released so another process takes over now."""
        with self._lock:
            thread, self._thread = self._thread, None
            pool, self._pool = self._pool, None
        self._stop.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        store = get_remote_run_store(self.registry)
        if store is not None:
            try:
                store.release(self.owner, self.store.renew(self.owner, utcnow()))
            except Exception:
                log.warning("releasing remote run leases failed", exc_info=True)

    def _on_control(self, event: ExecutionEvent) -> None:
        action = event.data.get("action")
        if event.kind == CONTROL and action in (NUDGE, "cancel"):
            self._wake.set()

    # -- the engine's side -----------------------------------------------------------
    def hand_off(self, spec: RunSpec) -> str | None:
        """Start ``spec``'s execution on its tool if it runs remotely.

        Returns None when the execution runs locally (the engine goes on), otherwise
        the execution's status after the hand-off (``running``), or ``""`` when the
        execution was no longer pending (another worker has it).
        """
        remote_store = get_remote_run_store(self.registry)
        target = remote_store.remote_target(spec.execution_id) if remote_store else None
        if target is None:
            return None
        marked = remote_steps(spec, target)
        if target.mode == HYBRID and not marked:
            return None  # nothing is marked for the tool: it all runs here
        store = self.runtime.store
        if not store.mark_running(spec.execution_id, self.owner):
            return ""  # not pending any more: another worker has it
        reason = None
        if get_remote_backends(self.registry).get(target.tool_type) is None:
            reason = f"no plugin provides a remote backend for {target.tool_type!r} tools"
        elif len(marked) != len(spec.steps):
            # Interleaving local steps with remote ones would need the engine to
            # resume a run after a remote part; until it can, say so plainly
            # rather than skip the local steps.
            reason = (
                "hybrid pipelines that mix local steps with steps marked for the tool "
                "are not supported yet: mark every step for the tool, or run it locally"
            )
        if reason is not None:
            for step in spec.steps:
                store.step_finished(spec.execution_id, step.step_id, StepStatus.SKIPPED)
            store.mark_finished(spec.execution_id, ExecutionStatus.FAILED, reason)
            self.runtime.publish(
                ExecutionEvent(
                    STATUS,
                    spec.execution_id,
                    {**spec.event_data, "status": ExecutionStatus.FAILED, "reason": reason},
                )
            )
            return ExecutionStatus.FAILED
        run = RemoteRun(
            execution_id=spec.execution_id,
            target=target,
            dispatch_token=f"ansflow-{spec.execution_id}-{secrets.token_hex(8)}",
            phase=TRIGGER,
            next_poll_at=utcnow(),
        )
        self.store.create(run, self.owner, self._lease_until())
        self.runtime.publish(
            ExecutionEvent(
                STATUS,
                spec.execution_id,
                {
                    **spec.event_data,
                    "status": ExecutionStatus.RUNNING,
                    "worker": self.owner,
                    "remote": target.tool_type,
                    "timestamp": utcnow().isoformat(),
                },
            )
        )
        nudge_remote_run(self.registry, spec.execution_id)
        return ExecutionStatus.RUNNING

    # -- the loop --------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.warning("remote observation pass failed", exc_info=True)
            self._wake.wait(self.settings.tick)
            self._wake.clear()

    def run_once(self, wait: bool = False) -> int:
        """Renew leases, heartbeat, claim due runs and observe them; returns how many
        observations started.  ``wait`` observes in the calling thread (tests)."""
        store = self.store
        now_mono = time.monotonic()
        if now_mono - self._last_renew >= min(
            self.settings.lease_seconds / 3, self.runtime.settings.heartbeat_interval
        ):
            self._last_renew = now_mono
            owned = store.renew(self.owner, self._lease_until())
            if owned:
                self.runtime.store.heartbeat_many(owned)
        with self._lock:
            capacity = self.settings.threads * 4 - len(self._in_flight)
        if capacity <= 0:
            return 0
        runs = store.claim_due(self.owner, utcnow(), self._lease_until(), capacity)
        started = 0
        for run in runs:
            with self._lock:
                if run.execution_id in self._in_flight:
                    continue
                self._in_flight.add(run.execution_id)
            started += 1
            pool = self._pool
            if wait or pool is None:
                self._observe_safely(run)
            else:
                pool.submit(self._observe_safely, run)
        return started

    def _observe_safely(self, run: RemoteRun) -> None:
        try:
            self.observe(run)
        except Exception:
            log.exception("observing remote run of execution %s failed", run.execution_id)
        finally:
            with self._lock:
                self._in_flight.discard(run.execution_id)

    # -- one observation -------------------------------------------------------------
    def _load(self, run: RemoteRun) -> _Loaded:
        cached = self._cache.get(run.execution_id)
        if cached is not None and time.monotonic() - cached.loaded_at < 60:
            return cached
        spec = self.runtime.store.load_run_spec(run.execution_id)
        if spec is None:
            raise RemoteError("the execution no longer exists")
        tool = self.store.load_tool(run.target.tool_id)
        if tool is None:
            raise RemoteError(f"tool {run.target.tool_id} was deleted during the run")
        backend = get_remote_backends(self.registry).get(tool.tool_type)
        if backend is None:
            raise RemoteError(f"no plugin provides a remote backend for {tool.tool_type!r} tools")
        context = RemoteRunContext(
            execution_id=run.execution_id,
            tool=tool,
            target=run.target,
            spec=spec,
            steps=remote_steps(spec, run.target),
            dispatch_token=run.dispatch_token,
            registry=self.registry,
        )
        loaded = _Loaded(
            context, backend, {s.step_id: s.name for s in spec.steps}, time.monotonic()
        )
        self._cache[run.execution_id] = loaded
        return loaded

    def observe(self, run: RemoteRun) -> None:
        """One observation of ``run`` (claimed by this process)."""
        self.polls += 1
        lines: list[NewLine] = []
        step_events: list[tuple[int, str, str | None]] = []
        loaded: _Loaded | None = None
        tool_id = run.target.tool_id
        try:
            not_before = self._tool_not_before.get(tool_id, 0.0)
            if not_before > time.monotonic():
                # The tool asked us to wait (rate limit): keep the run, poll later.
                self._save(run, [], not_before - time.monotonic())
                return
            loaded = self._load(run)
            if run.execution_status in ExecutionStatus.FINAL:
                self._abandon(run, loaded)
                return
            if run.phase == TRIGGER:
                self._trigger(run, loaded, lines)
                return
            if run.cancel_requested and run.cancel_sent_at is None:
                loaded.backend.cancel(loaded.context, run.handle)
                run.cancel_sent_at = utcnow()
                lines.append(NewLine(None, "Stop sent to the tool.", "system"))
            assert run.handle is not None
            observation = loaded.backend.observe(loaded.context, run.handle)
            if observation.handle is not None:
                run.handle = observation.handle
            run.remote_status = observation.remote_status or observation.status
            run.observed_status = observation.status
            step_events = self._apply_jobs(run, loaded, observation, lines)
            run.failures, run.failing_since = 0, None
            final_status, reason = self._final_status(run, observation)
            if final_status is not None:
                self._finish(run, loaded, final_status, reason, lines, step_events)
                return
            self._save(run, lines, self._next_interval(loaded.backend), step_events)
        except RemoteUnavailable as error:
            self._failed_poll(run, loaded, error, lines)
        except RemoteError as error:
            self._finish(run, loaded, ExecutionStatus.FAILED, str(error), lines, step_events)
        except Exception as error:
            # A bug or an unexpected answer must not leave the run observed forever:
            # it counts as a failed poll, bounded by the failure timeout.
            log.exception("unexpected error observing execution %s", run.execution_id)
            self._failed_poll(
                run, loaded, RemoteUnavailable(f"{type(error).__name__}: {error}"), lines
            )

    def _trigger(self, run: RemoteRun, loaded: _Loaded, lines: list[NewLine]) -> None:
        backend, context = loaded.backend, loaded.context
        if run.cancel_requested:
            self._finish(run, loaded, ExecutionStatus.CANCELLED, "cancelled", lines, [])
            return
        # The attempt is stored before the tool is asked: should this process stop
        # between the trigger and storing its handle, the next attempt looks for the
        # run by its dispatch token instead of starting a second one.
        run.trigger_attempts += 1
        if self._save(run, [], self._next_interval(backend)) is None:
            return
        backend.prepare(context)
        handle = backend.trigger(context, run.trigger_attempts)
        run.handle = handle
        run.phase = OBSERVE
        where = handle.external_url or handle.external_id
        lines.append(NewLine(None, f"Triggered on {context.tool.tool_type} ({where}).", "system"))
        self._save(run, lines, self._next_interval(backend))

    def _apply_jobs(
        self,
        run: RemoteRun,
        loaded: _Loaded,
        observation: RemoteObservation,
        lines: list[NewLine],
    ) -> list[tuple[int, str, str | None]]:
        """Read new log lines of every job and collect step state changes (from the
        jobs' states and from the logs), each recorded once."""
        reported: list[tuple[int, str, str | None]] = []
        for job in observation.jobs:
            cursor = run.jobs.get(job.key)
            if cursor is None:
                cursor = run.jobs[job.key] = JobCursor(step_id=job.step_id)
            cursor.step_id = job.step_id
            cursor.status = job.status
            if job.step_id is not None and job.status != StepStatus.PENDING:
                if job.status in JOB_FINAL and run.step_states.get(str(job.step_id)) is None:
                    reported.append((job.step_id, StepStatus.RUNNING, None))
                # The job's own state comes after what its log said about it.
                final_change = (job.step_id, job.status, job.error)
            else:
                final_change = None
            if job.has_log and not cursor.log_done:
                reported.extend(self._read_log(run, loaded, job, cursor, lines))
            elif not job.has_log and job.status in JOB_FINAL:
                cursor.log_done = True  # a job that ended without a log (skipped)
            if final_change is not None:
                reported.append(final_change)
        changes = []
        for step_id, status, error in reported:
            if run.step_states.get(str(step_id)) != status:
                run.step_states[str(step_id)] = status
                changes.append((step_id, status, error))
        return changes

    def _read_log(
        self,
        run: RemoteRun,
        loaded: _Loaded,
        job: RemoteJob,
        cursor: JobCursor,
        lines: list[NewLine],
    ) -> tuple[tuple[int, str, str | None], ...]:
        assert run.handle is not None
        chunk = loaded.backend.read_log(
            loaded.context, run.handle, job, cursor.offset, dict(cursor.cursor)
        )
        lines.extend(NewLine(step_id, text) for step_id, text in chunk.lines)
        cursor.offset = chunk.next_offset
        cursor.cursor = dict(chunk.cursor)
        cursor.log_done = chunk.complete and job.status in JOB_FINAL
        return chunk.step_changes

    def _final_status(
        self, run: RemoteRun, observation: RemoteObservation
    ) -> tuple[str | None, str | None]:
        status = observation.status
        if status in ExecutionStatus.FINAL:
            pending_logs = [c for c in run.jobs.values() if not c.log_done]
            if pending_logs and run.finished_at is None:
                # The status may lead the logs by a moment: read them once more.
                run.finished_at = utcnow()
                return None, None
            waited = (utcnow() - run.finished_at).total_seconds() if run.finished_at else 0
            if pending_logs and waited < LOG_GRACE_SECONDS:
                return None, None
            if status == ExecutionStatus.CANCELLED and not run.cancel_requested:
                return status, observation.reason or "cancelled on the tool"
            return status, observation.reason
        if run.cancel_sent_at is not None:
            waited = (utcnow() - run.cancel_sent_at).total_seconds()
            if waited >= self.settings.cancel_timeout:
                return (
                    ExecutionStatus.CANCELLED,
                    f"cancelled; the tool did not confirm the stop within {waited:.0f} s",
                )
        return None, None

    def _next_interval(self, backend: RemoteBackend | None) -> float:
        interval = (backend.poll_interval if backend else None) or self.settings.poll_interval
        # Jitter spreads runs triggered together over the interval.
        return interval * random.uniform(0.9, 1.0)

    def _failed_poll(
        self,
        run: RemoteRun,
        loaded: _Loaded | None,
        error: RemoteUnavailable,
        lines: list[NewLine],
    ) -> None:
        now = utcnow()
        run.failures += 1
        run.failing_since = run.failing_since or now
        run.last_error = str(error)
        failing_for = (now - run.failing_since).total_seconds()
        tool_type = run.target.tool_type
        if failing_for >= self.settings.failure_timeout:
            reason = (
                f"the {tool_type} tool was unavailable for {failing_for:.0f} s "
                f"({run.failures} failed polls); last error: {error}"
            )
            self._finish(run, loaded, ExecutionStatus.FAILED, reason, lines, [])
            return
        base = (loaded.backend.poll_interval if loaded else None) or self.settings.poll_interval
        backoff = min(self.settings.max_backoff, base * (2 ** min(run.failures - 1, 10)))
        delay = random.uniform(backoff / 2, backoff)
        if error.retry_after is not None:
            delay = max(0.0, error.retry_after)
            self._tool_not_before[run.target.tool_id] = time.monotonic() + delay
        # Never wait past the moment the failure timeout is due.
        delay = min(delay, max(0.05, self.settings.failure_timeout - failing_for))
        if run.failures == 1:
            lines.append(NewLine(None, f"The tool is unavailable, retrying: {error}", "system"))
        log.info(
            "execution %s: remote poll failed (%s); next in %.1f s", run.execution_id, error, delay
        )
        self._save(run, lines, delay)

    def _save(
        self,
        run: RemoteRun,
        lines: Sequence[NewLine],
        delay: float | None,
        step_events: Sequence[tuple[int, str, str | None]] = (),
    ) -> list[LogLine] | None:
        self._apply_step_changes(run, step_events)
        next_poll = None if delay is None else utcnow() + dt.timedelta(seconds=delay)
        run.next_poll_at = next_poll
        stored = self.store.save(self.owner, run, lines, next_poll, self._lease_until())
        if stored is None:
            log.info("execution %s: lease lost; another observer has it", run.execution_id)
            self._cache.pop(run.execution_id, None)
            return None
        self._publish_lines(run, stored)
        self._publish_step_changes(run, step_events)
        return stored

    def _apply_step_changes(
        self, run: RemoteRun, changes: Sequence[tuple[int, str, str | None]]
    ) -> None:
        # Stored before the observation state: repeated after a crash, these writes
        # set the same values again.
        store = self.runtime.store
        for step_id, status, error in changes:
            if status == StepStatus.RUNNING:
                store.step_started(run.execution_id, step_id)
            elif status in JOB_FINAL:
                store.step_finished(run.execution_id, step_id, status, None, error)

    def _publish_lines(self, run: RemoteRun, stored: Sequence[LogLine]) -> None:
        if not stored:
            return
        loaded = self._cache.get(run.execution_id)
        names = loaded.step_names if loaded else {}
        data = [
            line.as_event_data(names.get(line.step_id) if line.step_id is not None else None)
            for line in stored
        ]
        self.runtime.publish(ExecutionEvent(LOG, run.execution_id, {"lines": data}))

    def _publish_step_changes(
        self, run: RemoteRun, changes: Sequence[tuple[int, str, str | None]]
    ) -> None:
        loaded = self._cache.get(run.execution_id)
        for step_id, status, error in changes:
            data = dict(loaded.context.spec.event_data) if loaded else {}
            data.update(
                {
                    "step_id": step_id,
                    "step_name": loaded.step_names.get(step_id) if loaded else None,
                    "status": status,
                    "exit_code": None,
                    "error_message": error,
                    "timestamp": utcnow().isoformat(),
                }
            )
            self.runtime.publish(ExecutionEvent(STEP, run.execution_id, data))

    def _finish(
        self,
        run: RemoteRun,
        loaded: _Loaded | None,
        status: str,
        reason: str | None,
        lines: list[NewLine],
        step_events: Sequence[tuple[int, str, str | None]],
    ) -> None:
        """End the run: final step states, the final line, the execution's status."""
        if status != ExecutionStatus.SUCCESS and reason:
            lines.append(NewLine(None, f"Execution {status}: {reason}", "system"))
        gave_up = (
            status == ExecutionStatus.FAILED and run.observed_status not in ExecutionStatus.FINAL
        )
        if run.handle is not None and run.phase == OBSERVE and gave_up and loaded is not None:
            # A run we give up on must not keep running on the tool unobserved.
            try:
                loaded.backend.cancel(loaded.context, run.handle)
            except Exception:
                log.info("stopping the remote run of %s failed", run.execution_id)
        run.phase = FINISHED
        for step_id, step_status, _ in step_events:
            run.step_states[str(step_id)] = step_status
        leftovers = self._leftover_steps(run, loaded, status, reason)
        changes = list(step_events) + leftovers
        if self._save(run, lines, None, changes) is None:
            return
        # The lines and the finished state are stored: nothing below may make the
        # caller save them again.  Should the execution's end not be stored, the
        # reaper fails it once its heartbeat (no longer renewed) is stale.
        for attempt in range(3):
            try:
                self.runtime.store.mark_finished(run.execution_id, status, reason)
                break
            except Exception:
                log.warning(
                    "storing the end of execution %s failed", run.execution_id, exc_info=True
                )
                time.sleep(0.2 * (attempt + 1))
        event_data = dict(loaded.context.spec.event_data) if loaded else {}
        self.runtime.publish(
            ExecutionEvent(
                STATUS,
                run.execution_id,
                {
                    **event_data,
                    "status": status,
                    "reason": reason,
                    "remote_status": run.remote_status,
                    "timestamp": utcnow().isoformat(),
                },
            )
        )
        self._cache.pop(run.execution_id, None)
        if loaded is not None:
            try:
                loaded.backend.cleanup(loaded.context, run.handle)
            except Exception:
                log.info("cleaning up the remote run of %s failed", run.execution_id)

    def _leftover_steps(
        self, run: RemoteRun, loaded: _Loaded | None, status: str, reason: str | None
    ) -> list[tuple[int, str, str | None]]:
        """Final states for steps the remote side did not finish."""
        if loaded is None:
            spec = self.runtime.store.load_run_spec(run.execution_id)
            steps = spec.steps if spec is not None else ()
        else:
            steps = loaded.context.spec.steps
        changes = []
        for step in steps:
            current = run.step_states.get(str(step.step_id))
            if current in JOB_FINAL:
                continue
            if current == StepStatus.RUNNING:
                final = (
                    StepStatus.SUCCESS
                    if status == ExecutionStatus.SUCCESS
                    else StepStatus.CANCELLED
                    if status == ExecutionStatus.CANCELLED
                    else StepStatus.FAILED
                )
                changes.append((step.step_id, final, None if final == "success" else reason))
            else:
                changes.append((step.step_id, StepStatus.SKIPPED, None))
        return changes

    def _abandon(self, run: RemoteRun, loaded: _Loaded) -> None:
        """The execution ended without us (the reaper, a cancel before the trigger):
        stop the remote side and close the row."""
        if run.handle is not None and run.observed_status not in ExecutionStatus.FINAL:
            try:
                loaded.backend.cancel(loaded.context, run.handle)
            except Exception:
                log.info("stopping the abandoned remote run of %s failed", run.execution_id)
        run.phase = FINISHED
        self._save(run, [], None)
        self._cache.pop(run.execution_id, None)


def nudge_remote_run(registry: Any, execution_id: int) -> bool:
    """Make the remote run of ``execution_id`` due now, in whichever process observes
    it (webhooks call this when the tool reports a change).  False when the
    execution has no active remote run."""
    store = get_remote_run_store(registry)
    if store is None or not store.nudge(execution_id):
        return False
    # The runtime (registry["ansflow.execution"]) imports this module, so it is
    # looked up by its key rather than imported.
    runtime = registry.get(RUNTIME_KEY)
    if runtime is not None:
        runtime.publish(ExecutionEvent(CONTROL, execution_id, {"action": NUDGE}))
    return True


def observer_enabled(settings: SchedulerSettings, dispatch: str, in_worker: bool) -> bool:
    """Whether this process observes remote runs (see ``ansflow.remote_observer``)."""
    if settings.enabled != "auto":
        return settings.enabled == "true"
    if dispatch == "rq":
        return in_worker
    return dispatch == "threads"
