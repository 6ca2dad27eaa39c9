"""The RQ job function, imported by dotted name in ``ansflow worker`` processes.

The worker command loads the application's registry once and binds it here; each
job then runs one execution with that process's engine.
"""

from __future__ import annotations

from typing import Any

from ansflow_pyramid.execution.handle import get_runtime

_registry: Any = None


def bind_registry(registry: Any) -> None:
    """Make ``registry`` the application jobs in this process run against."""
    global _registry
    _registry = registry


def run_execution(execution_id: int) -> str | None:
    """Run one execution (the body of every RQ job ``RQDispatcher`` enqueues)."""
    if _registry is None:
        raise RuntimeError(
            "no application is bound: run jobs with `ansflow worker CONFIG`, or call "
            "ansflow_pyramid.execution.jobs.bind_registry(registry) first"
        )
    return get_runtime(_registry).engine.run(int(execution_id))
