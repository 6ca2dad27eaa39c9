"""What the analytics plugin offers other code: the time ranges it understands, the
error a bad one raises, and the service interface views (or a CLI) call.

Time ranges are AnsFlow's: ``1d``, ``7d``, ``30d`` and ``90d``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from ansflow_pyramid.api import ValidationFailed

#: The time ranges AnsFlow's dashboard offers, in days.
TIME_RANGES: dict[str, int] = {"1d": 1, "7d": 7, "30d": 30, "90d": 90}
DEFAULT_TIME_RANGE = "7d"


class InvalidTimeRange(ValidationFailed):
    """A ``time_range`` that is not one of :data:`TIME_RANGES` (a 400 on the field)."""

    def __init__(self, value: str) -> None:
        super().__init__(
            {
                "time_range": [
                    f"Unknown time range {value!r}; use one of: {', '.join(TIME_RANGES)}."
                ]
            },
            "Invalid time range.",
        )


def days_of(time_range: str) -> int:
    """The number of days a time range spans; :class:`InvalidTimeRange` otherwise."""
    try:
        return TIME_RANGES[time_range]
    except KeyError:
        raise InvalidTimeRange(time_range) from None


class IAnalyticsService(Protocol):
    """Figures about executions, restricted to the projects the actor may see.

    Every figure is computed by the database (counts, sums and averages grouped by
    pipeline or by day), never by loading executions into Python.
    """

    def execution_stats(self, time_range: str, now: dt.datetime | None = None) -> dict[str, Any]:
        """Counts by outcome, success rate and durations of the range's executions."""

    def execution_trends(
        self, time_range: str, now: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """One entry per UTC day of the range (oldest first, today last)."""

    def pipeline_stats(
        self, time_range: str, now: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """Per pipeline with executions in the range, most executed first."""

    def recent_executions(
        self, limit: int, time_range: str | None = None, now: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """The newest executions (within the range when one is given)."""
