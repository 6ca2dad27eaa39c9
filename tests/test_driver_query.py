"""DriverQuery returns what SQLAlchemy would, and fails the way SQLAlchemy would."""

from __future__ import annotations

import datetime as dt

import pytest
from pyramid_retry import IRetryableError
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import DBAPIError

from ansflow_pyramid.db.driver_query import DriverQuery
from ansflow_pyramid.identity.models import User
from ansflow_pyramid.identity.services import create_user

USERS = select(*User.__table__.c).where(
    User.id.in_([1, 2, 3]) | (User.username == bindparam("name"))
)


@pytest.fixture
def users(testapp, dbsession) -> None:
    with dbsession() as session:
        create_user(session, "ada", "driver-query-password", is_staff=True)
        create_user(session, "bob", "driver-query-password", email="bob@example.com")


def test_rows_equal_sqlalchemys_converted_values(users, dbsession):
    query = DriverQuery(USERS.order_by(User.id))
    with dbsession() as session:
        expected = [tuple(row) for row in session.execute(USERS.order_by(User.id), {"name": "bob"})]
        rows = query.rows(session, {"name": "bob"})
        first = query.first(session, {"name": "bob"})
    assert rows == expected and len(rows) == 2
    # Converted as SQLAlchemy converts: timezone-aware datetimes, real booleans.
    assert isinstance(first["date_joined"], dt.datetime) and first["date_joined"].tzinfo
    assert first["is_staff"] is True
    assert first["username"] == "ada"


def test_a_missing_parameter_is_refused_not_sent_as_null(users, dbsession):
    with dbsession() as session, pytest.raises(KeyError, match="name"):
        DriverQuery(USERS).rows(session, {})


def test_driver_errors_are_wrapped_like_sqlalchemys(testapp, dbsession):
    broken = DriverQuery(select(text("no_such_column")).select_from(User.__table__))

    def run_broken() -> None:
        with dbsession() as session:  # the error aborts the session's transaction
            broken.rows(session, {})

    with pytest.raises(DBAPIError) as raised:
        run_broken()
    # A mistake in the statement is no reason to run the request again.
    assert not IRetryableError.providedBy(raised.value)
