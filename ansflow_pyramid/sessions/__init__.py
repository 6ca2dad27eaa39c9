"""The transactional session store (``request.session``), see :mod:`.store`.

Settings: ``session.secret`` (required), ``session.cookie_name`` ("sessionid"),
``session.max_age`` (seconds of inactivity before a session expires, 14 days),
``session.touch_interval`` (how often "last seen" is written, 300 s),
``session.secure`` (true in production), ``session.samesite`` ("Lax").
"""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.tweens import EXCVIEW

from ansflow_pyramid.security.secrets import ensure_secrets
from ansflow_pyramid.sessions.ended import get_ended_notices
from ansflow_pyramid.sessions.models import SessionRecord
from ansflow_pyramid.sessions.store import (
    DBSession,
    SessionConfig,
    SessionStore,
    session_factory_for,
)

__all__ = ["DBSession", "SessionConfig", "SessionRecord", "SessionStore", "get_session_store"]

REGISTRY_KEY = "ansflow.session_store"


def get_session_store(registry: object) -> SessionStore:
    """The application's :class:`SessionStore`."""
    return registry[REGISTRY_KEY]  # type: ignore[index]


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    ensure_secrets(settings)
    store = SessionStore(SessionConfig.from_settings(settings), get_ended_notices(config.registry))
    config.registry[REGISTRY_KEY] = store
    config.set_session_factory(session_factory_for(store))
    config.add_tween(
        "ansflow_pyramid.sessions.tween.session_tween_factory",
        under="pyramid_tm.tm_tween_factory",
        over=EXCVIEW,
    )
