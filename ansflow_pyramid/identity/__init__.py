"""Identity: users, and the principals ACLs speak of.

This is the contract plugins build on: ``request.identity`` is an :class:`Identity`
(or None), and ACLs grant permissions to the principals below.
"""

from __future__ import annotations

from ansflow_pyramid.identity.models import User
from ansflow_pyramid.identity.principals import (
    AUTHENTICATED,
    EVERYONE,
    STAFF,
    SUPERUSERS,
    Identity,
    user_principal,
)

__all__ = [
    "AUTHENTICATED",
    "EVERYONE",
    "STAFF",
    "SUPERUSERS",
    "Identity",
    "User",
    "user_principal",
]


def includeme(config: object) -> None:
    """Identity's views, security policy and session store are wired here."""
