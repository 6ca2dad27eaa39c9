"""Project roles and the permissions they grant, for plugins that build ACLs.

The projects plugin attaches these to its resources from memberships::

    from ansflow_pyramid.identity.roles import role_acl
    project.__acl__ = role_acl((m.user_id, m.role) for m in memberships)

Superusers need no entry: the root ACL grants them every permission.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pyramid.authorization import Allow

from ansflow_pyramid.identity.principals import user_principal

OWNER = "owner"
MAINTAINER = "maintainer"
DEVELOPER = "developer"
REPORTER = "reporter"
GUEST = "guest"
#: Strongest first.
ROLES = (OWNER, MAINTAINER, DEVELOPER, REPORTER, GUEST)

#: The default permissions of each role; a plugin may pass its own mapping.
ROLE_PERMISSIONS: Mapping[str, tuple[str, ...]] = {
    OWNER: ("view", "add", "edit", "delete", "execute", "manage_members", "manage_project"),
    MAINTAINER: ("view", "add", "edit", "delete", "execute", "manage_members"),
    DEVELOPER: ("view", "add", "edit", "execute"),
    REPORTER: ("view",),
    GUEST: ("view",),
}


def role_rank(role: str) -> int:
    """0 for the strongest role; ``ValueError`` for an unknown one."""
    return ROLES.index(role)


def role_acl(
    memberships: Iterable[tuple[int, str]],
    permissions: Mapping[str, tuple[str, ...]] = ROLE_PERMISSIONS,
) -> list[tuple[Any, ...]]:
    """ACL entries granting each ``(user_id, role)`` its role's permissions."""
    return [
        (Allow, user_principal(user_id), tuple(permissions[role]))
        for user_id, role in memberships
        if role in permissions
    ]
