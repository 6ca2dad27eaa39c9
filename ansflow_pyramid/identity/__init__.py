"""Identity: users, and the principals ACLs speak of.

This is the contract plugins build on: ``request.identity`` is an :class:`Identity`
(or None), and ACLs grant permissions to the principals below.
"""

from __future__ import annotations

from pyramid.config import Configurator

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


def includeme(config: Configurator) -> None:
    """The auth API, the users API, the browser login and the login throttle.

    The security policy and the session store they rely on are installed by
    ``ansflow_pyramid.security`` and ``ansflow_pyramid.sessions`` (core includes).
    """
    from pyramid.authorization import ALL_PERMISSIONS, Allow

    from ansflow_pyramid.identity.throttle import REGISTRY_KEY, make_throttle
    from ansflow_pyramid.traversal.resources import grant_at_root

    # Superusers may do anything anywhere; every other grant is made further down.
    grant_at_root(config.registry, (Allow, SUPERUSERS, ALL_PERMISSIONS))
    config.registry[REGISTRY_KEY] = make_throttle(config.registry)
    config.include("ansflow_pyramid.identity.views")
    config.include("ansflow_pyramid.identity.users")
    config.include("ansflow_pyramid.identity.admin")
