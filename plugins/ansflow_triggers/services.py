"""The triggers plugin's domain services: receiving webhook deliveries, running due
schedules, validating trigger configuration and pruning history.

Services take a database session, an :class:`~ansflow_triggers.interfaces.Actor`
and their collaborators (never a request), and raise the domain exceptions of
:mod:`ansflow_triggers.interfaces`.  Views, the embedded scheduler and the prune
command call them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansflow_pipelines.models import Pipeline
from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ansflow_pyramid.db.driver_query import DriverQuery
from ansflow_pyramid.db.joining import mark_session_changed
from ansflow_pyramid.settings import as_int
from ansflow_triggers.interfaces import (
    Actor,
    Clock,
    DeliveryReplayed,
    ExecutionStarter,
    InvalidTriggerConfiguration,
    MalformedDelivery,
    PayloadTooLarge,
    PipelineNotRunnable,
    RejectedDelivery,
    RemoteRunRef,
    SignatureRejected,
    UnknownHook,
    UnsupportedMediaType,
)
from ansflow_triggers.matching import (
    cron_problem,
    glob_problem,
    last_fire_time,
    next_fire_time,
    timezone_problem,
    trigger_matches,
)
from ansflow_triggers.models import (
    MISSED_RUN_POLICIES,
    DeliveryId,
    Schedule,
    ScheduleRun,
    WebhookDelivery,
    WebhookTrigger,
)
from ansflow_triggers.sources import SOURCES, Ignored, StartRequest, StatusReport, WebhookSource

log = logging.getLogger(__name__)

MAX_DELIVERY_ID = 200


@dataclass(frozen=True)
class TriggerSettings:
    """``ansflow.webhooks.*`` and ``ansflow.scheduler_*`` settings."""

    #: Larger deliveries are refused with a 413 (the global ``ansflow.max_body_bytes``
    #: still applies first).
    max_body_bytes: int = 1024 * 1024
    #: How long an accepted delivery id is remembered (replays within it get a 409).
    replay_window: dt.timedelta = dt.timedelta(days=7)
    #: How long delivery and schedule-run history is kept by the prune command.
    history_retention: dt.timedelta = dt.timedelta(days=30)
    #: A due time found later than this is a missed run (see ``missed_runs``).
    missed_after: dt.timedelta = dt.timedelta(minutes=5)
    #: Refused deliveries recorded per trigger and minute (anyone may send them: the
    #: history must not become a way to fill the database).
    rejections_per_minute: int = 20

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TriggerSettings:
        return cls(
            max_body_bytes=as_int(settings.get("ansflow.webhooks.max_body_bytes"), 1024 * 1024),
            replay_window=dt.timedelta(
                seconds=as_int(settings.get("ansflow.webhooks.replay_window"), 7 * 86400)
            ),
            history_retention=dt.timedelta(
                days=as_int(settings.get("ansflow.webhooks.history_days"), 30)
            ),
            missed_after=dt.timedelta(
                seconds=as_int(settings.get("ansflow.scheduler_missed_after"), 300)
            ),
            rejections_per_minute=as_int(
                settings.get("ansflow.webhooks.rejections_per_minute"), 20
            ),
        )


#: ``registry[SETTINGS_KEY]``: the application's :class:`TriggerSettings`.
SETTINGS_KEY = "ansflow_triggers.settings"


def trigger_settings(registry: Any) -> TriggerSettings:
    return registry[SETTINGS_KEY]


# -- trigger configuration ------------------------------------------------------------
def check_webhook_trigger(
    source_name: str, events: Sequence[str], branches: Sequence[str], tags: Sequence[str]
) -> None:
    """Raise :class:`InvalidTriggerConfiguration` unless the fields make sense for
    ``source_name``."""
    errors: dict[str, list[str]] = {}
    source = SOURCES.get(source_name)
    if source is None:
        errors["source"] = [f"Unknown source; use one of: {', '.join(SOURCES)}."]
    elif source.trigger_events is not None:
        unknown = [e for e in events if e not in source.trigger_events]
        if unknown and not source.trigger_events:
            errors["events"] = [f"{source.name} deliveries report run status; list no events."]
        elif unknown:
            errors["events"] = [
                f"Unknown {source.name} event {e!r}; use: {', '.join(source.trigger_events)}."
                for e in unknown
            ]
    for name, patterns in (("branches", branches), ("tags", tags)):
        for index, pattern in enumerate(patterns):
            problem = glob_problem(pattern)
            if problem:
                errors[f"{name}.{index}"] = [f"The glob {problem}."]
    if errors:
        raise InvalidTriggerConfiguration("Invalid trigger.", errors=errors)


def default_events(source_name: str) -> list[str]:
    source = SOURCES.get(source_name)
    return list(source.default_events) if source is not None else []


def check_schedule(cron: str, timezone: str, missed_runs: str) -> None:
    errors: dict[str, list[str]] = {}
    problem = cron_problem(cron)
    if problem:
        errors["cron"] = [f"The cron expression {problem}."]
    problem = timezone_problem(timezone)
    if problem:
        errors["timezone"] = [problem[0].upper() + problem[1:] + "."]
    if missed_runs not in MISSED_RUN_POLICIES:
        errors["missed_runs"] = [f"Use one of: {', '.join(MISSED_RUN_POLICIES)}."]
    if errors:
        raise InvalidTriggerConfiguration("Invalid schedule.", errors=errors)


def plan_schedule(schedule: Schedule, now: dt.datetime) -> None:
    """Set ``next_run_at`` after a create or an edit: the first due time after now."""
    schedule.next_run_at = (
        next_fire_time(schedule.cron, schedule.timezone, now) if schedule.is_active else None
    )


# -- webhook deliveries ---------------------------------------------------------------
@dataclass(frozen=True)
class CandidateTrigger:
    """What verifying and matching a delivery needs of a trigger."""

    id: int
    project_id: int
    pipeline_id: int | None
    events: list[str]
    branches: list[str]
    tags: list[str]
    secret_encrypted: str


#: Built once: every delivery runs it (see DriverQuery).
CANDIDATE_TRIGGERS = DriverQuery(
    select(
        WebhookTrigger.id,
        WebhookTrigger.project_id,
        WebhookTrigger.pipeline_id,
        WebhookTrigger.events,
        WebhookTrigger.branches,
        WebhookTrigger.tags,
        WebhookTrigger.secret_encrypted,
    )
    .where(
        WebhookTrigger.source == bindparam("source"),
        WebhookTrigger.is_active.is_(True),
        or_(
            WebhookTrigger.repository == "",
            func.lower(WebhookTrigger.repository) == bindparam("repository"),
        ),
    )
    .order_by(WebhookTrigger.id)
)

RECORD_DELIVERY = insert(WebhookDelivery.__table__)

_CLAIM_STATEMENTS: dict[str, Any] = {}


def claim_delivery_id_statement(dialect_name: str) -> Any:
    """``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` the stored id has expired: one
    row changed means the delivery id is ours (SQLite and PostgreSQL both speak it)."""
    statement = _CLAIM_STATEMENTS.get(dialect_name)
    if statement is None:
        dialect_insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
        values = dialect_insert(DeliveryId).values(
            source=bindparam("source"),
            delivery_id=bindparam("delivery_id"),
            received_at=bindparam("received_at"),
        )
        statement = _CLAIM_STATEMENTS[dialect_name] = values.on_conflict_do_update(
            index_elements=[DeliveryId.source, DeliveryId.delivery_id],
            set_={"received_at": values.excluded.received_at},
            where=DeliveryId.received_at < bindparam("cutoff"),
        ).returning(DeliveryId.delivery_id)
    return statement


@dataclass
class DeliveryOutcome:
    """What an accepted delivery did (the body of the 202)."""

    source: str
    event: str
    delivery_id: str
    effect: str  # "started", "nudged" or "ignored"
    executions: list[int] = field(default_factory=list)
    nudged: list[int] = field(default_factory=list)
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "accepted",
            "source": self.source,
            "event": self.event,
            "delivery_id": self.delivery_id,
            "effect": self.effect,
            "executions": self.executions,
            "nudged": self.nudged,
            "reason": self.reason,
        }


class RemoteRuns:
    """Finding and nudging remote runs (see :mod:`ansflow_triggers.remote`)."""

    def __init__(
        self,
        locate: Callable[[Session, RemoteRunRef, Sequence[int]], list[int]],
        nudge_after_commit: Callable[[Session, Sequence[int]], None],
    ) -> None:
        self.locate = locate
        self.nudge_after_commit = nudge_after_commit


class WebhookService:
    """Verifies deliveries, refuses replays and starts or nudges what they concern."""

    def __init__(
        self,
        dbsession: Session,
        actor: Actor,
        *,
        decrypt: Callable[[str], str],
        start: ExecutionStarter,
        remote_runs: RemoteRuns,
        settings: TriggerSettings,
        clock: Clock,
    ) -> None:
        self.dbsession = dbsession
        self.actor = actor
        self.decrypt = decrypt
        self.start = start
        self.remote_runs = remote_runs
        self.settings = settings
        self.clock = clock

    # -- the checks, in the order a client can fix them ---------------------------------
    def check_envelope(self, source: WebhookSource, content_type: str, length: int | None) -> None:
        """Refuse by size and media type before the body is read."""
        if length is not None and length > self.settings.max_body_bytes:
            raise PayloadTooLarge(
                f"Deliveries are limited to {self.settings.max_body_bytes} bytes."
            )
        media_type = content_type.split(";")[0].strip().lower()
        if media_type != "application/json":
            raise UnsupportedMediaType(
                f"Unsupported media type {media_type or 'none'!r}: configure the {source.name} "
                "webhook to send application/json."
            )

    def receive(
        self, source_name: str, headers: Mapping[str, str], body: bytes, content_type: str
    ) -> DeliveryOutcome:
        """Handle one delivery, or raise a :class:`DeliveryRejected` that changed nothing."""
        source = SOURCES[source_name]
        self.check_envelope(source, content_type, len(body))
        delivery_id = source.delivery_id(headers)
        if not delivery_id:
            raise MalformedDelivery(
                f"The {source.delivery_header} header is missing.", code="delivery_id_missing"
            )
        if len(delivery_id) > MAX_DELIVERY_ID or not delivery_id.isprintable():
            raise MalformedDelivery(f"The {source.delivery_header} header is not a delivery id.")
        payload = parse_payload(body)
        event = source.event(headers, payload)
        if not event:
            raise MalformedDelivery("The delivery names no event.", code="event_missing")
        repository = source.repository(payload)
        candidates = self.candidate_triggers(source.name, repository)
        if not candidates:
            raise UnknownHook(
                f"No active {source.name} trigger is configured for repository {repository!r}."
            )

        def rejections(
            triggers: list[CandidateTrigger], error: str, signature_valid: bool = False
        ) -> list[RejectedDelivery]:
            return [
                RejectedDelivery(
                    trigger_id=t.id,
                    project_id=t.project_id,
                    pipeline_id=t.pipeline_id,
                    source=source.name,
                    event=event[:100],
                    delivery_id=delivery_id,
                    error=error,
                    signature_valid=signature_valid,
                    summary={"repository": repository},
                )
                for t in triggers
            ]

        signature = source.signature(headers)
        if not signature:
            message = f"The {source.signature_header} header is missing."
            raise SignatureRejected(
                message, code="signature_missing", rejections=rejections(candidates, message)
            )
        verified = [t for t in candidates if self.verifies(source, t, body, signature)]
        if not verified:
            message = f"The {source.signature_header} header does not match any trigger's secret."
            raise SignatureRejected(message, rejections=rejections(candidates, message))
        if not self.accept_once(source.name, delivery_id):
            message = f"Delivery {delivery_id!r} was received already."
            raise DeliveryReplayed(message, rejections=rejections(verified, message, True))

        meaning = source.interpret(event, payload)
        if isinstance(meaning, StartRequest):
            return self.start_matching(source, delivery_id, repository, meaning, verified)
        if isinstance(meaning, StatusReport):
            return self.nudge_runs(source, event, delivery_id, meaning, verified)
        assert isinstance(meaning, Ignored)
        for trigger in verified:
            self.record(trigger, source, event, delivery_id, summary={"ignored": meaning.reason})
        return DeliveryOutcome(source.name, event, delivery_id, "ignored", reason=meaning.reason)

    def candidate_triggers(self, source_name: str, repository: str) -> list[CandidateTrigger]:
        """Active triggers of ``source_name`` for ``repository`` (or for any)."""
        rows = CANDIDATE_TRIGGERS.rows(
            self.dbsession, {"source": source_name, "repository": repository.lower()}
        )
        return [CandidateTrigger(*row) for row in rows]

    def verifies(
        self, source: WebhookSource, trigger: CandidateTrigger, body: bytes, signature: str
    ) -> bool:
        try:
            secret = self.decrypt(trigger.secret_encrypted)
        except ValueError:
            log.warning("webhook trigger %s: its secret cannot be decrypted", trigger.id)
            return False
        return source.verify(secret, body, signature)

    def accept_once(self, source_name: str, delivery_id: str) -> bool:
        """Remember ``delivery_id``; False when it was accepted within the window.

        One upsert decides between concurrent copies: the first insert wins, and the
        others find the id taken (on PostgreSQL they wait for the first to commit),
        all in the transaction that creates the delivery's executions.  An id older
        than the window is taken over instead.
        """
        now = self.clock()
        statement = claim_delivery_id_statement(self.dbsession.get_bind().dialect.name)
        # A Core statement on the session's connection: the transaction must be told
        # it wrote, or it would roll back.  RETURNING, as psycopg reports no rowcount
        # for upserts.
        mark_session_changed(self.dbsession)
        written = (
            self.dbsession.connection()
            .execute(
                statement,
                {
                    "source": source_name,
                    "delivery_id": delivery_id,
                    "received_at": now,
                    "cutoff": now - self.settings.replay_window,
                },
            )
            .first()
        )
        return written is not None

    # -- effects ----------------------------------------------------------------------------
    def start_matching(
        self,
        source: WebhookSource,
        delivery_id: str,
        repository: str,
        request: StartRequest,
        verified: list[CandidateTrigger],
    ) -> DeliveryOutcome:
        trigger_data: dict[str, Any] = {
            "source": source.name,
            "event": request.event,
            "delivery_id": delivery_id,
            "repository": repository,
            "ref": request.ref,
            "commit": request.commit,
            "sender": request.sender,
            "branch": request.branch,
            "tag": request.tag,
            **request.extra,
        }
        started: dict[int, int] = {}
        for trigger in verified:
            matched = trigger.pipeline_id is not None and trigger_matches(
                trigger.events or default_events(source.name),
                trigger.branches,
                trigger.tags,
                request,
            )
            execution_id, error = None, ""
            if matched and trigger.pipeline_id in started:
                execution_id = started[trigger.pipeline_id]
            elif matched:
                pipeline = self.dbsession.get(Pipeline, trigger.pipeline_id)
                try:
                    execution_id = self.start(
                        self.dbsession,
                        pipeline,
                        trigger_type="webhook",
                        trigger_data=trigger_data,
                        parameters={},
                        actor=self.actor,
                    )
                    started[trigger.pipeline_id] = execution_id
                except PipelineNotRunnable as refusal:
                    error = refusal.detail
            self.record(
                trigger,
                source,
                request.event,
                delivery_id,
                matched=matched,
                execution_id=execution_id,
                error=error,
                summary={
                    key: trigger_data[key]
                    for key in ("repository", "ref", "commit", "sender")
                    if trigger_data[key]
                },
            )
        executions = sorted(set(started.values()))
        return DeliveryOutcome(
            source.name,
            request.event,
            delivery_id,
            "started" if executions else "ignored",
            executions=executions,
            reason="" if executions else "no trigger matches this event and ref",
        )

    def nudge_runs(
        self,
        source: WebhookSource,
        event: str,
        delivery_id: str,
        report: StatusReport,
        verified: list[CandidateTrigger],
    ) -> DeliveryOutcome:
        projects = sorted({t.project_id for t in verified})
        found = self.remote_runs.locate(self.dbsession, report.ref, projects)
        self.remote_runs.nudge_after_commit(self.dbsession, found)
        summary = {
            "run_ids": list(report.ref.run_ids),
            "remote_status": report.ref.status,
            "nudged": found,
        }
        for trigger in verified:
            self.record(trigger, source, event, delivery_id, matched=bool(found), summary=summary)
        return DeliveryOutcome(
            source.name,
            event,
            delivery_id,
            "nudged" if found else "ignored",
            nudged=found,
            reason="" if found else "no active execution observes this run",
        )

    def record(
        self,
        trigger: CandidateTrigger,
        source: WebhookSource,
        event: str,
        delivery_id: str,
        *,
        matched: bool = False,
        execution_id: int | None = None,
        error: str = "",
        summary: dict[str, Any] | None = None,
    ) -> None:
        # The table, not the ORM entity: a plain INSERT, without the ORM's bulk machinery.
        mark_session_changed(self.dbsession)
        self.dbsession.connection().execute(
            RECORD_DELIVERY,
            {
                "project_id": trigger.project_id,
                "trigger_id": trigger.id,
                "pipeline_id": trigger.pipeline_id,
                "source": source.name,
                "event": event[:100],
                "delivery_id": delivery_id,
                "received_at": self.clock(),
                "signature_valid": True,
                "matched": matched,
                "execution_id": execution_id,
                "summary": summary or {},
                "error": error,
            },
        )


def parse_payload(body: bytes) -> dict[str, Any]:
    """The delivery's JSON object; :class:`MalformedDelivery` otherwise."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedDelivery("The delivery is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise MalformedDelivery("The delivery must be a JSON object.")
    return payload


def record_rejected_deliveries(
    dbsession: Session,
    rejections: Sequence[RejectedDelivery],
    now: dt.datetime,
    per_minute: int,
) -> None:
    """Add refused deliveries to their triggers' history (in a transaction of their
    own: the request's was aborted), at most ``per_minute`` per trigger and minute."""
    recent = dict(
        dbsession.execute(
            select(WebhookDelivery.trigger_id, func.count())
            .where(
                WebhookDelivery.trigger_id.in_([r.trigger_id for r in rejections]),
                WebhookDelivery.received_at > now - dt.timedelta(minutes=1),
                WebhookDelivery.matched.is_(False),
                WebhookDelivery.error != "",
            )
            .group_by(WebhookDelivery.trigger_id)
        ).all()
    )
    for rejection in rejections:
        if recent.get(rejection.trigger_id, 0) >= per_minute:
            continue
        dbsession.add(
            WebhookDelivery(
                project_id=rejection.project_id,
                trigger_id=rejection.trigger_id,
                pipeline_id=rejection.pipeline_id,
                source=rejection.source,
                event=rejection.event,
                delivery_id=rejection.delivery_id[:MAX_DELIVERY_ID],
                received_at=now,
                signature_valid=rejection.signature_valid,
                matched=False,
                summary=rejection.summary,
                error=rejection.error,
            )
        )


# -- schedules ------------------------------------------------------------------------
@dataclass(frozen=True)
class ScheduleOutcome:
    schedule_id: int
    due_at: dt.datetime
    outcome: str  # "started", "skipped" or "failed"
    execution_id: int | None = None
    error: str = ""


class ScheduleService:
    """Runs due schedules, each due time at most once however many schedulers run.

    Missed runs (a due time found more than ``missed_after`` late, e.g. because no
    scheduler ran): ``skip`` records the due time as skipped and waits for the next
    one; ``catch_up_once`` starts one run for all the missed due times, then waits for
    the next one.  Either way nothing runs twice and no backlog piles up.
    """

    def __init__(
        self,
        dbsession: Session,
        actor: Actor,
        *,
        start: ExecutionStarter,
        settings: TriggerSettings,
        claimer: str,
    ) -> None:
        self.dbsession = dbsession
        self.actor = actor
        self.start = start
        self.settings = settings
        self.claimer = claimer

    def due_schedule_ids(self, now: dt.datetime) -> list[int]:
        return list(
            self.dbsession.scalars(
                select(Schedule.id)
                .where(Schedule.is_active.is_(True), Schedule.next_run_at <= now)
                .order_by(Schedule.next_run_at, Schedule.id)
            )
        )

    def run_due(self, schedule_id: int, now: dt.datetime) -> ScheduleOutcome | None:
        """Claim and run the stored due time of one schedule; None when it is not due
        or another scheduler claimed it."""
        schedule = self.dbsession.get(Schedule, schedule_id)
        if schedule is None or not schedule.is_active or schedule.next_run_at is None:
            return None
        due = schedule.next_run_at
        if due > now:
            return None
        # The claim is keyed by the stored due time, which every scheduler reads the
        # same, whatever its clock says: one claim per due time, database-enforced.
        claim = ScheduleRun(
            schedule_id=schedule.id, due_at=due, claimed_at=now, claimed_by=self.claimer[:200]
        )
        try:
            with self.dbsession.begin_nested():
                self.dbsession.add(claim)
        except IntegrityError:
            return None
        missed = now - due > self.settings.missed_after
        outcome = ScheduleOutcome(schedule.id, due, "skipped")
        if not missed or schedule.missed_runs == "catch_up_once":
            fire_time = last_fire_time(schedule.cron, schedule.timezone, now) if missed else due
            outcome = self._start(schedule, due, fire_time, missed)
        claim.outcome = outcome.outcome
        claim.execution_id = outcome.execution_id
        claim.error = outcome.error
        # Conditional: an edit of the schedule in between planned its own next run.
        self.dbsession.execute(
            update(Schedule)
            .where(Schedule.id == schedule.id, Schedule.next_run_at == due)
            .values(
                next_run_at=next_fire_time(schedule.cron, schedule.timezone, max(now, due)),
                last_run_at=due if outcome.outcome == "started" else schedule.last_run_at,
            )
            .execution_options(synchronize_session=False)
        )
        self.dbsession.flush()
        return outcome

    def _start(
        self, schedule: Schedule, due: dt.datetime, fire_time: dt.datetime, missed: bool
    ) -> ScheduleOutcome:
        pipeline = self.dbsession.get(Pipeline, schedule.pipeline_id)
        trigger_data = {
            "schedule_id": schedule.id,
            "cron": schedule.cron,
            "timezone": schedule.timezone,
            "scheduled_for": fire_time.isoformat(),
            "caught_up": missed,
        }
        try:
            execution_id = self.start(
                self.dbsession,
                pipeline,
                trigger_type="schedule",
                trigger_data=trigger_data,
                parameters=dict(schedule.parameters or {}),
                actor=self.actor,
            )
        except PipelineNotRunnable as refusal:
            return ScheduleOutcome(schedule.id, due, "failed", error=refusal.detail)
        return ScheduleOutcome(schedule.id, due, "started", execution_id=execution_id)


# -- pruning --------------------------------------------------------------------------
def prune_trigger_history(
    dbsession: Session, now: dt.datetime, settings: TriggerSettings
) -> dict[str, int]:
    """Forget delivery ids older than the replay window and history older than the
    retention; returns what was removed by kind."""
    ledger = dbsession.execute(
        delete(DeliveryId).where(DeliveryId.received_at < now - settings.replay_window)
    ).rowcount
    cutoff = now - settings.history_retention
    deliveries = dbsession.execute(
        delete(WebhookDelivery).where(WebhookDelivery.received_at < cutoff)
    ).rowcount
    runs = dbsession.execute(delete(ScheduleRun).where(ScheduleRun.claimed_at < cutoff)).rowcount
    return {"delivery ids": ledger, "webhook deliveries": deliveries, "schedule runs": runs}
