"""The analytics plugin: the dashboard's figures about executions.

Shows: a plugin made only of endpoints (no tables of its own), whose figures come from
a service (:mod:`ansflow_analytics.services`) that takes a database session and a
actor, restricted to the projects the actor may see and computed in SQL.

Serves, under ``/api/v1/analytics/``: ``execution-stats/``, ``execution-trends/``,
``pipeline-stats/`` and ``recent-executions/``, each with ``?time_range=`` 1d, 7d
(default), 30d or 90d.
"""

from __future__ import annotations

from pyramid.config import Configurator

from ansflow_analytics.schemas import (
    ExecutionStats,
    ExecutionTrends,
    PipelineStats,
    RecentExecutions,
)
from ansflow_analytics.views import (
    execution_stats,
    execution_trends,
    pipeline_stats,
    recent_executions,
)

ENDPOINTS = (
    (
        "execution-stats",
        execution_stats,
        ExecutionStats,
        "Execution counts, success rate and durations.",
    ),
    ("execution-trends", execution_trends, ExecutionTrends, "Executions per day of the range."),
    ("pipeline-stats", pipeline_stats, PipelineStats, "Executions per pipeline in the range."),
    ("recent-executions", recent_executions, RecentExecutions, "The newest executions."),
)


def includeme(config: Configurator) -> None:
    config.include("ansflow_cicd")
    for name, view, schema, description in ENDPOINTS:
        config.add_api_endpoint(
            f"analytics.{name.replace('-', '_')}",
            f"/api/v1/analytics/{name}",
            view,
            description=description,
            response_schema=schema,
        )
