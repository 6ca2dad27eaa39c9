"""What project documents show besides their own columns: the members (to members),
the member count, and counts that other plugins contribute (``pipeline_count``).

Shows: derived values computed at read time for a whole page of projects in a fixed
number of queries (one per kind, never one per row), and a directive through which
a plugin that depends on this one adds a count without this plugin importing it::

    def count_pipelines(dbsession, project_ids):
        return dict(dbsession.execute(
            select(Pipeline.project_id, func.count())
            .where(Pipeline.project_id.in_(project_ids))
            .group_by(Pipeline.project_id)
        ).all())

    config.add_project_count("pipeline_count", count_pipelines)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pyramid.config import Configurator
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ansflow_projects.interfaces import Actor
from ansflow_projects.models import Project, ProjectMembership

COUNTS_KEY = "ansflow_projects.counts"

#: ``counter(dbsession, project_ids) -> {project_id: count}`` (absent ids count 0).
ProjectCounter = Callable[[Session, list[int]], Mapping[int, int]]


def add_project_count(config: Configurator, name: str, counter: ProjectCounter) -> None:
    """Declare a count shown on every project document under ``name``.

    ``counter`` is called once per page of projects with their ids and returns the
    count of each; declaring the same name twice is a configuration conflict.
    """

    def register() -> None:
        config.registry.setdefault(COUNTS_KEY, {})[name] = counter

    config.action(("ansflow.project-count", name), register)


def project_counters(registry: Any) -> dict[str, ProjectCounter]:
    return registry.get(COUNTS_KEY, {})


def may_see_members(actor: Actor, project: Project, member_ids: Iterable[int]) -> bool:
    """Members are shown to the project's members (and owner) and to superusers only:
    a public project's readers see its work, not who works on it."""
    if actor.unrestricted:
        return True
    if actor.user_id is None:
        return False
    return actor.user_id == project.owner_id or actor.user_id in set(member_ids)


def user_brief(user: Any, *, with_email: bool) -> dict[str, Any] | None:
    """A user as nested in a project; the e-mail address only for the project's members
    (anyone may read a public project, not its owner's address)."""
    if user is None:
        return None
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email if with_email else "",
        "first_name": user.first_name,
        "last_name": user.last_name,
    }


def attach_project_summaries(
    dbsession: Session,
    projects: list[Project],
    actor: Actor,
    counters: Mapping[str, ProjectCounter],
) -> None:
    """Set ``member_count``, ``members`` and every declared count on ``projects``.

    Queries: one for the member counts, one for the memberships the actor may see
    (with their users), one per declared count - whatever the number of projects.
    """
    ids = [project.id for project in projects]
    if not ids:
        return
    member_counts = dict(
        dbsession.execute(
            select(ProjectMembership.project_id, func.count())
            .where(ProjectMembership.project_id.in_(ids))
            .group_by(ProjectMembership.project_id)
        ).all()
    )
    shown = select(ProjectMembership).where(ProjectMembership.project_id.in_(ids))
    if not actor.unrestricted:
        # Only the memberships of projects the actor belongs to (or owns) are loaded.
        mine = select(ProjectMembership.project_id).where(
            ProjectMembership.user_id == actor.user_id
        )
        owned = select(Project.id).where(Project.owner_id == actor.user_id)
        shown = shown.where(
            or_(ProjectMembership.project_id.in_(mine), ProjectMembership.project_id.in_(owned))
        )
    members: dict[int, list[ProjectMembership]] = {}
    for membership in dbsession.scalars(shown.order_by(ProjectMembership.id)):
        members.setdefault(membership.project_id, []).append(membership)
    counts = {name: counter(dbsession, ids) for name, counter in counters.items()}
    for project in projects:
        project.member_count = int(member_counts.get(project.id, 0))
        rows = members.get(project.id, [])
        visible = may_see_members(actor, project, (m.user_id for m in rows))
        project.members = rows if visible else []
        project.owner_shown = user_brief(project.owner, with_email=visible)
        for name, by_project in counts.items():
            setattr(project, name, int(by_project.get(project.id, 0)))
