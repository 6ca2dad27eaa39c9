"""Principals: the names ACL entries grant permissions to.

A request's principals are ``Everyone``; when authenticated also ``Authenticated``,
``user:<id>``, and ``group:superusers`` / ``group:staff`` by the user's flags.
Plugins grant project roles by listing ``user:<id>`` principals in their resources'
ACLs (the projects plugin does this from memberships).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyramid.authorization import Authenticated, Everyone

if TYPE_CHECKING:
    from ansflow_pyramid.identity.models import User

EVERYONE = Everyone
AUTHENTICATED = Authenticated
SUPERUSERS = "group:superusers"
STAFF = "group:staff"


def user_principal(user_id: int) -> str:
    """The principal naming one user in ACLs."""
    return f"user:{int(user_id)}"


@dataclass
class Identity:
    """Who made the request (``request.identity``) and how they proved it."""

    user: User
    #: "jwt" or "session".
    method: str
    #: The verified JWT claims, for token-authenticated requests.
    claims: dict[str, object] = field(default_factory=dict)

    @property
    def user_id(self) -> int:
        return self.user.id

    @property
    def is_superuser(self) -> bool:
        return bool(self.user.is_superuser)

    def principals(self) -> list[str]:
        principals = [EVERYONE, AUTHENTICATED, user_principal(self.user.id)]
        if self.user.is_superuser:
            principals.append(SUPERUSERS)
        if self.user.is_staff:
            principals.append(STAFF)
        return principals
