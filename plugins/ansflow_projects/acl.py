"""Project roles, the ACLs built from them, and project visibility.

Shows: how a plugin turns its own data (memberships) into Pyramid ACLs, and how
resources that belong to a project inherit the project's ACL even though their
traversal parent is a collection, not the project.

Permissions by role (``ROLE_PERMISSIONS``)::

    owner       view add edit delete manage run own
    maintainer  view add edit delete manage run
    developer   view add edit run
    reporter    view
    guest       view

``manage`` covers members and environments; ``own`` is what only owners may do
(delete the project, grant or remove the owner role).  Internal and public projects
can be viewed by every authenticated user.  Superusers may do everything.

Visibility in lists follows the ACL: a non-superuser sees the projects they own or are
a member of, and the internal and public ones; resources of other projects are absent
from lists and answer 404, so their existence does not leak.  Until the application
has a security policy, Pyramid permits everything and nothing is hidden.
"""

from __future__ import annotations

from typing import Any

from pyramid.authorization import ALL_PERMISSIONS, DENY_ALL, Allow
from pyramid.httpexceptions import HTTPForbidden
from pyramid.interfaces import ISecurityPolicy
from pyramid.request import Request
from sqlalchemy import Select, bindparam, false, or_, select

from ansflow_projects.fields import does_not_exist
from ansflow_projects.interfaces import Actor
from ansflow_projects.models import Project, ProjectMembership
from ansflow_pyramid.api import APIError, ValidationFailed
from ansflow_pyramid.identity import AUTHENTICATED, SUPERUSERS, user_principal

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "owner": ("view", "add", "edit", "delete", "manage", "run", "own"),
    "maintainer": ("view", "add", "edit", "delete", "manage", "run"),
    "developer": ("view", "add", "edit", "run"),
    "reporter": ("view",),
    "guest": ("view",),
}
#: Visibilities whose projects every authenticated user may view.
SHARED_VISIBILITIES = ("internal", "public")

#: The ACL of collections holding project resources: any authenticated user may list
#: (the list only shows what they can see) and try to create (``create`` then checks
#: the permission on the target project).
COLLECTION_ACL: list[Any] = [
    (Allow, SUPERUSERS, ALL_PERMISSIONS),
    (Allow, AUTHENTICATED, ("view", "add")),
    DENY_ALL,
]

_CACHE_ATTRIBUTE = "_ansflow_project_acls"


def build_project_acl(
    visibility: str, owner_id: int | None, memberships: list[tuple[int, str]]
) -> list[Any]:
    """The ACL of a project from its visibility, owner and ``(user_id, role)`` pairs."""
    acl: list[Any] = [(Allow, SUPERUSERS, ALL_PERMISSIONS)]
    if owner_id is not None:
        acl.append((Allow, user_principal(owner_id), ROLE_PERMISSIONS["owner"]))
    for user_id, role in memberships:
        acl.append((Allow, user_principal(user_id), ROLE_PERMISSIONS.get(role, ())))
    if visibility in SHARED_VISIBILITIES:
        acl.append((Allow, AUTHENTICATED, ("view",)))
    # Nothing above the project may grant more: child resources' traversal parents
    # are collections, whose ACL lets everyone "add".
    acl.append(DENY_ALL)
    return acl


# Built once: constructing a statement costs more than running it on a warm cache.
_ACL_QUERY = (
    select(
        Project.visibility,
        Project.owner_id,
        ProjectMembership.user_id,
        ProjectMembership.role,
    )
    .outerjoin(ProjectMembership, ProjectMembership.project_id == Project.id)
    .where(Project.id == bindparam("project_id"))
)


def project_acl(request: Request, project_id: int) -> list[Any]:
    """The ACL of project ``project_id``, loaded once per request."""
    cache: dict[int, list[Any]] = request.__dict__.setdefault(_CACHE_ATTRIBUTE, {})
    acl = cache.get(project_id)
    if acl is None:
        rows = request.dbsession.execute(_ACL_QUERY, {"project_id": project_id}).all()
        if not rows:
            acl = [(Allow, SUPERUSERS, ALL_PERMISSIONS), DENY_ALL]
        else:
            members = [(row.user_id, row.role) for row in rows if row.user_id is not None]
            acl = build_project_acl(rows[0].visibility, rows[0].owner_id, members)
        cache[project_id] = acl
    return acl


def prime_project_acl(
    request: Request, project_id: int, visibility: str, owner_id: int | None, role: str | None
) -> None:
    """Cache the ACL of a project as it applies to this request's caller.

    For resources whose loading query already joined the project and the caller's own
    membership (``role``), this saves the ACL query.  The other members' entries are
    left out: they cannot change a decision about this caller, and the cache lives
    only as long as the request.
    """
    user_id = current_user_id(request)
    members = [(user_id, role)] if user_id is not None and role is not None else []
    cache: dict[int, list[Any]] = request.__dict__.setdefault(_CACHE_ATTRIBUTE, {})
    cache[project_id] = build_project_acl(visibility, owner_id, members)


