"""The engine: runs one execution's steps through their runners.

``Engine.run(execution_id)`` is all a dispatcher calls (a pool thread, an RQ job).
It claims the pending execution, runs its stages in order - the steps of a parallel
group concurrently, each under its timeout - stops at the first failure (later steps
are skipped), honours cancellation, heartbeats while it works, and always leaves the
execution and every step in a final state, whatever happens.

A parallel group's stage ends by its ``sync_policy`` (see :class:`GroupSpec`):
``wait_all`` when every step ended; ``wait_any`` when the first step succeeds (the
others are cancelled and do not fail the execution); ``fail_fast`` at the first
failure (the others are cancelled).  A group's ``timeout_seconds`` stops the steps
still running as ``timeout``.

State changes are stored first and published second, so anyone reacting to an event
finds the store already up to date.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansflow_pyramid.db import utcnow
from ansflow_pyramid.execution.config import EngineSettings
from ansflow_pyramid.execution.environment import step_environment
from ansflow_pyramid.execution.events import (
    CONTROL,
    STATUS,
    STEP,
    EventBus,
    ExecutionEvent,
)
from ansflow_pyramid.execution.logwriter import LogWriter
from ansflow_pyramid.execution.monitor import Deadline, Monitor
from ansflow_pyramid.execution.runners import RunnerRegistry, StepContext, StepRunner
from ansflow_pyramid.execution.specs import (
    ExecutionStatus,
    GroupSpec,
    RunSpec,
    StepOutcome,
    StepSpec,
    StepStatus,
    SyncPolicy,
)
from ansflow_pyramid.execution.store import ExecutionStore

log = logging.getLogger(__name__)

#: Step states that stop the execution (fail-fast).
STOPPING_STEP_STATES = frozenset({StepStatus.FAILED, StepStatus.TIMEOUT, StepStatus.CANCELLED})


def worker_name() -> str:
    """A name for this process in stored executions (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RunState:
    """One execution running in this process: its cancel flag and running steps."""

    def __init__(
        self, execution_id: int, on_cancel: Callable[[str | None], None] | None = None
    ) -> None:
        self.execution_id = execution_id
        self.cancelled = threading.Event()
        self.on_cancel = on_cancel
        self._lock = threading.Lock()
        self._runners: set[StepRunner] = set()

    def request_cancel(self, by: str | None = None) -> None:
        """Cancel every running step now; steps not started yet will not start.

        ``by`` names who asked, for the log."""
        with self._lock:
            first = not self.cancelled.is_set()
            self.cancelled.set()
            runners = list(self._runners)
        if first:
            log.info("cancelling execution %s", self.execution_id)
            if self.on_cancel is not None:
                _quietly(lambda: self.on_cancel(by), "cancel notice")  # type: ignore[misc]
        for runner in runners:
            _quietly(runner.cancel, "cancel")

    def add_runner(self, runner: StepRunner) -> bool:
        """Track ``runner``; False (not tracked) when the execution is cancelled."""
        with self._lock:
            if self.cancelled.is_set():
                return False
            self._runners.add(runner)
            return True

    def remove_runner(self, runner: StepRunner) -> None:
        with self._lock:
            self._runners.discard(runner)


class ActiveRuns:
    """The executions this process is running, for cancellation by control events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[int, RunState] = {}

    def add(self, state: RunState) -> None:
        with self._lock:
            self._runs[state.execution_id] = state

    def remove(self, state: RunState) -> None:
        with self._lock:
            if self._runs.get(state.execution_id) is state:
                del self._runs[state.execution_id]

    def get(self, execution_id: int) -> RunState | None:
        with self._lock:
            return self._runs.get(execution_id)

    def ids(self) -> list[int]:
        with self._lock:
            return sorted(self._runs)

    def cancel(self, execution_id: int, by: str | None = None) -> bool:
        state = self.get(execution_id)
        if state is None:
            return False
        state.request_cancel(by)
        return True


def _quietly(call: Callable[[], Any], what: str) -> None:
    try:
        call()
    except Exception:
        log.exception("step runner %s failed", what)


@dataclass
class StepResult:
    step: StepSpec
    status: str
    exit_code: int | None = None
    error: str | None = None
    #: Cancelled because another step of its ``wait_any`` group succeeded first: such
    #: a step neither stops the execution nor makes it fail.
    superseded: bool = False


#: Why a parallel group stopped its running steps.
SUPERSEDED, GROUP_FAILED, GROUP_TIMEOUT = "superseded", "group_failed", "group_timeout"


class GroupControl:
    """One parallel group's stage while it runs: its rules, the runners of its
    running steps, and why (and which of) them it stopped.

    Steps report their end with :meth:`step_ended`; the policy decides whether the
    others stop.  Stopping cancels their runners (idempotent, like any cancel).
    """

    def __init__(self, name: str, spec: GroupSpec | None) -> None:
        self.name = spec.name if spec is not None and spec.name else name
        self.policy = spec.sync_policy if spec is not None else SyncPolicy.WAIT_ALL
        timeout = spec.timeout_seconds if spec is not None else None
        self.timeout = float(timeout) if timeout else None
        self._lock = threading.Lock()
        self._runners: dict[int, StepRunner] = {}
        self.reason: str | None = None
        self.cause: str | None = None
        self.stopped: set[int] = set()

    def attach(self, step_id: int, runner: StepRunner) -> bool:
        """Track a starting step's runner; False when the group has stopped already."""
        with self._lock:
            if self.reason is not None:
                self.stopped.add(step_id)
                return False
            self._runners[step_id] = runner
            return True

    def detach(self, step_id: int) -> None:
        with self._lock:
            self._runners.pop(step_id, None)

    def step_ended(self, step: StepSpec, status: str) -> None:
        if self.policy == SyncPolicy.WAIT_ANY and status == StepStatus.SUCCESS:
            self.stop(SUPERSEDED, step)
        elif self.policy == SyncPolicy.FAIL_FAST and status in STOPPING_STEP_STATES:
            self.stop(GROUP_FAILED, step)

    def time_out(self) -> None:
        self.stop(GROUP_TIMEOUT, None)

    def stop(self, reason: str, cause: StepSpec | None) -> None:
        """Stop every running step but ``cause``, once (the first reason wins)."""
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            self.cause = cause.name if cause is not None else None
            others = {
                step_id: runner
                for step_id, runner in self._runners.items()
                if cause is None or step_id != cause.step_id
            }
            self.stopped.update(others)
        for runner in others.values():
            _quietly(runner.cancel, "cancel")

    def outcome_for(self, step_id: int) -> tuple[str, str, bool] | None:
        """``(status, error, superseded)`` of a step this group stopped, else None."""
        with self._lock:
            if step_id not in self.stopped:
                return None
            reason, cause = self.reason, self.cause
        if reason == GROUP_TIMEOUT:
            assert self.timeout is not None
            return (
                StepStatus.TIMEOUT,
                f"timed out with parallel group {self.name!r} after {self.timeout:g} s",
                False,
            )
        if reason == SUPERSEDED:
            return (
                StepStatus.CANCELLED,
                f"cancelled: {cause!r} of parallel group {self.name!r} succeeded first",
                True,
            )
        return (
            StepStatus.CANCELLED,
            f"cancelled: {cause!r} of parallel group {self.name!r} failed",
            False,
        )


@dataclass
class _Run:
    """The working state of one ``Engine.run`` call."""

    spec: RunSpec
    state: RunState
    writer: LogWriter
    workspace: Path
    statuses: dict[int, str] = field(default_factory=dict)
    results: list[StepResult] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Engine:
    """Runs executions; one instance per process, shared by all its worker threads."""

    def __init__(
        self,
        store: ExecutionStore,
        bus: EventBus,
        runners: RunnerRegistry,
        settings: EngineSettings,
        app_settings: dict[str, Any] | None = None,
        name: str | None = None,
        remote_starter: Callable[[RunSpec], str | None] | None = None,
    ) -> None:
        self.store = store
        #: Hands executions that run on a CI tool to the observation scheduler (see
        #: ansflow_pyramid.execution.remote_scheduler): None means "run it here".
        self.remote_starter = remote_starter
        self.bus = bus
        self.runners = runners
        self.settings = settings
        self.app_settings = dict(app_settings or {})
        self.name = name or worker_name()
        self.active = ActiveRuns()
        self.monitor = Monitor(store, settings.heartbeat_interval, settings.cancel_poll_interval)
        bus.add_control_handler(self._on_control)

    # -- events ----------------------------------------------------------------------
    def _on_control(self, event: ExecutionEvent) -> None:
        if event.kind == CONTROL and event.data.get("action") == "cancel":
            by = event.data.get("by")
            self.active.cancel(event.execution_id, str(by) if by else None)

    def publish(self, event: ExecutionEvent) -> None:
        try:
            self.bus.publish(event)
        except Exception:
            # The store has the change; live viewers resynchronise from it.
            log.warning("publishing %s event failed", event.kind, exc_info=True)

    def _publish_step(
        self, run: _Run, step: StepSpec, status: str, exit_code: int | None, error: str | None
    ) -> None:
        now = utcnow().isoformat()
        data = {
            **run.spec.event_data,
            "step_id": step.step_id,
            "step_name": step.name,
            "order": step.order,
            "status": status,
            "exit_code": exit_code,
            "error_message": error,
            "timestamp": now,
        }
        self.publish(ExecutionEvent(STEP, run.spec.execution_id, data))

    # -- the run ---------------------------------------------------------------------
    def run(self, execution_id: int) -> str | None:
        """Run a pending execution to a final state; returns that state, or None when
        the execution was not there or not pending (another worker has it)."""
        spec = self.store.load_run_spec(execution_id)
        if spec is None:
            log.warning("execution %s not found; nothing to run", execution_id)
            return None
        if self.remote_starter is not None:
            handed_off = self.remote_starter(spec)
            if handed_off is not None:
                return handed_off or None
        if not self.store.mark_running(execution_id, self.name):
            log.info("execution %s is not pending any more; skipping it", execution_id)
            return None
        # Read it again once claimed: a pending execution's parameters may change (PUT)
        # until the claim, and the claim is what ends that.
        spec = self.store.load_run_spec(execution_id) or spec
        started = time.monotonic()
        writer_box: list[LogWriter] = []

        def cancel_notice(by: str | None) -> None:
            if writer_box:
                writer_box[0].write(
                    None, f"Execution cancelled{f' by {by}' if by else ''}.", "system"
                )

        state = RunState(execution_id, cancel_notice)
        self.active.add(state)
        self.monitor.watch(state)
        writer: LogWriter | None = None
        workspace: Path | None = None
        run: _Run | None = None
        status, reason = ExecutionStatus.FAILED, "the engine stopped unexpectedly"
        escaped: BaseException | None = None
        # From here on, whatever happens, the execution and its steps end in a final
        # state and every background thread stops.
        try:
            self.publish(
                ExecutionEvent(
                    STATUS,
                    execution_id,
                    {
                        **spec.event_data,
                        "status": ExecutionStatus.RUNNING,
                        "worker": self.name,
                        "timestamp": utcnow().isoformat(),
                    },
                )
            )
            writer = LogWriter(
                execution_id,
                self.store,
                self.publish,
                step_names={step.step_id: step.name for step in spec.steps},
                flush_lines=self.settings.log_flush_lines,
                flush_interval=self.settings.log_flush_interval,
                first_number=self.store.last_line_number(execution_id) + 1,
            )
            writer_box.append(writer)
            workspace = self._make_workspace(spec)
            run = _Run(spec, state, writer, workspace)
            status, reason = self._run_stages(run)
        except BaseException as error:  # SystemExit from a worker's cold shutdown too
            state.on_cancel = None  # stopping for an error is not a user's cancel
            state.request_cancel()
            reason = f"engine error: {type(error).__name__}: {error}"
            log.exception("execution %s failed in the engine", execution_id)
            if writer is not None:
                writer.write(None, reason, "system")
            if not isinstance(error, Exception):
                escaped = error
        finally:
            statuses = run.statuses if run is not None else {}
            self._finish_leftover_steps(spec, statuses)
            if writer is not None:
                writer.close()
            self.monitor.unwatch(state)
            self.active.remove(state)
            self._finish(execution_id, status, reason, started, spec.event_data)
            if workspace is not None and not self.settings.keep_workspaces:
                shutil.rmtree(workspace, ignore_errors=True)
        if escaped is not None:
            raise escaped
        return status

    def _finish(
        self,
        execution_id: int,
        status: str,
        reason: str | None,
        started: float,
        event_data: dict[str, Any],
    ) -> None:
        try:
            self.store.mark_finished(execution_id, status, reason)
        except Exception:
            log.exception("could not store the end of execution %s", execution_id)
        self.publish(
            ExecutionEvent(
                STATUS,
                execution_id,
                {
                    **event_data,
                    "status": status,
                    "reason": reason,
                    "duration": round(time.monotonic() - started, 3),
                    "timestamp": utcnow().isoformat(),
                },
            )
        )

    def _make_workspace(self, spec: RunSpec) -> Path:
        if spec.workspace:
            path = Path(spec.workspace)
            path.mkdir(parents=True, exist_ok=True)
            return path
        base = Path(self.settings.workspace_base())
        base.mkdir(parents=True, exist_ok=True)
        # mkdtemp: unique even when several databases number executions alike.
        return Path(tempfile.mkdtemp(prefix=f"execution-{spec.execution_id}-", dir=base))

    def _run_stages(self, run: _Run) -> tuple[str, str | None]:
        for stage in run.spec.stages():
            stopped = run.state.cancelled.is_set() or any(
                result.status in STOPPING_STEP_STATES and not result.superseded
                for result in run.results
            )
            if stopped:
                for step in stage:
                    self._skip(run, step)
                continue
            group_name = (stage[0].parallel_group or "").strip()
            if group_name:
                self._run_group(
                    run, stage, GroupControl(group_name, run.spec.groups.get(group_name))
                )
            else:
                self._run_step_safely(run, stage[0])
        return self._final_status(run)

    def _run_group(self, run: _Run, stage: list[StepSpec], group: GroupControl) -> None:
        """Start the group's steps together; its policy and timeout decide its end."""
        timer: Deadline | None = None
        if group.timeout is not None:

            def time_out() -> None:
                run.writer.write(
                    None, f"parallel group {group.name!r} timed out after {group.timeout:g} s",
                    "system",
                )  # fmt: skip
                group.time_out()

            timer = self.monitor.call_later(group.timeout, time_out)
        threads = [
            threading.Thread(
                target=self._run_step_safely,
                args=(run, step, group),
                name=f"ansflow-exec-{run.spec.execution_id}-step-{step.step_id}",
                daemon=True,
            )
            for step in stage
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            if timer is not None:
                timer.cancel()
        if group.policy == SyncPolicy.WAIT_ANY:
            with run.lock:
                ids = {step.step_id for step in stage}
                members = [r for r in run.results if r.step.step_id in ids]
                # One success is the group's success: its other steps do not count.
                if any(r.status == StepStatus.SUCCESS for r in members):
                    for result in members:
                        if result.status != StepStatus.SUCCESS:
                            result.superseded = True

    def _final_status(self, run: _Run) -> tuple[str, str | None]:
        if run.state.cancelled.is_set():
            return ExecutionStatus.CANCELLED, "cancelled"
        counted = [result for result in run.results if not result.superseded]
        by_order = sorted(counted, key=lambda r: (r.step.order, r.step.step_id))
        for result in by_order:
            if result.status == StepStatus.TIMEOUT:
                return ExecutionStatus.TIMEOUT, f"step {result.step.name!r} {result.error}"
        # A failure explains the end better than the steps cancelled because of it.
        for status in (StepStatus.FAILED, StepStatus.CANCELLED):
            for result in by_order:
                if result.status == status:
                    return (
                        ExecutionStatus.FAILED,
                        f"step {result.step.name!r} failed: {result.error}",
                    )
        return ExecutionStatus.SUCCESS, None

    def _record(self, run: _Run, result: StepResult) -> None:
        with run.lock:
            run.statuses[result.step.step_id] = result.status
            run.results.append(result)

    def _skip(self, run: _Run, step: StepSpec) -> None:
        self.store.step_finished(run.spec.execution_id, step.step_id, StepStatus.SKIPPED)
        with run.lock:
            run.statuses[step.step_id] = StepStatus.SKIPPED
        self._publish_step(run, step, StepStatus.SKIPPED, None, None)

    def _finish_leftover_steps(self, spec: RunSpec, statuses: dict[int, str]) -> None:
        """After an engine error: no step may stay pending or running."""
        for step in spec.steps:
            status = statuses.get(step.step_id)
            if status in StepStatus.FINAL:
                continue
            final = StepStatus.SKIPPED if status is None else StepStatus.FAILED
            try:
                self.store.step_finished(
                    spec.execution_id, step.step_id, final, None, "the engine stopped"
                )
            except Exception:
                log.exception("could not finish step %s", step.step_id)
            statuses[step.step_id] = final
            self.publish(
                ExecutionEvent(
                    STEP,
                    spec.execution_id,
                    {
                        **spec.event_data,
                        "step_id": step.step_id,
                        "step_name": step.name,
                        "order": step.order,
                        "status": final,
                        "exit_code": None,
                        "error_message": "the engine stopped",
                        "timestamp": utcnow().isoformat(),
                    },
                )
            )

    def _run_step_safely(
        self, run: _Run, step: StepSpec, group: GroupControl | None = None
    ) -> None:
        """Run a step; a failure of the engine itself (the store is down) fails it."""
        try:
            self._run_step(run, step, group)
        except Exception as error:
            log.exception("step %s of execution %s failed", step.step_id, run.spec.execution_id)
            message = f"engine error: {type(error).__name__}: {error}"
            self._record(run, StepResult(step, StepStatus.FAILED, None, message))
            if group is not None:
                group.step_ended(step, StepStatus.FAILED)
            try:
                self.store.step_finished(
                    run.spec.execution_id, step.step_id, StepStatus.FAILED, None, message
                )
            except Exception:
                log.exception("could not store the failure of step %s", step.step_id)

    def _run_step(self, run: _Run, step: StepSpec, group: GroupControl | None = None) -> None:
        execution_id = run.spec.execution_id
        state = run.state
        runner = self.runners.create(step.step_type)
        if runner is not None and group is not None and not group.attach(step.step_id, runner):
            # Its group ended before it could start (a sibling won, failed, timed out).
            self._end_unstarted(run, step, group, runner)
            return
        if runner is None or not state.add_runner(runner):
            if runner is None:
                error = f"no runner is installed for step type {step.step_type!r}"
                self.store.step_started(execution_id, step.step_id)
                run.writer.write(step.step_id, error, "system")
                self.store.step_finished(execution_id, step.step_id, StepStatus.FAILED, None, error)
                self._record(run, StepResult(step, StepStatus.FAILED, None, error))
                self._publish_step(run, step, StepStatus.FAILED, None, error)
            else:
                self._skip(run, step)
            if group is not None:
                group.detach(step.step_id)
                group.step_ended(step, run.statuses.get(step.step_id, StepStatus.SKIPPED))
            return
        with run.lock:
            run.statuses[step.step_id] = StepStatus.RUNNING
        self.store.step_started(execution_id, step.step_id)
        self._publish_step(run, step, StepStatus.RUNNING, None, None)

        timed_out = threading.Event()
        timeout = step.timeout_seconds or 0

        def on_timeout() -> None:
            timed_out.set()
            run.writer.write(step.step_id, f"step timed out after {timeout:g} s", "system")
            _quietly(runner.cancel, "cancel")

        context = StepContext(
            execution_id=execution_id,
            step=step,
            workspace=run.workspace,
            environment=step_environment(
                run.spec, step, run.workspace, self.settings.env_passthrough
            ),
            settings=self.app_settings,
            cancel_grace=self.settings.cancel_grace,
            system_log=lambda text: run.writer.write(step.step_id, text, "system"),
        )
        timer: Deadline | None = None
        outcome: StepOutcome
        try:
            runner.prepare(context)
            if timeout > 0:
                timer = self.monitor.call_later(timeout, on_timeout)
            runner.start()
            write = run.writer.write
            step_id = step.step_id
            for line in runner.stream_output():
                write(step_id, line)
            outcome = runner.wait()
        except Exception as error:
            log.exception(
                "step %s of execution %s failed in its runner", step.step_id, execution_id
            )
            outcome = StepOutcome(
                error=f"{type(error).__name__}: {error}", status=StepStatus.FAILED
            )
            run.writer.write(step.step_id, f"runner error: {outcome.error}", "system")
        finally:
            if timer is not None:
                timer.cancel()
            state.remove_runner(runner)
            if group is not None:
                group.detach(step.step_id)
            _quietly(runner.cleanup, "cleanup")

        status, error = self._step_status(outcome, timed_out.is_set(), state, timeout)
        superseded = False
        stopped_by_group = group.outcome_for(step.step_id) if group is not None else None
        if stopped_by_group is not None and status != StepStatus.SUCCESS:
            status, error, superseded = stopped_by_group
        self.store.step_finished(execution_id, step.step_id, status, outcome.exit_code, error)
        self._record(run, StepResult(step, status, outcome.exit_code, error, superseded))
        self._publish_step(run, step, status, outcome.exit_code, error)
        if group is not None:
            group.step_ended(step, status)

    def _end_unstarted(
        self, run: _Run, step: StepSpec, group: GroupControl, runner: StepRunner
    ) -> None:
        """A group step that never started because its group had ended already."""
        ended = group.outcome_for(step.step_id)
        assert ended is not None
        status, error, superseded = ended
        _quietly(runner.cleanup, "cleanup")
        self.store.step_finished(run.spec.execution_id, step.step_id, status, None, error)
        self._record(run, StepResult(step, status, None, error, superseded))
        self._publish_step(run, step, status, None, error)

    @staticmethod
    def _step_status(
        outcome: StepOutcome, timed_out: bool, state: RunState, timeout: float
    ) -> tuple[str, str | None]:
        succeeded = outcome.status == StepStatus.SUCCESS or (
            outcome.status is None and outcome.exit_code == 0 and not outcome.error
        )
        if timed_out and not succeeded:
            return StepStatus.TIMEOUT, f"timed out after {timeout:g} s"
        if state.cancelled.is_set() and not succeeded:
            return StepStatus.CANCELLED, "cancelled"
        if succeeded:
            return StepStatus.SUCCESS, None
        if outcome.status and outcome.status != StepStatus.SUCCESS:
            return outcome.status, outcome.error
        if outcome.error:
            return StepStatus.FAILED, outcome.error
        return StepStatus.FAILED, f"exited with code {outcome.exit_code}"
