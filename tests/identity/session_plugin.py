"""A test-only plugin: views that read and write ``request.session``.

Loaded with ``make_app(ansflow__plugins="tests.identity.session_plugin")``; never part
of the application itself.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request

from ansflow_pyramid.api import json_body


def session_data_view(context: Any, request: Request) -> dict[str, Any]:
    """GET: the session's data.  POST ``{"set": {k: v}}`` writes keys without reading;
    ``{"incr": name}`` reads and increments a counter (a read-modify-write)."""
    session = request.session
    if request.method == "POST":
        # Answers without looking at the rest of the session: these requests depend
        # only on what they read (nothing for "set", the counter for "incr").
        body = json_body(request)
        written = {}
        for key, value in (body.get("set") or {}).items():
            session[key] = value
            written[key] = value
        if body.get("incr"):
            name = body["incr"]
            session[name] = written[name] = session.get(name, 0) + 1
        return {"written": written}
    identity = request.identity
    return {
        "data": dict(session.items()),
        "user": identity.user.username if identity is not None else None,
    }


def includeme(config: Configurator) -> None:
    config.add_api_endpoint(
        "test.session",
        "/api/v1/test-session",
        session_data_view,
        methods=("GET", "POST"),
    )
