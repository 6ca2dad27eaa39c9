"""Announcing that credentials ended: sessions deleted, token families revoked.

Live connections that outlast a request (WebSockets) authenticated once, with a
session cookie or a token.  When that session is deleted (logout, login rotation,
password change, pruning) or that token family is revoked (logout, detected reuse),
they must stop at once.  The code that ends credentials calls
:meth:`EndedNotices.announce_after_commit`; listeners (the socket layer) hear about it
only once the transaction that ended them committed, so an aborted logout closes
nothing.

Session ids are secrets: announcements carry :func:`session_digest` of them, never
the ids themselves (they may travel through Redis to other processes).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ansflow_pyramid.db.joining import MANAGER_KEY

log = logging.getLogger(__name__)

REGISTRY_KEY = "ansflow.credentials_ended"


def session_digest(session_id: str) -> str:
    """A stable, non-secret name of a session id (what announcements carry)."""
    return hashlib.sha256(b"ansflow.session:" + session_id.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class CredentialsEnded:
    """Sessions (by digest) and refresh token families that no longer authenticate."""

    sessions: tuple[str, ...] = ()
    families: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sessions or self.families)

    def to_json(self) -> str:
        return json.dumps({"s": list(self.sessions), "f": list(self.families)})

    @classmethod
    def from_json(cls, raw: str | bytes) -> CredentialsEnded:
        document = json.loads(raw)
        return cls(
            tuple(str(s) for s in document.get("s") or ()),
            tuple(str(f) for f in document.get("f") or ()),
        )


Listener = Callable[[CredentialsEnded], None]


class EndedNotices:
    """Who wants to hear that credentials ended; see the module documentation."""

    def __init__(self) -> None:
        self.listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        if listener not in self.listeners:
            self.listeners = [*self.listeners, listener]

    def announce_after_commit(
        self,
        dbsession: Session,
        session_ids: Iterable[str] = (),
        families: Iterable[str] = (),
    ) -> None:
        """Tell the listeners, once ``dbsession``'s transaction committed, that these
        sessions and token families ended.  Nothing is said if it aborts."""
        if not self.listeners:
            return
        ended = CredentialsEnded(
            tuple(session_digest(s) for s in session_ids), tuple(str(f) for f in families)
        )
        if not ended:
            return
        manager = dbsession.info.get(MANAGER_KEY)
        try:
            current = manager.get() if manager is not None else None
        except Exception:  # no transaction is active: the change is already durable
            current = None
        if current is None:
            self.announce(ended)
            return
        current.addAfterCommitHook(self._after_commit, args=(ended,))

    def _after_commit(self, committed: bool, ended: CredentialsEnded) -> None:
        if committed:
            self.announce(ended)

    def announce(self, ended: CredentialsEnded) -> None:
        for listener in self.listeners:
            try:
                listener(ended)
            except Exception:  # one listener's failure must not hide the news from others
                log.exception("a credentials-ended listener failed")


def get_ended_notices(registry: Any) -> EndedNotices:
    """The application's :class:`EndedNotices` (created on first use)."""
    notices = registry.get(REGISTRY_KEY)
    if notices is None:
        notices = registry[REGISTRY_KEY] = EndedNotices()
    return notices
