"""Pooled connections that died while idle: requests and the health check retry.

The pool does not ping PostgreSQL before every checkout (a round trip per request);
these tests kill the application's idle connections from outside, as a server restart
or an idle-connection reaper would, and check that nothing reaches the client.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from ansflow_pyramid.identity.services import create_user

PASSWORD = "dead-connections-password"


def kill_other_connections(url: str) -> int:
    """Terminate every other backend of the database at ``url``; how many."""
    engine = create_engine(url, poolclass=None)
    try:
        with engine.connect() as connection:
            return len(
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
    finally:
        engine.dispose()


@pytest.fixture
def postgres_url(ansflow_app) -> str:
    engine = ansflow_app.registry["db_engine"]
    if engine.dialect.name != "postgresql":
        pytest.skip("kills PostgreSQL connections; SQLite has none to kill")
    return engine.url.render_as_string(hide_password=False)


def test_a_request_on_a_dead_pooled_connection_is_retried(testapp, dbsession, postgres_url):
    with dbsession() as session:
        create_user(session, "dora", PASSWORD)
    token = testapp.post_json(
        "/api/v1/auth/token/", {"username": "dora", "password": PASSWORD}
    ).json["access"]
    headers = {"Authorization": f"Bearer {token}"}
    testapp.get("/api/v1/auth/users/me/", headers=headers)

    assert kill_other_connections(postgres_url) >= 1

    response = testapp.get("/api/v1/auth/users/me/", headers=headers)
    assert response.json["username"] == "dora"


def test_the_health_check_is_not_fooled_by_a_dead_pooled_connection(testapp, postgres_url):
    testapp.get("/api/v1/health/")
    assert kill_other_connections(postgres_url) >= 1
    response = testapp.get("/api/v1/health/")
    assert response.json["checks"]["database"]["status"] == "ok"
