"""The step runner interface, and the registry that maps step types to runners.

A runner runs one step of one execution.  The engine creates a runner per step with
the factory registered for the step's type and drives it through this life cycle::

    runner.prepare(context)          # workspace, credentials, connections
    runner.start()                   # launch the process / trigger the remote build
    for line in runner.stream_output():
        ...                          # stored and streamed as the step's log lines
    outcome = runner.wait()          # exit code, or a status for remote runners
    runner.cleanup()                 # always called, even after a failure

``cancel()`` may be called at any time from another thread (a user pressed cancel,
or the step's timeout expired); it must return quickly and make ``stream_output``
end soon.  ``cancel`` and ``cleanup`` are idempotent: the engine may call them more
than once, before ``start`` or after the step ended.

Plugins register runners in their ``includeme``::

    config.add_step_runner(["ansible"], AnsibleRunner)
    config.add_step_runner(["*"], LocalShellRunner)      # the fallback for any type

Two plugins registering the same step type is a configuration conflict at startup.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
from pyramid.interfaces import PHASE1_CONFIG

from ansflow_pyramid.execution.specs import StepOutcome, StepSpec

log = logging.getLogger(__name__)

REGISTRY_KEY = "ansflow.step_runners"
DEFAULT_STEP_TYPE = "*"


@dataclass
class StepContext:
    """What a runner knows about the step it runs.

    :param workspace: the execution's working directory (shared by its steps).
    :param environment: the complete environment for the step (base variables,
        ``ANSFLOW_*`` variables, parameters and the step's own variables).
    :param cancel_grace: seconds between a polite stop (SIGTERM) and a forced one.
    :param system_log: writes one engine message into the step's log.
    """

    execution_id: int
    step: StepSpec
    workspace: Path
    environment: dict[str, str]
    settings: Mapping[str, Any]
    cancel_grace: float = 3.0
    system_log: Callable[[str], None] = field(default=lambda text: None)


class StepRunner(abc.ABC):
    """Runs one step.  Subclass it and register the class (or any factory).

    The factory is called with no arguments, once per step execution.
    """

    @abc.abstractmethod
    def prepare(self, context: StepContext) -> None:
        """Get ready to run ``context.step``; raise to fail the step before it starts."""

    @abc.abstractmethod
    def start(self) -> None:
        """Launch the step.  Output produced from now on must reach ``stream_output``."""

    @abc.abstractmethod
    def stream_output(self) -> Iterator[str]:
        """Yield the step's output, one line at a time (without the newline).

        The iterator ends when the step's output ends: the process exited, the
        remote build finished, or the step was cancelled.
        """

    @abc.abstractmethod
    def wait(self, timeout: float | None = None) -> StepOutcome:
        """Wait for the step to end and report how it ended."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Ask the step to stop; escalate (SIGKILL, a remote abort) after the grace
        period without blocking the caller.  Idempotent; safe before ``start``."""

    @abc.abstractmethod
    def cleanup(self) -> None:
        """Release everything the step holds (processes, temporary files,
        connections).  Idempotent; always called once the step is over."""


RunnerFactory = Callable[[], StepRunner]


class RunnerRegistry:
    """Step type -> runner factory; ``"*"`` is the fallback for unknown types."""

    def __init__(self) -> None:
        self.factories: dict[str, RunnerFactory] = {}
        self.owners: dict[str, str] = {}

    def register(self, step_type: str, factory: RunnerFactory, owner: str = "") -> None:
        self.factories[step_type] = factory
        self.owners[step_type] = owner

    def factory_for(self, step_type: str) -> RunnerFactory | None:
        return self.factories.get(step_type) or self.factories.get(DEFAULT_STEP_TYPE)

    def create(self, step_type: str) -> StepRunner | None:
        """A new runner for ``step_type``, or None when nothing can run it."""
        factory = self.factory_for(step_type)
        return None if factory is None else factory()

    def step_types(self) -> list[str]:
        return sorted(self.factories)


def get_runner_registry(registry: Any) -> RunnerRegistry:
    """The :class:`RunnerRegistry` of a Pyramid registry."""
    return registry[REGISTRY_KEY]


def add_step_runner(
    config: Configurator, step_types: Iterable[str], factory: RunnerFactory | str
) -> None:
    """Register ``factory`` as the runner of ``step_types`` (``"*"``: any other type).

    ``factory`` may be a dotted name.  Registering a step type that another plugin
    already registered is a ``ConfigurationConflictError`` at startup.
    """
    resolved = config.maybe_dotted(factory)
    if not callable(resolved):
        raise ConfigurationError(f"step runner factory {factory!r} is not callable")
    runners = get_runner_registry(config.registry)
    owner = config.includepath[0].split(":")[0] if config.includepath else ""
    for step_type in step_types:
        step_type = str(step_type).strip()
        if not step_type:
            raise ConfigurationError("step types must be non-empty strings")
        config.action(
            ("ansflow.step-runner", step_type),
            runners.register,
            args=(step_type, resolved, owner),
            order=PHASE1_CONFIG,
        )


def includeme(config: Configurator) -> None:
    config.registry[REGISTRY_KEY] = RunnerRegistry()
    config.add_directive("add_step_runner", add_step_runner)
