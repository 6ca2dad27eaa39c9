"""Plain data the engine works on: what to run, and what came out of it.

These are deliberately free of ORM classes: the store (a plugin) turns its rows into
a :class:`RunSpec`, the engine runs it, and runners see only a :class:`StepSpec`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


class ExecutionStatus:
    """An execution's states (AnsFlow's names)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"

    ALL = (PENDING, RUNNING, SUCCESS, FAILED, CANCELLED, TIMEOUT)
    FINAL = frozenset({SUCCESS, FAILED, CANCELLED, TIMEOUT})


class StepStatus:
    """A step execution's states: the execution's plus ``skipped``."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"

    ALL = (PENDING, RUNNING, SUCCESS, FAILED, CANCELLED, TIMEOUT, SKIPPED)
    FINAL = frozenset({SUCCESS, FAILED, CANCELLED, TIMEOUT, SKIPPED})


def is_final(status: str | None) -> bool:
    """True for an execution status no engine will change again."""
    return status in ExecutionStatus.FINAL


class SyncPolicy:
    """How a parallel group's stage ends (AnsFlow's ``sync_policy``).

    ``wait_all``: when every step has ended; ``wait_any``: when the first step
    succeeds (the others are cancelled, and the group succeeded); ``fail_fast``: when
    the first step fails (the others are cancelled).
    """

    WAIT_ALL = "wait_all"
    WAIT_ANY = "wait_any"
    FAIL_FAST = "fail_fast"

    ALL = (WAIT_ALL, WAIT_ANY, FAIL_FAST)


@dataclass(frozen=True)
class GroupSpec:
    """A parallel group's rules, by the ``parallel_group`` name its steps carry.

    :param timeout_seconds: the whole group's wall-clock limit; when it passes, the
        steps still running end as ``timeout``.  ``None`` means no group limit.
    """

    name: str
    sync_policy: str = SyncPolicy.WAIT_ALL
    timeout_seconds: float | None = None


@dataclass(frozen=True)
class StepSpec:
    """One step to run.

    :param step_id: the store's key of this step's record for this execution (the
        step execution's id), used in every store call and event about the step.
    :param command: what the runner executes (a shell script for the local runner).
    :param environment_vars: the step's own variables (they override parameters).
    :param timeout_seconds: wall-clock limit; ``0`` or ``None`` means no limit.
    :param parallel_group: steps sharing a non-empty group run concurrently.
    :param config: runner-specific settings (ansible parameters, a remote job name...).
    """

    step_id: int
    name: str
    step_type: str = "shell_script"
    command: str = ""
    environment_vars: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: float | None = 300
    parallel_group: str = ""
    order: int = 0
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to run one execution, loaded from the stored definition.

    :param parameters: the trigger's parameters; they reach steps as environment
        variables (see :func:`ansflow_pyramid.execution.environment.step_environment`).
    :param environment: variables for every step of the execution.
    :param workspace: a directory for this execution; empty means the engine makes a
        fresh one under ``ansflow.workspace_root``.
    :param event_data: added to every status and step event the engine publishes
        (``{"project_id": 3, "pipeline_id": 5}``), so subscribers can filter them.
    :param trigger: what started the run (``{"type": "webhook", "commit": ...,
        "ref": ...}``); steps see it as ``ANSFLOW_TRIGGER_*``/``ANSFLOW_COMMIT_SHA``...
    :param groups: :class:`GroupSpec` of the parallel groups, by name.
    """

    execution_id: int
    steps: tuple[StepSpec, ...]
    parameters: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    workspace: str = ""
    pipeline_name: str = ""
    event_data: dict[str, Any] = field(default_factory=dict)
    trigger: dict[str, Any] = field(default_factory=dict)
    #: The rules of parallel groups by name; a group not listed waits for all its steps.
    groups: dict[str, GroupSpec] = field(default_factory=dict)

    def stages(self) -> list[list[StepSpec]]:
        """The steps grouped into stages that run one after another.

        Steps are taken in ``order``; a step with a ``parallel_group`` joins the stage
        of the first step of that group, so the whole group runs concurrently at the
        position of its first member.
        """
        stages: list[list[StepSpec]] = []
        by_group: dict[str, list[StepSpec]] = {}
        for step in sorted(self.steps, key=lambda s: (s.order, s.step_id)):
            group = (step.parallel_group or "").strip()
            if group and group in by_group:
                by_group[group].append(step)
                continue
            stage = [step]
            stages.append(stage)
            if group:
                by_group[group] = stage
        return stages


@dataclass(frozen=True)
class LogLine:
    """One stored line of output.

    ``number`` counts from 1 per execution, across all its steps, in the order the
    engine received the lines; ``stream`` is ``stdout`` for a step's output (stderr is
    merged into it) or ``system`` for the engine's own messages.
    """

    number: int
    step_id: int | None
    text: str
    timestamp: dt.datetime
    stream: str = "stdout"

    def as_event_data(self, step_name: str | None = None) -> dict[str, Any]:
        """The line as a ``log`` event's data (the original ``log_entry`` shape)."""
        return {
            "line": self.number,
            "timestamp": self.timestamp.isoformat(),
            "level": "info" if self.stream == "stdout" else "system",
            "message": self.text,
            "step_id": self.step_id,
            "step_name": step_name,
            "stream": self.stream,
        }


@dataclass(frozen=True)
class StepOutcome:
    """What a runner reports when its step ended.

    ``exit_code`` is the process's (negative: killed by that signal); remote runners
    without one may set ``status`` directly.  ``error`` is a short human reason.
    """

    exit_code: int | None = None
    error: str | None = None
    status: str | None = None
    output: dict[str, Any] = field(default_factory=dict)
