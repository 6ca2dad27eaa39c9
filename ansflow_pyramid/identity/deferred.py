"""Work that must outlive a failing request's transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pyramid.request import Request

log = logging.getLogger(__name__)


def after_transaction(request: Request, work: Callable[[Request], None]) -> None:
    """Run ``work`` in a transaction of its own once the request's transaction is over.

    The failing request's own transaction is aborted (401), and on SQLite it holds the
    database's write lock until then, so a second transaction opened meanwhile would
    only wait for it.  Finished callbacks run after pyramid_tm ended the request's
    transaction and before the response leaves, so the work is done when the client
    hears back.
    """

    def callback(request: Request) -> None:
        try:
            work(request)
        except Exception:  # the client got its answer; losing one record is no crash
            log.exception("could not record work after the request's transaction")

    request.add_finished_callback(callback)
