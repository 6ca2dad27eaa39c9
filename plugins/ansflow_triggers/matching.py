"""Trigger configuration rules: glob syntax, which deliveries a trigger matches,
cron expressions and time zones.

Globs are :func:`fnmatch.fnmatchcase` patterns matched against the whole branch or
tag name (``main``, ``release/*``, ``v[0-9]*``); ``*`` also matches ``/``.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Sequence
from fnmatch import fnmatchcase

from croniter import croniter

from ansflow_triggers.sources import StartRequest

MAX_GLOB = 200
#: Characters git refuses in ref names (plus whitespace): a glob holding one can
#: never match, so it is a typo worth reporting.
_FORBIDDEN_IN_GLOB = re.compile(r"[\x00-\x20\x7f~^:\\]|\.\.|@\{")


def glob_problem(pattern: object) -> str | None:
    """Why ``pattern`` is not a usable branch or tag glob, or None."""
    if not isinstance(pattern, str) or not pattern:
        return "must be a non-empty string"
    if len(pattern) > MAX_GLOB:
        return f"must be at most {MAX_GLOB} characters"
    if _FORBIDDEN_IN_GLOB.search(pattern):
        return "must not contain spaces, control characters, '~', '^', ':', '\\', '..' or '@{'"
    if pattern.count("[") != pattern.count("]"):
        return "has an unbalanced character class ('[' without ']')"
    return None


def matches_any(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def trigger_matches(
    events: Sequence[str], branches: Sequence[str], tags: Sequence[str], request: StartRequest
) -> bool:
    """Whether a trigger listening to ``events`` on ``branches``/``tags`` starts for
    ``request``.

    No events listed means every event.  A tag starts only triggers that list a
    matching tag glob; a branch (a pushed branch, or a pull request's target) starts
    triggers with no branch globs or a matching one; a delivery naming no ref starts
    only triggers without any glob.
    """
    if events and request.event not in events:
        return False
    if request.tag is not None:
        return matches_any(request.tag, tags)
    if request.branch is not None:
        return not branches or matches_any(request.branch, branches)
    return not branches and not tags


# -- schedules ----------------------------------------------------------------------
def timezone_problem(name: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r} (use an IANA name such as 'Europe/Paris')"
    return None


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a five-field cron expression (or ``@daily``...)."""
    text = expression.strip()
    if not text.startswith("@") and len(text.split()) != 5:
        return "must have five fields: minute hour day-of-month month day-of-week"
    if not croniter.is_valid(text):
        return f"is not a valid cron expression: {expression!r}"
    return None


def next_fire_time(expression: str, timezone: str, after: dt.datetime) -> dt.datetime:
    """The first time strictly after ``after`` that ``expression`` names in
    ``timezone`` (daylight saving transitions included), in UTC."""
    local = after.astimezone(zoneinfo.ZoneInfo(timezone))
    fire = croniter(expression.strip(), local).get_next(dt.datetime)
    return fire.astimezone(dt.UTC)


def last_fire_time(expression: str, timezone: str, at_or_before: dt.datetime) -> dt.datetime:
    """The last time at or before ``at_or_before`` that ``expression`` names, in UTC."""
    local = (at_or_before + dt.timedelta(microseconds=1)).astimezone(zoneinfo.ZoneInfo(timezone))
    fire = croniter(expression.strip(), local).get_prev(dt.datetime)
    return fire.astimezone(dt.UTC)
