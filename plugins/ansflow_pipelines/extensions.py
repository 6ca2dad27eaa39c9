"""Extension points of the pipelines plugin: step types and the CI/CD tool lookup.

Shows: plugin directives other plugins call.

* ``config.add_step_type(name, label=..., description=...)`` declares a step type
  (``build``, ``ansible``, ``docker_build``...).  Steps of unknown types are refused.
  Declaring a type twice is a configuration conflict, like a path claimed twice.
* ``config.set_pipeline_tool_lookup(lookup)``: the plugin that owns CI/CD tools
  (``ansflow_cicd``) tells pipelines how to find one, so pipelines can validate
  ``execution_tool`` without importing that plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pyramid.config import Configurator
from pyramid.request import Request

STEP_TYPES_KEY = "ansflow_pipelines.step_types"
TOOL_LOOKUP_KEY = "ansflow_pipelines.tool_lookup"
TOOL_BATCH_LOOKUP_KEY = "ansflow_pipelines.tool_batch_lookup"

BUILTIN_STEP_TYPES = (
    "fetch_code",
    "build",
    "test",
    "security_scan",
    "deploy",
    "ansible",
    "notify",
    "custom",
    "script",
    "shell_script",
    "approval",
    "docker_build",
    "docker_run",
    "docker_push",
    "docker_pull",
    "k8s_deploy",
    "k8s_scale",
    "k8s_delete",
    "k8s_wait",
    "k8s_exec",
    "k8s_logs",
)


#: ``check(parameters) -> {field: [messages]}``: what a step type requires of a step.
StepCheck = Callable[[dict[str, Any]], dict[str, list[str]]]


@dataclass(frozen=True)
class StepType:
    name: str
    label: str
    description: str = ""
    #: Checks a step definition's ``parameters`` (see ``ansflow_pipelines.step_rules``).
    check: StepCheck | None = None


@dataclass(frozen=True)
class ToolRef:
    """What pipelines need to know about a CI/CD tool."""

    id: int
    name: str
    tool_type: str
    project_id: int


class ToolLookup(Protocol):
    def __call__(self, request: Request, tool_id: int) -> ToolRef | None:
        """The tool ``tool_id`` if the caller may see it, else None."""


class ToolBatchLookup(Protocol):
    def __call__(self, request: Request, tool_ids: list[int]) -> dict[int, ToolRef]:
        """The tools among ``tool_ids`` the caller may see, by id (one query)."""


def add_step_type(
    config: Configurator,
    name: str,
    label: str | None = None,
    description: str = "",
    check: StepCheck | None = None,
) -> None:
    """Declare a step type that pipeline steps may use.

    ``check(parameters)`` returns the field errors of a step definition of this type
    (``{"parameters.playbook": ["..."]}``); atomic steps' ``validate/`` and ``test/``
    use it.  Without one, any parameters object is accepted.
    """
    step_type = StepType(name, label or name.replace("_", " ").capitalize(), description, check)

    def register() -> None:
        config.registry.setdefault(STEP_TYPES_KEY, {})[name] = step_type

    config.action(("ansflow.step-type", name), register)


def step_types(registry: Any) -> dict[str, StepType]:
    return registry.get(STEP_TYPES_KEY, {})


def set_pipeline_tool_lookup(
    config: Configurator, lookup: ToolLookup, many: ToolBatchLookup | None = None
) -> None:
    """Tell the pipelines plugin how to find CI/CD tools (one lookup per application).

    ``many`` finds the tools of a whole page of pipelines at once (for
    ``execution_tool_name``); without it, lists look tools up one by one.
    """

    def register() -> None:
        config.registry[TOOL_LOOKUP_KEY] = lookup
        config.registry[TOOL_BATCH_LOOKUP_KEY] = many

    config.action(("ansflow.pipeline-tool-lookup",), register)


def tool_lookup(registry: Any) -> Callable[[Request, int], ToolRef | None] | None:
    return registry.get(TOOL_LOOKUP_KEY)


def lookup_tools(request: Request, tool_ids: list[int]) -> dict[int, ToolRef]:
    """The tools among ``tool_ids`` the caller may see, by id (batched when the tool
    plugin offers it)."""
    if not tool_ids:
        return {}
    many = request.registry.get(TOOL_BATCH_LOOKUP_KEY)
    if many is not None:
        return many(request, tool_ids)
    one = tool_lookup(request.registry)
    if one is None:
        return {}
    found = {tool_id: one(request, tool_id) for tool_id in tool_ids}
    return {tool_id: ref for tool_id, ref in found.items() if ref is not None}
