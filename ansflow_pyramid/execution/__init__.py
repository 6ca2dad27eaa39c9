"""The execution engine: runs pipelines' steps and reports on them live.

What plugins build on:

* ``config.add_step_runner(step_types, factory)``: a :class:`StepRunner` for step
  types (``"*"``: any type nothing else claims).  The local shell runner is the
  ``ansflow_local_executor`` plugin; remote CI adapters and ansible are runners too.
* ``config.set_execution_store(factory)``: the :class:`ExecutionStore` (the plugin
  owning executions stores their state, steps and log lines).
* ``config.add_remote_backend(tool_type, factory)``: a :class:`RemoteBackend` that
  runs whole pipelines on a CI tool; ``config.set_remote_run_store(factory)``: where
  their observation state is kept (see :mod:`.remote`, :mod:`.remote_scheduler`).
* :func:`submit_after_commit`, :func:`cancel_after_commit`,
  :func:`publish_after_commit`: what API views call to start and cancel runs.
* :func:`execution_stream_response`, :func:`global_stream_response`: Server-Sent
  Events views; :func:`make_stream_token` / :func:`verify_stream_token` for clients
  that cannot send an Authorization header.

Settings are described in :mod:`ansflow_pyramid.execution.config`.
"""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.events import ApplicationCreated
from pyramid.exceptions import ConfigurationError

from ansflow_pyramid.execution.config import EngineSettings
from ansflow_pyramid.execution.dispatch import (
    cancel_after_commit,
    publish_after_commit,
    submit_after_commit,
)
from ansflow_pyramid.execution.events import LOG as LOG_EVENT
from ansflow_pyramid.execution.events import STATUS as STATUS_EVENT
from ansflow_pyramid.execution.events import STEP as STEP_EVENT
from ansflow_pyramid.execution.events import ExecutionEvent
from ansflow_pyramid.execution.runners import StepContext, StepRunner
from ansflow_pyramid.execution.runtime import REGISTRY_KEY, ExecutionRuntime, get_runtime
from ansflow_pyramid.execution.specs import (
    ExecutionStatus,
    GroupSpec,
    LogLine,
    RunSpec,
    StepOutcome,
    StepSpec,
    StepStatus,
    SyncPolicy,
    is_final,
)
from ansflow_pyramid.execution.sse import execution_stream_response, global_stream_response
from ansflow_pyramid.execution.store import ExecutionStore, get_execution_store
from ansflow_pyramid.execution.tokens import (
    GLOBAL_SCOPE,
    execution_scope,
    make_stream_token,
    verify_stream_token,
)

__all__ = [
    "GLOBAL_SCOPE",
    "LOG_EVENT",
    "STATUS_EVENT",
    "STEP_EVENT",
    "EngineSettings",
    "ExecutionEvent",
    "ExecutionRuntime",
    "ExecutionStatus",
    "ExecutionStore",
    "GroupSpec",
    "LogLine",
    "RunSpec",
    "StepContext",
    "StepOutcome",
    "StepRunner",
    "StepSpec",
    "StepStatus",
    "SyncPolicy",
    "cancel_after_commit",
    "execution_scope",
    "execution_stream_response",
    "get_execution_store",
    "get_runtime",
    "global_stream_response",
    "is_final",
    "make_stream_token",
    "publish_after_commit",
    "submit_after_commit",
    "verify_stream_token",
]


def includeme(config: Configurator) -> None:
    """Install the runtime and the ``add_step_runner`` / ``set_execution_store``
    directives; start the heartbeat reaper when a WSGI application is created."""
    config.include(".runners")
    config.include(".store")
    config.include(".remote")
    config.include(".remote_store")
    try:
        settings = EngineSettings.from_settings(config.get_settings())
        runtime = ExecutionRuntime(config.registry, settings)
    except ValueError as error:
        raise ConfigurationError(str(error)) from error
    config.registry[REGISTRY_KEY] = runtime

    def start_background_work(event: ApplicationCreated) -> None:
        registry = event.app.registry
        runtime = registry.get(REGISTRY_KEY)
        if runtime is None:
            return
        if runtime.settings.reaper:
            runtime.start_reaper()
        if runtime.settings.resume_pending:
            runtime.resume_pending()
        runtime.start_remote_observer()

    config.add_subscriber(start_background_work, ApplicationCreated)
