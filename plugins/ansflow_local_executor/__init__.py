"""The local executor: runs steps as shell commands on the machine running the engine.

It is the fallback runner (step type ``"*"``): any step type no other plugin claims
runs its ``command`` with the shell (``ansflow.local_shell``, default ``/bin/bash``
or ``/bin/sh``) in the execution's workspace.
"""

from __future__ import annotations

from pyramid.config import Configurator

from ansflow_local_executor.runner import LocalShellRunner

__all__ = ["LocalShellRunner"]


def includeme(config: Configurator) -> None:
    config.add_step_runner(["*"], LocalShellRunner)
