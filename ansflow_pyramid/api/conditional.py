"""Conditional requests: strong ETags, ``If-None-Match`` (304) and ``If-Match`` (412).

A resource opts in by giving a *version* of what its document shows (for an item,
:meth:`ansflow_pyramid.api.ModelItem.version`; for a list page,
:meth:`ansflow_pyramid.api.ModelCollection.list_version`): values read with the record
that change whenever the document would (``updated_at`` columns, the number of the
last log line, the names shown next to ids...), never a hash of the rendered body.
The views compare the tag before serialising, so a client polling an unchanged
resource costs one load and no rendering.

Resources without a version serve no ``ETag`` and ignore ``If-Match`` (there is no
tag the client could hold).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from pyramid.request import Request
from pyramid.response import Response

from ansflow_pyramid.api.errors import APIError


class PreconditionFailed(APIError):
    """``If-Match`` named a version that is not the current one."""

    status = 412

    def __init__(self) -> None:
        super().__init__(
            "The resource has changed since the version named in If-Match.",
            code="precondition_failed",
        )


def etag_of(version: Iterable[Any]) -> str:
    """A strong entity tag (without quotes) for a version tuple."""
    digest = hashlib.blake2b(repr(tuple(version)).encode(), digest_size=12)
    return digest.hexdigest()


def not_modified(request: Request, etag: str | None) -> Response | None:
    """The 304 to answer when the client holds ``etag`` already; else None, after
    putting ``etag`` on the response to come."""
    if etag is None:
        return None
    if etag in request.if_none_match:
        response = Response(status=304)
        response.etag = (etag, True)
        return response
    request.response.etag = (etag, True)
    return None


def require_match(request: Request, etag: str | None) -> None:
    """Refuse a write (412) whose ``If-Match`` does not name the current version."""
    if etag is None or "If-Match" not in request.headers:
        return
    if etag not in request.if_match:
        raise PreconditionFailed()