def forget_project_acl(request: Request, project_id: int) -> None:
    """Drop the cached ACL after changing a project's members or visibility."""
    request.__dict__.get(_CACHE_ATTRIBUTE, {}).pop(project_id, None)


class ProjectACLContext:
    """A stand-in resource carrying a project's ACL, for permission checks in code.

    ``request.has_permission("run", ProjectACLContext(request, 7))`` asks whether the
    caller may run things in project 7, wherever the request itself traversed to.
    """

    __parent__ = None
    __name__ = ""

    def __init__(self, request: Request, project_id: int) -> None:
        self.request = request
        self.project_id = project_id

    @property
    def __acl__(self) -> list[Any]:
        return project_acl(self.request, self.project_id)


class ProjectScopedACL:
    """Mixin for items that belong to a project: their ACL is their project's.

    The item needs ``project_id`` on its row (``self.obj.project_id``); override
    :meth:`acl_project_id` when the project is reached another way.
    """

    request: Request
    obj: Any

    def acl_project_id(self) -> int:
        return self.obj.project_id

    @property
    def __acl__(self) -> list[Any]:
        return project_acl(self.request, self.acl_project_id())


def has_security_policy(request: Request) -> bool:
    return request.registry.queryUtility(ISecurityPolicy) is not None


def current_user_id(request: Request) -> int | None:
    """The id of the authenticated user, or None."""
    identity = getattr(request, "identity", None)
    return identity.user_id if identity is not None else None


def is_unrestricted(request: Request) -> bool:
    """True when the caller sees everything: a superuser, or no security policy at all."""
    if not has_security_policy(request):
        return True
    identity = request.identity
    return identity is not None and identity.is_superuser


def actor_of(request: Request) -> Actor:
    """The :class:`Actor` a request's services act for."""
    identity = getattr(request, "identity", None) if has_security_policy(request) else None
    return Actor(
        user_id=identity.user_id if identity is not None else None,
        username=identity.username if identity is not None else "anonymous",
        unrestricted=is_unrestricted(request),
    )


def visible_project_ids_for(actor: Actor) -> Select[Any] | None:
    """A select of the ids of projects ``actor`` may view; None when unrestricted."""
    if actor.unrestricted:
        return None
    if actor.user_id is None:
        return select(Project.id).where(false())
    memberships = select(ProjectMembership.project_id).where(
        ProjectMembership.user_id == actor.user_id
    )
    return select(Project.id).where(
        or_(
            Project.visibility.in_(SHARED_VISIBILITIES),
            Project.owner_id == actor.user_id,
            Project.id.in_(memberships),
        )
    )


def restrict_to_visible_for(actor: Actor, query: Select[Any], column: Any) -> Select[Any]:
    """Narrow ``query`` to rows whose project (``column``) ``actor`` may view."""
    visible = visible_project_ids_for(actor)
    return query if visible is None else query.where(column.in_(visible))


def visible_project_ids(request: Request) -> Select[Any] | None:
    """A select of the ids of projects the caller may view; None when unrestricted."""
    if is_unrestricted(request):
        return None
    return visible_project_ids_for(actor_of(request))


def restrict_to_visible(request: Request, query: Select[Any], column: Any) -> Select[Any]:
    """Narrow ``query`` to rows whose project (``column``) the caller may view."""
    visible = visible_project_ids(request)
    return query if visible is None else query.where(column.in_(visible))


def require_authenticated(request: Request) -> None:
    """Refuse anonymous callers before looking anything up (401, revealing nothing).

    Without it an anonymous request for an item would be a 404 (nothing is visible to
    it), which tells a client nothing about logging in.
    """
    if has_security_policy(request) and request.identity is None:
        raise HTTPForbidden()


class AuthenticatedLookup:
    """Mixin for collections: item lookups by anonymous callers end in a 401."""

    request: Request

    def load_item(self, key: Any) -> Any:
        require_authenticated(self.request)
        return super().load_item(key)  # type: ignore[misc]


def permission_denied(detail: str | None = None) -> APIError:
    return APIError(detail, status=403)


def require_project(
    request: Request, project_id: int, permission: str, field: str = "project"
) -> Project:
    """The project ``project_id`` if the caller holds ``permission`` on it.

    A project the caller cannot see is reported exactly like a missing one (400 on
    ``field``); a visible project without the permission is a 403.
    """
    query = restrict_to_visible(
        request, select(Project).where(Project.id == project_id), Project.id
    )
    project = request.dbsession.scalars(query).first()
    if project is None:
        raise ValidationFailed({field: does_not_exist(project_id)})
    if not request.has_permission(permission, ProjectACLContext(request, project_id)):
        raise permission_denied(f"You may not {permission} in project {project.name!r}.")
    return project


def require_permission(request: Request, permission: str, project_id: int) -> None:
    """Raise 403 unless the caller holds ``permission`` on project ``project_id``."""
    if not request.has_permission(permission, ProjectACLContext(request, project_id)):
        raise permission_denied()
