"""The documents the analytics endpoints answer (AnsFlow's dashboard shapes); the
views render through them, and the OpenAPI document describes them."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, RootModel


class ExecutionStats(BaseModel):
    """Executions created in the time range; durations in whole seconds, over the
    runs that ended by themselves (success, failed, timeout)."""

    time_range: str
    since: dt.datetime
    total_executions: int
    successful_executions: int
    failed_executions: int
    running_executions: int
    pending_executions: int
    cancelled_executions: int
    timeout_executions: int
    success_rate: float
    avg_duration: int
    total_duration: int


class TrendDay(BaseModel):
    date: str
    total: int
    successful: int
    failed: int
    success_rate: float
    avg_duration: int


class ExecutionTrends(RootModel[list[TrendDay]]):
    """One entry per UTC day of the time range, oldest first."""


class PipelineStat(BaseModel):
    pipeline_id: int
    pipeline_name: str
    total_executions: int
    successful_executions: int
    success_rate: float
    avg_duration: int
    last_execution: dt.datetime | None
    #: The status of the pipeline's newest execution in the range.
    status: str | None


class PipelineStats(RootModel[list[PipelineStat]]):
    """Pipelines with executions in the range, most executed first."""


class RecentExecution(BaseModel):
    id: int
    pipeline_id: int
    pipeline_name: str | None
    status: str
    trigger_type: str
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    created_at: dt.datetime
    duration: int | None
    #: The username of who triggered it, or "system".
    triggered_by: str


class RecentExecutions(RootModel[list[RecentExecution]]):
    """The newest executions first."""
