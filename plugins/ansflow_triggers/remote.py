"""Status deliveries nudge the observation of the remote run they concern.

Two hook points, filled in by the plugins that run pipelines on CI tools:

* ``config.add_remote_run_locator(locator)``: finds the executions observing a
  remote run (:class:`~ansflow_triggers.interfaces.RemoteRunLocator`).  Every
  registered locator is asked; the built-in one matches the execution's own
  ``external_id`` (the id the tool gave the run) on a tool of the right type.
* ``config.set_remote_run_nudger(nudger)``: makes a run's observation due now
  (:class:`~ansflow_triggers.interfaces.RemoteRunNudger`).  The default is the core
  observation scheduler's :func:`~ansflow_pyramid.execution.remote_scheduler.nudge_remote_run`,
  which wakes whichever process observes the run.

Runs observed by the core's remote execution scheduler are found through the
``ansflow_remote`` plugin's table (:func:`executions_by_remote_run`): by the id the
tool gave the run, and also by job name - the Jenkins job, the GitHub workflow file - as
a delivery may arrive before the observer has learnt the run's id (from the Jenkins queue,
from the list of dispatched workflow runs).  Runs of a tool's default job store no job
name and are nudged too: at worst one early poll.

A delivery only reaches runs of the projects whose trigger secret verified it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ansflow_cicd.models import Execution, Tool
from ansflow_remote.models import RemoteRunRecord
from pyramid.config import Configurator
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ansflow_pyramid.execution.remote_scheduler import nudge_remote_run
from ansflow_triggers.interfaces import RemoteRunLocator, RemoteRunNudger, RemoteRunRef

log = logging.getLogger(__name__)

LOCATORS_KEY = "ansflow_triggers.remote_run_locators"
NUDGER_KEY = "ansflow_triggers.remote_run_nudger"
ACTIVE_STATUSES = ("pending", "running")


def executions_by_external_id(
    dbsession: Session, ref: RemoteRunRef, project_ids: Sequence[int]
) -> list[int]:
    """Active executions of ``project_ids`` on a ``ref.tool_type`` tool whose
    ``external_id`` is one of ``ref.run_ids``."""
    if not project_ids or not ref.run_ids:
        return []
    query = (
        select(Execution.id)
        .join(Tool, Tool.id == Execution.cicd_tool_id)
        .where(
            Execution.project_id.in_(list(project_ids)),
            Execution.status.in_(ACTIVE_STATUSES),
            Execution.external_id.in_(list(ref.run_ids)),
            Tool.tool_type == ref.tool_type,
        )
        .order_by(Execution.id)
    )
    return list(dbsession.scalars(query))


def executions_by_remote_run(
    dbsession: Session, ref: RemoteRunRef, project_ids: Sequence[int]
) -> list[int]:
    """Active executions of ``project_ids`` whose observed remote run is ``ref``."""
    if not project_ids:
        return []
    names_run = [RemoteRunRecord.external_id.in_(list(ref.run_ids))] if ref.run_ids else []
    if ref.job:
        # A run of the tool's default job stores no job name (the backend derives it):
        # it may be the one; nudging a run that is not costs one early poll.
        names_run.append(RemoteRunRecord.job_name.in_((ref.job, "")))
    if not names_run:
        return []
    query = (
        select(RemoteRunRecord.execution_id)
        .join(Execution, Execution.id == RemoteRunRecord.execution_id)
        .where(
            Execution.project_id.in_(list(project_ids)),
            Execution.status.in_(ACTIVE_STATUSES),
            and_(RemoteRunRecord.tool_type == ref.tool_type, or_(*names_run)),
        )
        .order_by(RemoteRunRecord.execution_id)
    )
    return list(dbsession.scalars(query))


def add_remote_run_locator(config: Configurator, locator: RemoteRunLocator) -> None:
    """Ask ``locator`` too which executions observe the run a status delivery names."""

    def register() -> None:
        config.registry.setdefault(LOCATORS_KEY, []).append(locator)

    config.action(None, register)


def set_remote_run_nudger(config: Configurator, nudger: RemoteRunNudger) -> None:
    """Use ``nudger`` to make observations due now (one per application)."""

    def register() -> None:
        config.registry[NUDGER_KEY] = nudger

    config.action(("ansflow_triggers.remote-run-nudger",), register)


def locate_remote_runs(
    registry: Any, dbsession: Session, ref: RemoteRunRef, project_ids: Sequence[int]
) -> list[int]:
    found: set[int] = set(executions_by_external_id(dbsession, ref, project_ids))
    for locator in registry.get(LOCATORS_KEY, ()):
        found.update(locator(dbsession, ref, project_ids))
    return sorted(found)


def nudge_after_commit(registry: Any, dbsession: Session, execution_ids: Sequence[int]) -> None:
    """Nudge the observation of ``execution_ids`` once the delivery is committed."""
    nudger: RemoteRunNudger = registry.get(NUDGER_KEY, nudge_remote_run)
    if not execution_ids:
        return
    from ansflow_pyramid.db import MANAGER_KEY

    def nudge_all(committed: bool = True) -> None:
        if not committed:
            return
        for execution_id in execution_ids:
            try:
                nudger(registry, execution_id)
            except Exception:  # the next poll still observes it
                log.warning("nudging execution %s failed", execution_id, exc_info=True)

    manager = dbsession.info.get(MANAGER_KEY)
    current = manager.get() if manager is not None else None
    if current is None:
        nudge_all()
    else:
        current.addAfterCommitHook(nudge_all)


def includeme(config: Configurator) -> None:
    config.include("ansflow_remote")
    config.add_directive("add_remote_run_locator", add_remote_run_locator)
    config.add_directive("set_remote_run_nudger", set_remote_run_nudger)
    config.add_remote_run_locator(executions_by_remote_run)
