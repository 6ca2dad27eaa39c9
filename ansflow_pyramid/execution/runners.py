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

#: Pyramid introspection categories: step types (declared by the plugin owning
#: pipelines, through ``add_step_type``) and the runners registered for them.
STEP_TYPES_INTROSPECTION = "ansflow step types"
STEP_RUNNERS_INTROSPECTION = "ansflow step runners"


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
    from ansflow_pyramid.traversal import plugin_name

    runners = get_runner_registry(config.registry)
    owner = plugin_name(config)
    for step_type in step_types:
        step_type = str(step_type).strip()
        if not step_type:
            raise ConfigurationError("step types must be non-empty strings")
        intr = config.introspectable(
            STEP_RUNNERS_INTROSPECTION, step_type, step_type, "ansflow step runner"
        )
        intr["runner"] = _dotted(resolved)
        intr["plugin"] = owner
        config.action(
            ("ansflow.step-runner", step_type),
            runners.register,
            args=(step_type, resolved, owner),
            order=PHASE1_CONFIG,
            introspectables=(intr,),
        )


def _dotted(factory: Any) -> str:
    return f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', factory)}"


def describe_step_types(registry: Any) -> list[dict[str, Any]]:
    """Every declared step type with its runner and the plugins owning both.

    Step types are declared into the ``STEP_TYPES_INTROSPECTION`` category (the
    pipelines plugin's ``add_step_type`` does); runners come from ``add_step_runner``.
    A type without a runner of its own is run by the ``"*"`` runner, if any.  Runners
    registered for types nobody declared are listed too (steps of those types are
    refused until a plugin declares them).
    """
    introspector = registry.introspector
    declared = {
        item["introspectable"].discriminator: item["introspectable"]
        for item in introspector.get_category(STEP_TYPES_INTROSPECTION, [])
    }
    runners = get_runner_registry(registry) if REGISTRY_KEY in registry else RunnerRegistry()
    described = []
    for name in sorted(set(declared) | (set(runners.factories) - {DEFAULT_STEP_TYPE})):
        intr = declared.get(name)
        own = name in runners.factories
        runner_key = name if own else DEFAULT_STEP_TYPE
        factory = runners.factories.get(runner_key)
        described.append(
            {
                "name": name,
                "label": intr["label"] if intr is not None else "",
                "plugin": intr["plugin"] if intr is not None else "",
                "declared": intr is not None,
                "runner": _dotted(factory) if factory is not None else None,
                "runner_plugin": runners.owners.get(runner_key, "") if factory else "",
                "fallback_runner": factory is not None and not own,
            }
        )
    return described


def declared_step_type_names(registry: Any) -> list[str]:
    """The names of every declared step type (for the OpenAPI document)."""
    return sorted(
        item["introspectable"].title
        for item in registry.introspector.get_category(STEP_TYPES_INTROSPECTION, [])
    )


def includeme(config: Configurator) -> None:
    config.registry[REGISTRY_KEY] = RunnerRegistry()
    config.add_directive("add_step_runner", add_step_runner)
