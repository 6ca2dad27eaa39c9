"""Principals: the names ACL entries grant permissions to.

A request's principals are ``Everyone``; when authenticated also ``Authenticated``,
``user:<id>``, and ``group:superusers`` / ``group:staff`` by the user's flags.
Plugins grant project roles by listing ``user:<id>`` principals in their resources'
ACLs (the projects plugin does this from memberships).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    """Who made the request (``request.identity``) and how they proved it.

    It carries what authorization needs (the user's id, name and flags), read by the
    security policy in one small query; the full ``user`` row is loaded on first use
    only, since most requests never need it.
    """

    user_id: int
    username: str
    is_superuser: bool
    is_staff: bool
    #: "jwt", "session", or what an identity source names ("stream").
    method: str
    #: The verified JWT claims, for token-authenticated requests.
    claims: dict[str, Any] = field(default_factory=dict)
    #: Loads the full user row; the security policy passes one bound to the request.
    load_user: Callable[[int], User | None] | None = field(default=None, repr=False)
    _user: User | None = field(default=None, repr=False)

    @classmethod
    def of_user(cls, user: User, method: str, claims: dict[str, Any] | None = None) -> Identity:
        """The identity of an already loaded ``user`` row."""
        return cls(
            user_id=user.id,
            username=user.username,
            is_superuser=bool(user.is_superuser),
            is_staff=bool(user.is_staff),
            method=method,
            claims=claims or {},
            _user=user,
        )

    @property
    def user(self) -> User:
        """The user's row (loaded on first access, in the request's session)."""
        if self._user is None:
            user = self.load_user(self.user_id) if self.load_user is not None else None
            if user is None:
                raise LookupError(f"user {self.user_id} is gone")
            self._user = user
        return self._user

    def principals(self) -> list[str]:
        principals = [EVERYONE, AUTHENTICATED, user_principal(self.user_id)]
        if self.is_superuser:
            principals.append(SUPERUSERS)
        if self.is_staff:
            principals.append(STAFF)
        return principals
