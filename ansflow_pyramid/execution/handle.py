"""Where an application keeps its execution runtime, for the modules that need it.

The runtime (:mod:`ansflow_pyramid.execution.runtime`) builds the dispatcher, the
reaper and the stream limiter, so those modules must not import it back; they, and
the after-commit helpers, find the running application's runtime through
:func:`get_runtime` here instead, which imports nothing of the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ansflow_pyramid.execution.runtime import ExecutionRuntime

#: The registry key of the application's :class:`ExecutionRuntime`.
REGISTRY_KEY = "ansflow.execution"


def get_runtime(registry: Any) -> ExecutionRuntime:
    """The application's :class:`~ansflow_pyramid.execution.runtime.ExecutionRuntime`."""
    return registry[REGISTRY_KEY]
