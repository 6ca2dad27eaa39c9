"""The application's clock, replaceable in tests (``set_clock``)."""

from __future__ import annotations

from typing import Any

from ansflow_pyramid.db import utcnow
from ansflow_triggers.interfaces import Clock

CLOCK_KEY = "ansflow_triggers.clock"


def get_clock(registry: Any) -> Clock:
    """What "now" is for triggers and schedules (UTC, timezone-aware)."""
    return registry.get(CLOCK_KEY, utcnow)


def set_clock(registry: Any, clock: Clock) -> None:
    """Make ``clock`` the application's notion of now (tests drive time with it)."""
    registry[CLOCK_KEY] = clock
