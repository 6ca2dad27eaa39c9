"""The analytics service: dashboard figures about executions, computed in SQL.

Shows: a service that takes a database session and a actor (never a request), so
views, commands and tests call the same code; visibility applied in the query (an
outsider's figures never include another project's executions); and aggregates that
run the same on SQLite and PostgreSQL (days are UTC calendar days on both).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ansflow_cicd.models import Execution
from ansflow_pipelines.models import Pipeline
from ansflow_projects.acl import restrict_to_visible_for
from ansflow_projects.interfaces import Actor
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, aliased

from ansflow_analytics.interfaces import days_of
from ansflow_pyramid.db import utcnow
from ansflow_pyramid.identity import User

#: Executions whose duration counts in averages: those that ran to an end of their own.
TIMED_STATUSES = ("success", "failed", "timeout")


def duration_seconds(dialect: str) -> Any:
    """SQL for ``completed_at - started_at`` in seconds on this database."""
    if dialect == "postgresql":
        return func.extract("epoch", Execution.completed_at - Execution.started_at)
    return (func.julianday(Execution.completed_at) - func.julianday(Execution.started_at)) * 86400.0


def utc_day(column: Any, dialect: str) -> Any:
    """SQL for the UTC calendar day of a timestamp column."""
    if dialect == "postgresql":
        # date() of a timestamptz would use the session's time zone.
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores naive UTC


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def whole_seconds(value: Any) -> int:
    return round(float(value)) if value is not None else 0


class AnalyticsService:
    """Figures for ``actor`` (see :class:`ansflow_analytics.interfaces.IAnalyticsService`)."""

    def __init__(self, dbsession: Session, actor: Actor) -> None:
        self.dbsession = dbsession
        self.actor = actor
        self.dialect = dbsession.get_bind().dialect.name

    # -- building blocks -------------------------------------------------------------
    def _visible(self, query: Select[Any]) -> Select[Any]:
        return restrict_to_visible_for(self.actor, query, Execution.project_id)

    def _count(self, *statuses: str) -> Any:
        return func.coalesce(func.sum(case((Execution.status.in_(statuses), 1), else_=0)), 0)

    def _timed(self) -> Any:
        """The duration of executions that ran to an end, else NULL (AVG skips it)."""
        return case(
            (
                Execution.status.in_(TIMED_STATUSES)
                & Execution.started_at.is_not(None)
                & Execution.completed_at.is_not(None),
                duration_seconds(self.dialect),
            ),
            else_=None,
        )

    # -- figures ---------------------------------------------------------------------------
    def execution_stats(self, time_range: str, now: dt.datetime | None = None) -> dict[str, Any]:
        since = (now or utcnow()) - dt.timedelta(days=days_of(time_range))
        timed = self._timed()
        row = self.dbsession.execute(
            self._visible(
                select(
                    func.count().label("total"),
                    self._count("success").label("success"),
                    self._count("failed").label("failed"),
                    self._count("running").label("running"),
                    self._count("pending").label("pending"),
                    self._count("cancelled").label("cancelled"),
                    self._count("timeout").label("timeout"),
                    func.avg(timed).label("average"),
                    func.sum(timed).label("total_duration"),
                ).where(Execution.created_at >= since)
            )
        ).one()
        total = int(row.total)
        return {
            "time_range": time_range,
            "since": since,
            "total_executions": total,
            "successful_executions": int(row.success),
            "failed_executions": int(row.failed),
            "running_executions": int(row.running),
            "pending_executions": int(row.pending),
            "cancelled_executions": int(row.cancelled),
            "timeout_executions": int(row.timeout),
            "success_rate": percent(int(row.success), total),
            "avg_duration": whole_seconds(row.average),
            "total_duration": whole_seconds(row.total_duration),
        }

    def execution_trends(
        self, time_range: str, now: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        days = days_of(time_range)
        today = (now or utcnow()).astimezone(dt.UTC).date()
        first = today - dt.timedelta(days=days - 1)
        start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
        day = utc_day(Execution.created_at, self.dialect).label("day")
        rows = self.dbsession.execute(
            self._visible(
                select(
                    day,
                    func.count().label("total"),
                    self._count("success").label("success"),
                    self._count("failed").label("failed"),
                    func.avg(self._timed()).label("average"),
                )
                .where(Execution.created_at >= start)
                .group_by(day)
            )
        ).all()
        by_day = {str(row.day)[:10]: row for row in rows}
        trends = []
        for offset in range(days):
            date = (first + dt.timedelta(days=offset)).isoformat()
            row = by_day.get(date)
            total = int(row.total) if row is not None else 0
            success = int(row.success) if row is not None else 0
            trends.append(
                {
                    "date": date,
                    "total": total,
                    "successful": success,
                    "failed": int(row.failed) if row is not None else 0,
                    "success_rate": percent(success, total),
                    "avg_duration": whole_seconds(row.average if row is not None else None),
                }
            )
        return trends

    def pipeline_stats(
        self, time_range: str, now: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        since = (now or utcnow()) - dt.timedelta(days=days_of(time_range))
        newer = aliased(Execution)
        latest_status = (
            select(newer.status)
            .where(newer.pipeline_id == Execution.pipeline_id, newer.created_at >= since)
            .order_by(newer.created_at.desc(), newer.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        total = func.count().label("total")
        rows = self.dbsession.execute(
            self._visible(
                select(
                    Execution.pipeline_id,
                    Pipeline.name,
                    total,
                    self._count("success").label("success"),
                    func.avg(self._timed()).label("average"),
                    func.max(Execution.created_at).label("last"),
                    latest_status.label("last_status"),
                )
                .join(Pipeline, Pipeline.id == Execution.pipeline_id)
                .where(Execution.created_at >= since)
                .group_by(Execution.pipeline_id, Pipeline.name)
                .order_by(total.desc(), Execution.pipeline_id)
            )
        ).all()
        return [
            {
                "pipeline_id": row.pipeline_id,
                "pipeline_name": row.name,
                "total_executions": int(row.total),
                "successful_executions": int(row.success),
                "success_rate": percent(int(row.success), int(row.total)),
                "avg_duration": whole_seconds(row.average),
                "last_execution": _as_utc(row.last),
                "status": row.last_status,
            }
            for row in rows
        ]

    def recent_executions(
        self, limit: int, time_range: str | None = None, now: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        query = (
            select(
                Execution.id,
                Execution.pipeline_id,
                Pipeline.name.label("pipeline_name"),
                Execution.status,
                Execution.trigger_type,
                Execution.started_at,
                Execution.completed_at,
                Execution.created_at,
                User.username,
            )
            .outerjoin(Pipeline, Pipeline.id == Execution.pipeline_id)
            .outerjoin(User, User.id == Execution.triggered_by_id)
            .order_by(Execution.created_at.desc(), Execution.id.desc())
            .limit(limit)
        )
        if time_range is not None:
            since = (now or utcnow()) - dt.timedelta(days=days_of(time_range))
            query = query.where(Execution.created_at >= since)
        return [
            {
                "id": row.id,
                "pipeline_id": row.pipeline_id,
                "pipeline_name": row.pipeline_name,
                "status": row.status,
                "trigger_type": row.trigger_type,
                "started_at": row.started_at,
                "completed_at": row.completed_at,
                "created_at": row.created_at,
                "duration": (
                    round((row.completed_at - row.started_at).total_seconds())
                    if row.started_at is not None and row.completed_at is not None
                    else None
                ),
                "triggered_by": row.username or "system",
            }
            for row in self.dbsession.execute(self._visible(query))
        ]


def _as_utc(value: Any) -> Any:
    """MAX() loses the column's type on SQLite (a string comes back): parse it."""
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value
