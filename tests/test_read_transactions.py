"""Reads begin deferred on SQLite; a read that writes after a concurrent commit is retried."""

from __future__ import annotations

from sqlalchemy import event, select

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


def test_a_read_only_request_commits_on_postgresql_and_rolls_back_on_sqlite(testapp, ansflow_app):
    """psycopg forgets its prepared statements on ROLLBACK: on PostgreSQL reads commit,
    so the statements of hot reads stay prepared on the connection."""
    engine = ansflow_app.registry["db_engine"]
    headers = _bearer(ansflow_app)
    ends: list[str] = []
    used: list[object] = []  # the driver connections the requests committed on

    def on_commit(connection) -> None:
        ends.append("commit")
        used.append(connection.connection.dbapi_connection)

    listeners = {
        "commit": on_commit,
        "rollback": lambda connection: ends.append("rollback"),
    }
    for name, listener in listeners.items():
        event.listen(engine, name, listener)
    try:
        testapp.get("/api/v1/auth/users/me/", status=401)  # no database work: no transaction
        ends.clear()
        # psycopg prepares a statement on its fifth execution on a connection, and the
        # pool hands its idle connections out in turn: enough requests for each of them.
        for _ in range(6 * (engine.pool.checkedin() + 1)):
            testapp.get("/api/v1/projects/projects/", headers=headers)
    finally:
        for name, listener in listeners.items():
            event.remove(engine, name, listener)
    if engine.dialect.name == "postgresql":
        assert ends and set(ends) == {"commit"}
        # Ask the last request's connection itself (idle in the pool now); COMMIT after,
        # since a ROLLBACK would make psycopg forget what it prepared.
        raw = used[-1]
        prepared = raw.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
        raw.commit()
        assert prepared > 0
    else:
        assert ends and set(ends) == {"rollback"}


def _bearer(app) -> dict[str, str]:
    from ansflow_pyramid.db import session_scope
    from ansflow_pyramid.identity.services import create_user
    from ansflow_pyramid.identity.tokens import new_jti
    from ansflow_pyramid.security import get_token_helper
    from ansflow_pyramid.security.tokens import ACCESS

    with session_scope(app.registry["dbsession_factory"]) as session:
        user_id = create_user(session, f"reader-{new_jti()[:8]}", "read-only-password").id
    token = get_token_helper(app.registry).create_token(user_id, token_type=ACCESS, jti=new_jti())
    return {"Authorization": f"Bearer {token}"}
