"""The environment a step runs with.

A step sees a small base taken from the serving process (``PATH``, ``HOME``,
locale... - never its secrets such as ``DATABASE_URL``), the execution's variables,
the trigger's parameters, the step's own variables and ``ANSFLOW_*`` variables
describing the run.  Later sources win, except that parameters (chosen by whoever
triggers the run) cannot replace variables that change how programs load code.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ansflow_pyramid.execution.specs import RunSpec, StepSpec

DEFAULT_PASSTHROUGH = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
)

#: Names a trigger parameter may not set directly (it still arrives as ANSFLOW_PARAM_*).
PROTECTED_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "SHELL",
        "IFS",
        "ENV",
        "BASH_ENV",
        "CDPATH",
        "PS4",
        "SHELLOPTS",
        "BASHOPTS",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONHOME",
        "PERL5LIB",
        "PERL5OPT",
        "NODE_OPTIONS",
        "RUBYOPT",
        "GIT_SSH_COMMAND",
    }
)

#: Variables describing what started the run, from ``RunSpec.trigger`` (a webhook's
#: commit and ref, a schedule's id); set last, so neither parameters nor a step's own
#: variables can fake them.
TRIGGER_VARIABLES = {
    "type": "ANSFLOW_TRIGGER_TYPE",
    "commit": "ANSFLOW_COMMIT_SHA",
    "ref": "ANSFLOW_REF",
    "branch": "ANSFLOW_BRANCH",
    "tag": "ANSFLOW_TAG",
    "sender": "ANSFLOW_TRIGGER_SENDER",
    "delivery_id": "ANSFLOW_DELIVERY_ID",
    "schedule_id": "ANSFLOW_SCHEDULE_ID",
}

_VALID_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NOT_NAME_CHARS = re.compile(r"[^A-Za-z0-9_]")


def as_env_value(value: Any) -> str:
    """A parameter value as an environment string (JSON for lists and objects)."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, separators=(",", ":"), default=str)
    else:
        text = str(value)
    return text.replace("\x00", "")


def _valid(name: Any) -> bool:
    return isinstance(name, str) and bool(_VALID_NAME.match(name))


def step_environment(
    spec: RunSpec,
    step: StepSpec,
    workspace: Path,
    passthrough: Iterable[str] = DEFAULT_PASSTHROUGH,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The complete environment of ``step`` (see the module documentation)."""
    base = os.environ if base is None else base
    env = {name: base[name] for name in passthrough if name in base}
    for name, value in (spec.environment or {}).items():
        if _valid(name):
            env[name] = as_env_value(value)
    for name, value in (spec.parameters or {}).items():
        text = as_env_value(value)
        key = _NOT_NAME_CHARS.sub("_", str(name)).upper()
        if key:
            env[f"ANSFLOW_PARAM_{key}"] = text
        if _valid(name) and name.upper() not in PROTECTED_NAMES and not name.startswith("ANSFLOW_"):
            env[name] = text
    for name, value in (step.environment_vars or {}).items():
        if _valid(name):
            env[name] = as_env_value(value)
    env.update(
        {
            "CI": "true",
            "ANSFLOW": "true",
            "ANSFLOW_EXECUTION_ID": str(spec.execution_id),
            "ANSFLOW_PIPELINE_NAME": spec.pipeline_name or "",
            "ANSFLOW_STEP_ID": str(step.step_id),
            "ANSFLOW_STEP_NAME": step.name,
            "ANSFLOW_STEP_TYPE": step.step_type,
            "ANSFLOW_WORKSPACE": str(workspace),
        }
    )
    for key, name in TRIGGER_VARIABLES.items():
        value = (spec.trigger or {}).get(key)
        if value is not None and value != "":
            env[name] = as_env_value(value)
    return env
