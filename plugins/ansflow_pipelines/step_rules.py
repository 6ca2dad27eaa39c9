"""What each built-in step type requires of a step definition's ``parameters``.

Shows: the ``check`` a step type declares with ``config.add_step_type(name,
check=...)``: a function of the definition's parameters returning field errors, so a
definition can be checked without running it (atomic steps' ``validate/``).

The built-in rules follow what the runners read: shell-like steps run
``parameters.command``; ``fetch_code`` needs a ``command`` or a ``repository_url``;
``ansible`` a playbook; ``docker_*`` an image.  Other built-in types accept any
parameters object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansflow_pipelines.extensions import StepCheck, step_types

COMMAND_TYPES = ("build", "test", "security_scan", "deploy", "custom", "script", "shell_script")
DOCKER_TYPES = ("docker_build", "docker_run", "docker_push", "docker_pull")


def _text(parameters: Mapping[str, Any], key: str) -> bool:
    value = parameters.get(key)
    return isinstance(value, str) and value.strip() != ""


def needs_one_of(*keys: str) -> StepCheck:
    """A check requiring a non-empty string in at least one of ``keys``."""

    def check(parameters: dict[str, Any]) -> dict[str, list[str]]:
        if any(_text(parameters, key) for key in keys):
            return {}
        if len(keys) == 1:
            return {f"parameters.{keys[0]}": ["This step type needs a non-empty string here."]}
        wanted = ", ".join(keys)
        return {f"parameters.{keys[0]}": [f"This step type needs one of: {wanted}."]}

    return check


def needs_playbook(parameters: dict[str, Any]) -> dict[str, list[str]]:
    if _text(parameters, "playbook") or _text(parameters, "playbook_path"):
        return {}
    playbook_id = parameters.get("playbook_id")
    if isinstance(playbook_id, int) and not isinstance(playbook_id, bool) and playbook_id > 0:
        return {}
    return {"parameters.playbook": ["An ansible step needs a playbook (or a playbook_id)."]}


BUILTIN_CHECKS: dict[str, StepCheck] = {
    **{name: needs_one_of("command") for name in COMMAND_TYPES},
    "fetch_code": needs_one_of("command", "repository_url"),
    "ansible": needs_playbook,
    **{name: needs_one_of("image") for name in DOCKER_TYPES},
}


def check_definition(registry: Any, step_type: str, parameters: Any) -> dict[str, list[str]]:
    """The field errors of a step definition (empty when it is valid)."""
    known = step_types(registry)
    if step_type not in known:
        return {
            "step_type": [
                f"Unknown step type {step_type!r}; use one of: {', '.join(sorted(known))}."
            ]
        }
    if not isinstance(parameters, dict):
        return {"parameters": ["Must be a JSON object."]}
    errors: dict[str, list[str]] = {}
    variables = parameters.get("environment_vars")
    if variables is not None and not (
        isinstance(variables, dict)
        and all(isinstance(v, str | int | float | bool) for v in variables.values())
    ):
        errors["parameters.environment_vars"] = ["Must be an object of plain values."]
    check = known[step_type].check
    if check is not None:
        errors.update(check(parameters))
    return errors
