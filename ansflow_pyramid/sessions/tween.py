"""The session tween: writes ``request.session`` inside the request's transaction.

It sits under pyramid_tm (and over the exception view tween), so it sees the final
response of the view or exception view while the transaction is still open: the
session row is written before pyramid_tm commits, and a write conflict raised here
aborts the transaction and lets pyramid_retry run the request again.  Response
callbacks would be too late: they run after the commit.
"""

from __future__ import annotations

from collections.abc import Callable

from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response


def session_tween_factory(
    handler: Callable[[Request], Response], registry: Registry
) -> Callable[[Request], Response]:
    def session_tween(request: Request) -> Response:
        response = handler(request)
        # Pyramid's reified ``request.session`` lives in the request's __dict__ once
        # something asked for it; untouched sessions cost nothing.
        session = request.__dict__.get("session")
        persist = getattr(session, "persist", None)
        if persist is None:
            return response
        if response.status_code >= 400:
            # pyramid_tm's commit veto aborts the transaction for error responses: a
            # write would be rolled back, and a cookie for it would name nothing.
            session.persist_cookie_only(response)
            return response
        persist(response)
        return response

    return session_tween
