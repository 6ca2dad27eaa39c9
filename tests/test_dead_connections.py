"""Pooled connections that died while idle: requests and the health check retry.

The pool does not ping PostgreSQL before every checkout (a round trip per request);
these tests kill the application's idle connections, as a server restart or an
idle-connection reaper would (on SQLite, by closing them under the pool), and check
that nothing reaches the client.
"""

from __future__ import annotations

import pytest
from pyramid.exceptions import ConfigurationError
from sqlalchemy import Engine, create_engine, text

from ansflow_pyramid.db import get_engine
from ansflow_pyramid.identity.services import create_user
from ansflow_pyramid.identity.tokens import new_jti
from ansflow_pyramid.security import get_token_helper
from ansflow_pyramid.security.tokens import ACCESS

PASSWORD = "dead-connections-password"


def kill_idle_connections(app_engine: Engine) -> int:
    """Kill the idle pooled connections of ``app_engine``; how many."""
    if app_engine.dialect.name != "postgresql":
        # SQLite has no server to kill them: close them under the pool's feet.
        records = list(app_engine.pool._pool.queue)  # type: ignore[attr-defined]
        for record in records:
            record.dbapi_connection.close()
        return len(records)
    url = app_engine.url.render_as_string(hide_password=False)
    engine = create_engine(url)
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


def test_a_request_on_a_dead_pooled_connection_is_retried(testapp, dbsession, ansflow_app):
    with dbsession() as session:
        user_id = create_user(session, "dora", PASSWORD).id
    # Minted directly: the login endpoint is throttled per address across the suite.
    token = get_token_helper(ansflow_app.registry).create_token(
        user_id, token_type=ACCESS, jti=new_jti()
    )
    headers = {"Authorization": f"Bearer {token}"}
    testapp.get("/api/v1/auth/users/me/", headers=headers)

    assert kill_idle_connections(ansflow_app.registry["db_engine"]) >= 1

    response = testapp.get("/api/v1/auth/users/me/", headers=headers)
    assert response.json["username"] == "dora"


def test_the_health_check_is_not_fooled_by_a_dead_pooled_connection(testapp, ansflow_app):
    testapp.get("/api/v1/health/")
    assert kill_idle_connections(ansflow_app.registry["db_engine"]) >= 1
    response = testapp.get("/api/v1/health/")
    assert response.json["checks"]["database"]["status"] == "ok"


def test_prepare_threshold_setting_is_validated():
    """The setting that turns prepared statements off (PgBouncer) refuses nonsense."""
    url = "postgresql://nobody@127.0.0.1:1/none"  # never connected to
    with pytest.raises(ConfigurationError, match="prepare_threshold"):
        get_engine({"sqlalchemy.url": url, "sqlalchemy.prepare_threshold": "often"})
    get_engine({"sqlalchemy.url": url, "sqlalchemy.prepare_threshold": "none"}).dispose()
