"""The contracts of the cicd plugin's domain logic.

:class:`IExecutionService` is what views, the engine's store and any other caller
(a webhook, a command) use to change executions; it takes a database session and an
:class:`~ansflow_projects.interfaces.Actor`, never a request.  It reports refusals by
raising the exceptions below, which the plugin's exception views render as the JSON
errors clients know (``{"detail", "code", "errors"?}``); the service knows nothing of
HTTP.  Work that must wait for the commit (handing a run to the engine, telling a
running engine to stop, announcing a state change) goes through an
:class:`ExecutionEffects` the caller supplies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from zope.interface import Attribute, Interface


# -- domain exceptions ------------------------------------------------------------
class ExecutionError(Exception):
    """A request the execution rules refuse.  ``code`` is the stable error code."""

    code = "invalid_state"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class InvalidTransition(ExecutionError):
    """The execution's state does not allow it (cancel a finished run, retry a running one)."""

    code = "invalid_state"

    def __init__(self, detail: str, *, execution_id: int, status: str) -> None:
        super().__init__(detail)
        self.execution_id = execution_id
        self.status = status


class PipelineInactive(ExecutionError):
    """An inactive pipeline cannot run."""

    code = "pipeline_inactive"

    def __init__(self, pipeline_id: int) -> None:
        super().__init__("The pipeline is inactive and cannot run.")
        self.pipeline_id = pipeline_id


class ExecutionNotFound(ExecutionError):
    """No execution with that id exists (or the actor may not see it)."""

    code = "not_found"

    def __init__(self, execution_id: int) -> None:
        super().__init__("Not found.")
        self.execution_id = execution_id


class InvalidReference(ExecutionError):
    """A referenced row (a pipeline, a tool) is missing, invisible or does not fit.

    ``errors`` names the input field, as validation errors do.
    """

    code = "invalid"

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        super().__init__("Invalid input.")
        self.errors = dict(errors)


# -- what callers supply ----------------------------------------------------------
class ExecutionEffects(Protocol):
    """Work a service asks for once its transaction commits (never before: a run must
    not start, nor an event announce a state, that a rollback would undo)."""

    def submit(self, execution_id: int) -> None:
        """Hand a new pending execution to the engine."""

    def cancel(self, execution_id: int, by: str) -> None:
        """Tell the engine running ``execution_id`` to stop it."""

    def publish(self, event: Any) -> None:
        """Announce an :class:`~ansflow_pyramid.execution.ExecutionEvent`."""


class IExecutionService(Interface):
    """Executions' life: create, cancel, retry, the state machine and statistics.

    States: ``pending -> running -> success | failed | cancelled | timeout``; a pending
    run may be cancelled at once, a running one is flagged ``cancel_requested`` and
    ended by its engine.  Every transition is one conditional ``UPDATE`` (so racing
    requests and the engine cannot both win), and mirrors the new state on the
    pipeline unless a newer execution of it exists.
    """

    dbsession = Attribute("The SQLAlchemy session the service works in.")
    actor = Attribute("The Actor the service acts for.")

    def create(
        pipeline: Any,  # noqa: N805
        *,
        tool_id: int | None,
        trigger_type: str,
        parameters: dict[str, Any],
        trigger_data: dict[str, Any] | None,
        tool_field: str,
    ) -> Any:
        """A new pending execution of ``pipeline`` (snapshot of its definition and one
        pending step execution per step); raises PipelineInactive, InvalidReference."""

    def cancel(execution: Any) -> Any:  # noqa: N805
        """Cancel a pending (at once) or running (by its engine) execution; raises
        InvalidTransition once it has finished."""

    def retry(execution: Any) -> Any:  # noqa: N805
        """A new pending execution with ``execution``'s definition and parameters,
        linked to it by ``retry_of``; raises InvalidTransition unless it has finished."""

    def statistics(
        days: int,  # noqa: N805 *, project_id: int | None = None, pipeline_id: int | None = None
    ) -> dict[str, Any]:
        """Counts by status, success rate and average duration of the last ``days``
        days, over the executions the actor may see."""
