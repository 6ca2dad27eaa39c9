"""What the triggers plugin's services work with: actors, a clock, the domain
exceptions they raise, and the hook points other plugins fill in.

Services never see a request: they take a database session, an :class:`Actor` and
the collaborators below, and report refusals by raising :class:`TriggerError`
subclasses, which the plugin's exception view renders as JSON errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

#: A source of "now" (timezone-aware UTC); tests pass a controllable one.
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (``user_id``) or the system on behalf of a source (``name``)."""

    name: str
    user_id: int | None = None

    @classmethod
    def system(cls, name: str) -> Actor:
        """The system acting for ``name`` (``"webhook:github"``, ``"scheduler"``)."""
        return cls(name=name, user_id=None)


# -- domain exceptions ---------------------------------------------------------------
class TriggerError(Exception):
    """A refusal the API reports as ``{"detail", "code"}`` with :attr:`status`."""

    status = 400
    code = "invalid"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.errors = dict(errors) if errors else None


class InvalidTriggerConfiguration(TriggerError):
    """A trigger or schedule that does not validate (field-level ``errors``)."""

    status = 400
    code = "invalid"


class PipelineNotRunnable(TriggerError):
    """The pipeline cannot start (inactive)."""

    status = 409
    code = "pipeline_inactive"


class DeliveryRejected(TriggerError):
    """A webhook delivery refused before it had any effect.

    ``rejections`` lists the triggers the delivery claimed to be for, so the refusal
    can be recorded in their delivery history (outside the aborted transaction).
    """

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        rejections: Sequence[RejectedDelivery] = (),
    ) -> None:
        super().__init__(detail, code=code)
        self.rejections = tuple(rejections)


class PayloadTooLarge(DeliveryRejected):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(DeliveryRejected):
    status = 415
    code = "unsupported_media_type"


class MalformedDelivery(DeliveryRejected):
    status = 400
    code = "malformed_delivery"


class UnknownHook(DeliveryRejected):
    status = 404
    code = "unknown_hook"


class SignatureRejected(DeliveryRejected):
    """A missing (``signature_missing``) or wrong (``signature_invalid``) signature."""

    status = 401
    code = "signature_invalid"


class DeliveryReplayed(DeliveryRejected):
    status = 409
    code = "delivery_replayed"


@dataclass(frozen=True)
class RejectedDelivery:
    """A refused delivery as its trigger's history shows it."""

    trigger_id: int
    project_id: int
    pipeline_id: int | None
    source: str
    event: str
    delivery_id: str
    error: str
    signature_valid: bool = False
    summary: dict[str, Any] = field(default_factory=dict)


# -- hook points ---------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteRunRef:
    """The remote run a status delivery concerns, as the tool names it.

    :param tool_type: ``github_actions``, ``gitlab_ci`` or ``jenkins``.
    :param run_ids: the identifiers the tool may be known by (a GitHub run id, a
        GitLab pipeline id, ``job#number`` and the build URL for Jenkins).
    :param repository: the repository or job the run belongs to.
    :param job: the remote job's name where the tool names runs by job (Jenkins).
    :param status: the tool's own word for the run's state (informative only: the
        observer reads the authoritative state from the tool).
    """

    tool_type: str
    run_ids: tuple[str, ...]
    repository: str = ""
    status: str = ""
    job: str = ""


class RemoteRunLocator(Protocol):
    def __call__(
        self, dbsession: Session, ref: RemoteRunRef, project_ids: Sequence[int]
    ) -> list[int]:
        """Ids of the active executions, in ``project_ids``, observing run ``ref``."""


class RemoteRunNudger(Protocol):
    def __call__(self, registry: Any, execution_id: int) -> bool:
        """Make the observation of ``execution_id``'s remote run due now; False when
        it has no active remote run."""


class ExecutionStarter(Protocol):
    def __call__(
        self,
        dbsession: Session,
        pipeline: Any,
        *,
        trigger_type: str,
        trigger_data: dict[str, Any],
        parameters: dict[str, Any],
        actor: Actor,
    ) -> int:
        """Create a pending execution of ``pipeline`` (run after the commit); its id.

        Raises :class:`PipelineNotRunnable` when the pipeline cannot run.
        """
