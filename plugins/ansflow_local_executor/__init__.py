"""The local executor: runs steps as shell commands on the machine running the engine.

It is the fallback runner (step type ``"*"``): any step type no other plugin claims
runs its ``command`` with the shell (``ansflow.local_shell``, default ``/bin/bash``
or ``/bin/sh``) in the execution's workspace, as ``ansflow.step_user`` (see
:mod:`ansflow_local_executor.isolation`: production refuses to run steps as the
server's own user unless ``ansflow.allow_steps_as_server_user = true``).
"""

from __future__ import annotations

from pyramid.config import Configurator

from ansflow_local_executor.isolation import warn_at_startup
from ansflow_local_executor.runner import LocalShellRunner

__all__ = ["LocalShellRunner"]


def includeme(config: Configurator) -> None:
    config.add_step_runner(["*"], LocalShellRunner)
    warn_at_startup(config.get_settings())
