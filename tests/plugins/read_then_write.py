"""A test plugin whose GET reads, lets another connection commit, then writes.

On SQLite, reads begin deferred; a read transaction that then writes after another
connection committed cannot upgrade ("database is locked"), and must be retried (the
retry begins IMMEDIATE).  The view records which attempt it ran as.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ansflow_pyramid.db import session_scope
from ansflow_pyramid.identity.models import User
from ansflow_pyramid.identity.services import create_user


def read_then_write(context: Any, request: Any) -> dict[str, Any]:
    attempt = int(request.environ.get("retry.attempt", 0))
    before = request.dbsession.scalar(select(func.count(User.id)))
    if attempt == 0:
        # Another writer commits between this request's read and its write.
        with session_scope(request.registry["dbsession_factory"]) as other:
            create_user(other, "concurrent-writer", "concurrent-writer-password")
    create_user(request.dbsession, f"written-on-attempt-{attempt}", "read-then-write-password")
    request.dbsession.flush()
    return {"attempt": attempt, "users_before": before}


def includeme(config: Any) -> None:
    config.add_api_endpoint("tests.read_then_write", "/api/v1/read-then-write", read_then_write)
