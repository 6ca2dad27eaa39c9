"""What services of project-owned resources are given: the actor they act for.

Services take a database session and an :class:`Actor`, never a request, so views,
the engine, webhooks and command-line tools call the same code.  The actor carries
what the visibility and permission rules of :mod:`ansflow_projects.acl` need.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who a service acts for.

    ``unrestricted`` actors see every project (superusers, an application without a
    security policy, the engine and administrative commands); the others see the
    projects they own or belong to, and the internal and public ones.
    """

    user_id: int | None
    username: str
    unrestricted: bool = False

    @property
    def display_name(self) -> str:
        """The name written into logs ("cancelled by ...")."""
        return self.username or "anonymous"


#: The actor of work nobody asked for in a request (the engine, the reaper).
SYSTEM = Actor(user_id=None, username="system", unrestricted=True)
