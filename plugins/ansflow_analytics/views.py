"""The analytics endpoints: thin views over :class:`AnalyticsService`."""

from __future__ import annotations

from typing import Any

from ansflow_projects.acl import actor_of, require_authenticated
from pyramid.request import Request

from ansflow_analytics.interfaces import DEFAULT_TIME_RANGE, days_of
from ansflow_analytics.schemas import (
    ExecutionStats,
    ExecutionTrends,
    PipelineStats,
    RecentExecutions,
)
from ansflow_analytics.services import AnalyticsService
from ansflow_pyramid.api import ValidationFailed

MAX_RECENT = 100
DEFAULT_RECENT = 10


def service(request: Request) -> AnalyticsService:
    require_authenticated(request)
    return AnalyticsService(request.dbsession, actor_of(request))


def time_range_param(request: Request, default: str | None = DEFAULT_TIME_RANGE) -> str | None:
    """``?time_range=`` (1d, 7d, 30d, 90d); anything else is a 400 naming the field."""
    raw = request.GET.get("time_range")
    if raw is None or raw == "":
        return default
    days_of(raw)
    return raw


def execution_stats(context: Any, request: Request) -> Any:
    """Executions of the time range: counts by outcome, success rate, durations."""
    time_range = time_range_param(request)
    assert time_range is not None
    return ExecutionStats.model_validate(service(request).execution_stats(time_range)).model_dump(
        mode="json"
    )


def execution_trends(context: Any, request: Request) -> Any:
    """Executions per UTC day of the time range (oldest first, today last)."""
    time_range = time_range_param(request)
    assert time_range is not None
    return ExecutionTrends.model_validate(service(request).execution_trends(time_range)).model_dump(
        mode="json"
    )


def pipeline_stats(context: Any, request: Request) -> Any:
    """Pipelines with executions in the time range, most executed first."""
    time_range = time_range_param(request)
    assert time_range is not None
    return PipelineStats.model_validate(service(request).pipeline_stats(time_range)).model_dump(
        mode="json"
    )


def recent_executions(context: Any, request: Request) -> Any:
    """The newest executions (``?limit=``, 1-100, default 10; ``?time_range=`` narrows)."""
    raw = request.GET.get("limit", "")
    limit = DEFAULT_RECENT
    if raw != "":
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= MAX_RECENT):
            raise ValidationFailed({"limit": [f"Must be a whole number from 1 to {MAX_RECENT}."]})
        limit = int(raw)
    rows = service(request).recent_executions(limit, time_range_param(request, default=None))
    return RecentExecutions.model_validate(rows).model_dump(mode="json")
