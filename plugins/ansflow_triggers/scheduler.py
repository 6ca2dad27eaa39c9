"""The schedule runner embedded in every serving process (``ansflow.scheduler``).

Every ``ansflow.scheduler_interval`` seconds (10 by default) a daemon thread asks for
the schedules whose stored due time has passed and runs each through
:meth:`ScheduleService.run_due`, one short transaction per schedule.  Any number of
processes may do this at once - several servers, with or without RQ workers - because
a due time is claimed by inserting a ``(schedule, due time)`` row under a unique
constraint: the first process to insert runs it, every other one skips it.  No Redis
lock is needed for that guarantee, so it holds on the embedded default too.

``tick(now)`` is the whole algorithm and takes the time as an argument, so tests
drive it with a controllable clock.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from pyramid.events import ApplicationCreated
from sqlalchemy.exc import SQLAlchemyError

from ansflow_pyramid.db import session_scope
from ansflow_pyramid.settings import as_int
from ansflow_triggers.clock import get_clock
from ansflow_triggers.executions import start_pipeline
from ansflow_triggers.interfaces import Actor, Clock, ExecutionStarter
from ansflow_triggers.services import (
    ScheduleOutcome,
    ScheduleService,
    TriggerSettings,
    trigger_settings,
)

log = logging.getLogger(__name__)

ACTOR = Actor.system("scheduler")
SCHEDULER_MODES = ("embedded", "off")
#: ``registry[SCHEDULER_KEY]``: the application's :class:`Scheduler`, once started.
SCHEDULER_KEY = "ansflow_triggers.scheduler"


class Scheduler:
    """Runs due schedules; :meth:`start` runs :meth:`tick` every ``interval`` seconds."""

    def __init__(
        self,
        session_factory: Any,
        start: ExecutionStarter,
        settings: TriggerSettings,
        clock: Clock,
        interval: float = 10.0,
        name: str | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.start_pipeline = start
        self.settings = settings
        self.clock = clock
        self.interval = interval
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def service(self, dbsession: Any) -> ScheduleService:
        return ScheduleService(
            dbsession,
            ACTOR,
            start=self.start_pipeline,
            settings=self.settings,
            claimer=self.name,
        )

    def tick(self, now: Any = None) -> list[ScheduleOutcome]:
        """Run every schedule due at ``now`` (the clock's time by default)."""
        now = self.clock() if now is None else now
        with session_scope(self.session_factory) as dbsession:
            due = self.service(dbsession).due_schedule_ids(now)
        outcomes = []
        for schedule_id in due:
            try:
                with session_scope(self.session_factory) as dbsession:
                    outcome = self.service(dbsession).run_due(schedule_id, now)
            except SQLAlchemyError:
                # Another scheduler's claim committed while this one waited for it
                # (PostgreSQL), or the database blinked: the next tick looks again.
                log.info("schedule %s: not run by this tick", schedule_id, exc_info=True)
                continue
            if outcome is not None:
                log.info("schedule %s due %s: %s", schedule_id, outcome.due_at, outcome.outcome)
                outcomes.append(outcome)
        return outcomes

    # -- the background thread -------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ansflow-scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # no tables yet, database down: try again next time
                log.warning("scheduler tick failed", exc_info=True)


def build_scheduler(registry: Any) -> Scheduler:
    """A scheduler for this application (tests build their own and call ``tick``)."""

    def start(dbsession: Any, pipeline: Any, **options: Any) -> int:
        return start_pipeline(dbsession, registry, pipeline, **options)

    return Scheduler(
        registry["dbsession_factory"],
        start,
        trigger_settings(registry),
        clock=get_clock(registry),
        interval=float(as_int(registry.settings.get("ansflow.scheduler_interval"), 10)),
    )


def start_scheduler(event: ApplicationCreated) -> None:
    """Start the embedded scheduler of a serving process (``ansflow.scheduler``)."""
    registry = event.app.registry
    if str(registry.settings.get("ansflow.scheduler") or "embedded") != "embedded":
        return
    scheduler = registry.get(SCHEDULER_KEY)
    if scheduler is None:
        scheduler = registry[SCHEDULER_KEY] = build_scheduler(registry)
    scheduler.start()
