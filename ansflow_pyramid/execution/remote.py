"""The remote execution backend interface: pipelines that run on a CI tool.

A step runner (:mod:`ansflow_pyramid.execution.runners`) runs one step in this
process.  A remote execution backend runs a whole pipeline (or the part of it marked
for the tool) on a CI tool - Jenkins, GitLab CI, GitHub Actions - and the engine only
*observes* it: nothing holds a thread or a queue job per remote run.  One
:class:`~ansflow_pyramid.execution.remote_scheduler.ObservationScheduler` per process
polls every active remote run through its backend.

The life cycle the scheduler drives (every operation idempotent, because a restarted
process repeats whatever it was doing when it stopped)::

    backend.prepare(context)                      # create/update the remote definition
    handle = backend.trigger(context)             # start the run, find its id
    observation = backend.observe(context, handle)          # run + jobs, polled
    chunk = backend.read_log(context, handle, job, offset, cursor)  # new lines only
    backend.cancel(context, handle)               # the remote side receives the stop
    backend.cleanup(context, handle)              # once the run is over

Plugins register a backend per tool type in their ``includeme``::

    config.add_remote_backend("jenkins", JenkinsBackend)   # factory(registry)

Errors: raise :class:`RemoteUnavailable` for anything that may pass (connection
refused or dropped, timeouts, 5xx, rate limits - with ``retry_after`` when the tool
said how long to wait); the scheduler retries with backoff and fails the execution
with a clear reason once the tool stayed unavailable for
``ansflow.remote_failure_timeout`` seconds.  Raise :class:`RemoteError` for what will
not pass by waiting (bad credentials, a job that does not exist): the execution fails
at once with that message.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError

from ansflow_pyramid.execution.specs import RunSpec, StepSpec

REGISTRY_KEY = "ansflow.remote_backends"

#: Execution modes of a pipeline (``Pipeline.execution_mode``).
LOCAL, REMOTE, HYBRID = "local", "remote", "hybrid"


class RemoteError(Exception):
    """A remote failure that waiting will not fix; its message is shown to people."""


class RemoteUnavailable(RemoteError):
    """The tool cannot answer right now (down, 5xx, timeout, rate limited).

    :param retry_after: seconds the tool asked us to wait (``Retry-After``, a rate
        limit's reset time), or None to let the scheduler back off on its own.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RemoteNotFound(RemoteError):
    """The job, build, pipeline or run does not exist on the tool."""


class RemoteAuthError(RemoteError):
    """The tool refused the credentials (401) or the permission (403)."""


@dataclass(frozen=True)
class RemoteTool:
    """A CI tool as a backend sees it; ``token`` is the decrypted secret."""

    tool_id: int
    tool_type: str
    base_url: str
    username: str = ""
    token: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    project_id: int | None = None
    name: str = ""


@dataclass(frozen=True)
class RemoteTarget:
    """Where and how an execution runs remotely (from the pipeline's snapshot).

    :param mode: ``remote`` (every step on the tool) or ``hybrid`` (the steps marked
        for the tool; see :func:`remote_steps`).
    :param job_name: the remote job/workflow the pipeline maps to (a Jenkins job, a
        GitHub workflow file name); empty lets the backend derive one.
    :param job_config: tool-specific settings of the pipeline (``ref``, ...).
    """

    tool_id: int
    tool_type: str
    mode: str = REMOTE
    job_name: str = ""
    job_config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteRunContext:
    """Everything a backend call knows about the run it works on.

    :param dispatch_token: unique per execution and stable across restarts; backends
        send it with the trigger (a build parameter, a dispatch input) and use it to
        find the run they started without guessing.
    :param steps: the steps that run on the tool, in order.
    """

    execution_id: int
    tool: RemoteTool
    target: RemoteTarget
    spec: RunSpec
    steps: tuple[StepSpec, ...]
    dispatch_token: str
    registry: Any = None

    @property
    def job_name(self) -> str:
        """The remote job's name: the pipeline's mapping, else one derived from it."""
        pipeline_id = self.spec.event_data.get("pipeline_id", self.execution_id)
        return self.target.job_name or f"ansflow-pipeline-{pipeline_id}"


@dataclass
class RemoteRunHandle:
    """What identifies a triggered run; stored between polls (JSON-able ``data``)."""

    external_id: str
    external_url: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteJob:
    """One job/stage of the remote run, mapped onto a step execution.

    :param key: the job's id on the tool (stable; log offsets are kept per key).
    :param status: a :class:`~ansflow_pyramid.execution.specs.StepStatus` value.
    :param step_id: the step execution it is, or None when it matches no step.
    :param has_log: whether :meth:`RemoteBackend.read_log` can be asked for it now.
    """

    key: str
    name: str
    status: str
    step_id: int | None = None
    has_log: bool = True
    error: str | None = None


@dataclass(frozen=True)
class RemoteObservation:
    """One poll's view of the run.

    :param status: ``pending`` (queued on the tool), ``running`` or a final
        :class:`~ansflow_pyramid.execution.specs.ExecutionStatus`.
    :param handle: the handle to store from now on (the queue item became a build).
    """

    status: str
    jobs: tuple[RemoteJob, ...] = ()
    reason: str | None = None
    remote_status: str = ""
    handle: RemoteRunHandle | None = None


@dataclass(frozen=True)
class LogChunk:
    """New complete lines of one job's log after ``offset``.

    :param lines: ``(step_id, text)`` pairs, in order; ``step_id`` None for lines that
        belong to the run rather than to a step.
    :param next_offset: where the next read starts (bytes, lines: the backend's unit);
        only past *complete* lines, so a half-written line is read again whole.
    :param cursor: backend state to keep with the offset (which stage a Jenkins log is
        in), stored atomically with the lines.
    :param complete: the job's log will not grow any more.
    :param step_changes: ``(step_id, status, error)`` read from the log itself (a
        Jenkins console says where each stage starts and how it ends).
    """

    lines: tuple[tuple[int | None, str], ...]
    next_offset: int
    cursor: dict[str, Any] = field(default_factory=dict)
    complete: bool = False
    step_changes: tuple[tuple[int, str, str | None], ...] = ()


@dataclass(frozen=True)
class RemoteDefinition:
    """A remote definition as ``sync_to_tool/`` writes it and ``preview/`` shows it."""

    kind: str  # "jenkins_config_xml", "gitlab_ci_yaml", "github_workflow"
    name: str  # the job name, the file path
    content: str
    media_type: str = "text/plain"


@dataclass(frozen=True)
class BackendCapabilities:
    """What a tool type can do (``capabilities/``)."""

    sync_definition: bool = True
    trigger: bool = True
    cancel: bool = True
    retry: bool = False
    live_logs: bool = True
    per_job_logs: bool = True
    parameters: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class RemoteBackend(abc.ABC):
    """Runs pipelines on one type of CI tool.  One instance serves every run of the
    process (it must be thread-safe); per-run state lives in :class:`RemoteRunHandle`
    and the stored log cursors, never in the instance."""

    #: Seconds between polls of a running run (the scheduler adds jitter).
    poll_interval: float | None = None

    @abc.abstractmethod
    def render_definition(self, context: RemoteRunContext) -> RemoteDefinition:
        """The remote definition the context's steps produce, without writing it."""

    @abc.abstractmethod
    def prepare(self, context: RemoteRunContext) -> None:
        """Create or update the remote definition (idempotent)."""

    @abc.abstractmethod
    def trigger(self, context: RemoteRunContext, attempt: int = 1) -> RemoteRunHandle:
        """Start the run and identify it.  ``attempt`` > 1 means an earlier attempt
        may have started it before its handle was stored (a restart, a timeout): use
        ``context.dispatch_token`` to find that run instead of starting a second one.
        On the first attempt there is nothing to find, and looking costs requests."""

    @abc.abstractmethod
    def observe(self, context: RemoteRunContext, handle: RemoteRunHandle) -> RemoteObservation:
        """The run's state and its jobs (one status poll)."""

    @abc.abstractmethod
    def read_log(
        self,
        context: RemoteRunContext,
        handle: RemoteRunHandle,
        job: RemoteJob,
        offset: int,
        cursor: dict[str, Any],
    ) -> LogChunk:
        """Complete lines of ``job``'s log after ``offset``."""

    @abc.abstractmethod
    def cancel(self, context: RemoteRunContext, handle: RemoteRunHandle | None) -> None:
        """Ask the tool to stop the run (a queued run is taken off the queue).
        Idempotent: stopping a finished run is not an error."""

    def cleanup(self, context: RemoteRunContext, handle: RemoteRunHandle | None) -> None:  # noqa: B027
        """Release what the run left on the tool (nothing by default)."""

    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities()


BackendFactory = Callable[[Any], RemoteBackend]


class RemoteBackendRegistry:
    """Tool type -> backend (created on first use from its factory)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.factories: dict[str, BackendFactory] = {}
        self._backends: dict[str, RemoteBackend] = {}

    def register(self, tool_type: str, factory: BackendFactory) -> None:
        self.factories[tool_type] = factory
        self._backends.pop(tool_type, None)

    def get(self, tool_type: str) -> RemoteBackend | None:
        backend = self._backends.get(tool_type)
        if backend is None:
            factory = self.factories.get(tool_type)
            if factory is None:
                return None
            backend = self._backends.setdefault(tool_type, factory(self.registry))
        return backend

    def tool_types(self) -> list[str]:
        return sorted(self.factories)


def get_remote_backends(registry: Any) -> RemoteBackendRegistry:
    """The :class:`RemoteBackendRegistry` of a Pyramid registry."""
    backends = registry.get(REGISTRY_KEY)
    if backends is None:
        backends = registry[REGISTRY_KEY] = RemoteBackendRegistry(registry)
    return backends


def add_remote_backend(config: Configurator, tool_type: str, factory: BackendFactory | str) -> None:
    """Register ``factory(registry)`` as the remote backend of ``tool_type``.

    Two plugins registering a backend for the same tool type is a configuration
    conflict at startup.
    """
    resolved = config.maybe_dotted(factory)
    if not callable(resolved):
        raise ConfigurationError(f"remote backend factory {factory!r} is not callable")
    backends = get_remote_backends(config.registry)
    config.action(
        ("ansflow.remote-backend", tool_type), backends.register, args=(tool_type, resolved)
    )


def remote_steps(spec: RunSpec, target: RemoteTarget) -> tuple[StepSpec, ...]:
    """The steps of ``spec`` that run on the tool, in order.

    ``remote``: all of them.  ``hybrid``: those marked for the tool (their
    ``conditions`` say ``"run_on": "remote"``); the others run locally.
    """
    ordered = sorted(spec.steps, key=lambda s: (s.order, s.step_id))
    if target.mode != HYBRID:
        return tuple(ordered)
    return tuple(step for step in ordered if runs_remotely(step))


def runs_remotely(step: StepSpec) -> bool:
    """Whether a step of a hybrid pipeline is marked for the tool."""
    conditions = step.config.get("conditions") or {}
    return isinstance(conditions, dict) and conditions.get("run_on") == "remote"


def match_step(steps: tuple[StepSpec, ...], name: str, index: int | None = None) -> int | None:
    """The step execution a remote job called ``name`` is: by name first, else by
    position (the ``index``-th remote step)."""
    for step in steps:
        if step.name == name or f"{step.order}-{step.name}" == name:
            return step.step_id
    if index is not None and 0 <= index < len(steps):
        return steps[index].step_id
    return None


def includeme(config: Configurator) -> None:
    get_remote_backends(config.registry)
    config.add_directive("add_remote_backend", add_remote_backend)
