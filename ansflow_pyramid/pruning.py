"""Housekeeping tasks that ``ansflow prune-sessions`` runs after the core's own.

A plugin that keeps history rows registers a task that deletes the old ones::

    config.add_prune_task("webhook history", prune_history)

``task(registry, dbsession, now)`` deletes what is older than its retention and
returns the number of rows removed by kind (``{"webhook deliveries": 12}``); each
task runs in a transaction of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from pyramid.config import Configurator
from sqlalchemy.orm import Session

PRUNE_TASKS_KEY = "ansflow.prune_tasks"

PruneTask = Callable[[Any, Session, dt.datetime], Mapping[str, int]]


def add_prune_task(config: Configurator, name: str, task: PruneTask) -> None:
    """Run ``task`` whenever ``ansflow prune-sessions`` runs (one task per name)."""

    def register() -> None:
        config.registry.setdefault(PRUNE_TASKS_KEY, {})[name] = task

    config.action(("ansflow.prune-task", name), register)


def prune_tasks(registry: Any) -> dict[str, PruneTask]:
    """The registered tasks by name."""
    return dict(registry.get(PRUNE_TASKS_KEY, {}))


def includeme(config: Configurator) -> None:
    config.add_directive("add_prune_task", add_prune_task)
