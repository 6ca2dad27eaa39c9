"""Reads begin deferred on SQLite; a read that writes after a concurrent commit is retried."""

from __future__ import annotations

from sqlalchemy import select

from ansflow_pyramid.identity.models import User


def test_a_get_that_writes_after_a_concurrent_commit_is_retried_and_stores_once(
    make_app, dbsession
):
    from webtest import TestApp

    app = TestApp(
        make_app(ansflow__plugins="tests.plugins.read_then_write"),
        extra_environ={"HTTP_HOST": "localhost"},
    )
    response = app.get("/api/v1/read-then-write/")
    with dbsession() as session:
        names = set(session.scalars(select(User.username)))
    backend = app.app.registry["db_engine"].dialect.name
    if backend == "sqlite":
        # The first attempt's write could not upgrade its stale read snapshot.
        assert response.json["attempt"] == 1
        assert names == {"concurrent-writer", "written-on-attempt-1"}
    else:
        # PostgreSQL's read committed transactions simply write.
        assert response.json["attempt"] == 0
        assert names == {"concurrent-writer", "written-on-attempt-0"}
