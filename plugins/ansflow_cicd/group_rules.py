"""Parallel groups' rules in executions: frozen into the definition snapshot when an
execution is triggered, read back as the engine's :class:`GroupSpec` when it runs.

Shows: the two ends of a snapshot kept in one module, so what is written and what is
read cannot drift apart.  Later edits of a pipeline's groups do not change executions
already triggered; snapshots taken before groups existed run their groups as
``wait_all`` without a group timeout.
"""

from __future__ import annotations

from typing import Any

from ansflow_pipelines.models import ParallelGroup, Pipeline
from sqlalchemy import select
from sqlalchemy.orm import object_session

from ansflow_pyramid.execution import GroupSpec, SyncPolicy


def snapshot_parallel_groups(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """The rules of the parallel groups the pipeline's steps name, by group id."""
    names = {step.parallel_group for step in pipeline.steps if step.parallel_group}
    dbsession = object_session(pipeline)
    if not names or dbsession is None:
        return {}
    groups = dbsession.scalars(
        select(ParallelGroup).where(
            ParallelGroup.pipeline_id == pipeline.id, ParallelGroup.id.in_(names)
        )
    )
    return {
        group.id: {
            "name": group.name,
            "sync_policy": group.sync_policy,
            "timeout_seconds": group.timeout_seconds,
        }
        for group in groups
    }


def group_specs(snapshot: Any) -> dict[str, GroupSpec]:
    """The parallel groups' rules from a definition snapshot (older snapshots have
    none: their groups wait for all their steps)."""
    if not isinstance(snapshot, dict):
        return {}
    specs = {}
    for group_id, rules in snapshot.items():
        if not isinstance(rules, dict):
            continue
        policy = rules.get("sync_policy")
        timeout = rules.get("timeout_seconds")
        specs[str(group_id)] = GroupSpec(
            name=str(rules.get("name") or group_id),
            sync_policy=policy if policy in SyncPolicy.ALL else SyncPolicy.WAIT_ALL,
            timeout_seconds=float(timeout)
            if isinstance(timeout, int | float) and timeout > 0
            else None,
        )
    return specs
