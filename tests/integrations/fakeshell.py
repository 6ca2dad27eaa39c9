"""A tiny stand-in for ``sh`` used by the fake CI servers.

The fakes run the scripts of the definitions AnsFlow writes (a Jenkinsfile's ``sh``
blocks, a ``.gitlab-ci.yml``'s ``script``, a workflow's ``run``) without running
anything on this machine: ``echo`` prints, ``sleep`` waits (in small slices, so a
stop is honoured at once), ``exit N`` / ``false`` fail, ``$VAR`` and ``${VAR}`` expand
from the build's environment (``$EPOCH``: the time now); any other command prints nothing and succeeds.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Mapping

VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


class Stopped(Exception):
    """The build was stopped while the script ran."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """``$VAR``/``${VAR}`` from ``env``; ``$EPOCH`` is the current time (benchmarks
    measure how late a printed line arrives)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name == "EPOCH" and name not in env:
            return f"{time.time():.6f}"
        return str(env.get(name, ""))

    return VARIABLE.sub(value, text)


def run_script(
    script: str,
    env: Mapping[str, str],
    emit: Callable[[str], None],
    stopped: Callable[[], bool],
    trace: bool = False,
) -> int:
    """Run ``script`` line by line; returns the exit code.  Raises :class:`Stopped`."""
    for raw in script.splitlines():
        for command in raw.split(";"):
            command = command.strip()
            if not command or command.startswith("#"):
                continue
            if stopped():
                raise Stopped()
            if trace:
                emit(f"+ {command}")
            try:
                words = shlex.split(expand(command, env))
            except ValueError:
                words = command.split()
            name, args = words[0], words[1:]
            if name == "echo":
                emit(" ".join(args))
            elif name == "sleep":
                deadline = time.monotonic() + float(args[0] if args else 0)
                while time.monotonic() < deadline:
                    if stopped():
                        raise Stopped()
                    time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
            elif name == "exit":
                return int(args[0]) if args else 0
            elif name == "false":
                return 1
    return 0
