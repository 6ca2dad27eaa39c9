"""The transactional session store: cookie, rows, versions, rotation, expiry, conflicts."""

from __future__ import annotations

import datetime as dt

import pytest
import transaction
from pyramid.interfaces import IRequestExtensions, IRequestFactory
from pyramid.request import Request, apply_request_extensions
from pyramid.response import Response
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm.exc import StaleDataError
from webtest import TestApp

from ansflow_pyramid.db import utcnow
from ansflow_pyramid.sessions import DBSession, SessionRecord, get_session_store
from tests.identity.conftest import csrf_header, form_login

DATA = "/api/v1/test-session/"
ME = "/api/v1/auth/users/me/"


@pytest.fixture
def browser(session_app):
    return TestApp(session_app, extra_environ={"HTTP_HOST": "localhost"})


def start_session(browser, **values):
    """An anonymous session holding ``values`` (the GET hands out a CSRF cookie first)."""
    browser.get("/api/v1/auth/session/")
    response = browser.post_json(DATA, {"set": values}, headers=csrf_header(browser))
    return response


def rows(dbsession):
    with dbsession() as session:
        return list(session.scalars(select(SessionRecord)))


def set_cookie_lines(response, name="sessionid"):
    return [line for line in response.headers.getall("Set-Cookie") if line.startswith(name + "=")]


# -- the cookie -----------------------------------------------------------------------
def test_cookie_is_a_signed_random_id_with_safe_flags(browser, dbsession):
    response = start_session(browser, colour="blue")
    [line] = set_cookie_lines(response)
    assert "HttpOnly" in line
    assert "SameSite=Lax" in line
    assert "secure" not in line.lower()  # not in production: tests speak plain HTTP
    value = browser.cookies["sessionid"]
    session_id, _, signature = value.rpartition(".")
    [row] = rows(dbsession)
    assert row.id == session_id
    assert len(session_id) >= 43 and signature
    assert row.data == {"colour": "blue"}  # the data is in SQL, not in the cookie
    assert "blue" not in value


def test_secure_flag_in_production(make_app, testapp):
    app = TestApp(
        make_app(
            ansflow__environment="production", ansflow__plugins="tests.identity.session_plugin"
        ),
        extra_environ={"HTTP_HOST": "localhost", "wsgi.url_scheme": "https"},
    )
    app.get("/api/v1/auth/session/")
    response = app.post_json(
        DATA,
        {"set": {"a": 1}},
        headers={**csrf_header(app), "Referer": "https://localhost/"},
    )
    [line] = set_cookie_lines(response)
    assert "; secure" in line.lower() and "HttpOnly" in line and "SameSite=Lax" in line


def test_forged_cookie_is_ignored_and_cleared(browser, dbsession):
    start_session(browser, colour="blue")
    [row] = rows(dbsession)
    browser.set_cookie("sessionid", f"{row.id}.forgedsignature")
    response = browser.get(DATA)
    assert response.json["data"] == {}
    [line] = set_cookie_lines(response)
    assert "Max-Age=0" in line


# -- writes only when changed ---------------------------------------------------------
def test_reads_do_not_write(browser, dbsession):
    start_session(browser, colour="blue")
    [before] = rows(dbsession)
    for _ in range(3):
        response = browser.get(DATA)
        assert response.json["data"] == {"colour": "blue"}
        assert not set_cookie_lines(response)
    [after] = rows(dbsession)
    assert after.version == before.version
    assert after.last_seen == before.last_seen


def test_each_change_bumps_the_version(browser, dbsession):
    start_session(browser, colour="blue")
    browser.post_json(DATA, {"set": {"colour": "red"}}, headers=csrf_header(browser))
    browser.post_json(DATA, {"set": {"colour": "red"}}, headers=csrf_header(browser))  # no change
    [row] = rows(dbsession)
    assert row.data == {"colour": "red"}
    assert row.version == 2


def test_last_seen_touches_are_throttled_and_do_not_bump_the_version(make_app, testapp, dbsession):
    app = TestApp(
        make_app(ansflow__plugins="tests.identity.session_plugin", session__touch_interval=0),
        extra_environ={"HTTP_HOST": "localhost"},
    )
    start_session(app, colour="blue")
    [before] = rows(dbsession)
    app.get(DATA)
    [after] = rows(dbsession)
    assert after.last_seen > before.last_seen
    assert after.expires_at > before.expires_at
    assert after.version == before.version

    # With the default interval (300 s) a read right after a write does not touch.
    lazy = TestApp(testapp.app, extra_environ={"HTTP_HOST": "localhost"})
    lazy.set_cookie("sessionid", app.cookies["sessionid"])
    lazy.get("/api/v1/auth/session/")
    [again] = rows(dbsession)
    assert again.last_seen == after.last_seen


def test_error_responses_write_nothing(browser, dbsession):
    start_session(browser, colour="blue")
    # A request that fails (bad JSON -> 400) after changing the session stores nothing.
    browser.post(
        DATA, "{bad", content_type="application/json", headers=csrf_header(browser), status=400
    )
    [row] = rows(dbsession)
    assert row.version == 1


# -- expiry -----------------------------------------------------------------------------
def test_expiry_is_enforced_server_side(browser, dbsession, make_user):
    make_user("alice")
    form_login(browser, "alice")
    assert browser.get(ME).json["username"] == "alice"
    with dbsession() as session:
        session.execute(update(SessionRecord).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    response = browser.get(ME, status=401)
    [line] = set_cookie_lines(response)  # the dead cookie is cleared, even on a 401
    assert "Max-Age=0" in line
    assert "sessionid" not in browser.cookies


def test_max_age_setting_sets_expiry(make_app, testapp, dbsession):
    app = TestApp(
        make_app(ansflow__plugins="tests.identity.session_plugin", session__max_age=60),
        extra_environ={"HTTP_HOST": "localhost"},
    )
    response = start_session(app, a=1)
    assert "Max-Age=60" in set_cookie_lines(response)[0]
    [row] = rows(dbsession)
    assert 55 <= (row.expires_at - row.last_seen).total_seconds() <= 60


def test_prune_removes_only_expired_rows(browser, dbsession, ansflow_app):
    start_session(browser, a=1)
    other = TestApp(browser.app, extra_environ={"HTTP_HOST": "localhost"})
    start_session(other, b=2)
    with dbsession() as session:
        first = session.scalars(select(SessionRecord).order_by(SessionRecord.created_at)).first()
        first.expires_at = utcnow() - dt.timedelta(seconds=1)
        expired_id = first.id
    store = get_session_store(ansflow_app.registry)
    with dbsession() as session:
        assert store.prune(session) == 1
    remaining = rows(dbsession)
    assert [r.id for r in remaining] != [expired_id]
    assert len(remaining) == 1


# -- login rotates, logout deletes -------------------------------------------------------
def test_login_rotates_the_id_and_keeps_data(browser, dbsession, make_user):
    make_user("alice")
    start_session(browser, cart="3 items")
    [anonymous] = rows(dbsession)
    old_cookie = browser.cookies["sessionid"]
    form_login(browser, "alice")
    [logged_in] = rows(dbsession)
    assert logged_in.id != anonymous.id  # fixation: the pre-login id is dead
    assert logged_in.user_id is not None
    assert logged_in.data == {"cart": "3 items"}
    assert browser.get(DATA).json == {"data": {"cart": "3 items"}, "user": "alice"}
    # The pre-login cookie names nothing any more.
    attacker = TestApp(browser.app, extra_environ={"HTTP_HOST": "localhost"})
    attacker.set_cookie("sessionid", old_cookie)
    assert attacker.get(DATA).json == {"data": {}, "user": None}


def test_another_user_logging_in_does_not_inherit_data(browser, dbsession, make_user):
    make_user("alice")
    make_user("bob")
    form_login(browser, "alice")
    browser.post_json(DATA, {"set": {"secret": "alice's"}}, headers=csrf_header(browser))
    form_login(browser, "bob")
    assert browser.get(DATA).json == {"data": {}, "user": "bob"}


def test_logout_deletes_the_row_and_the_cookie(browser, dbsession, make_user):
    make_user("alice")
    form_login(browser, "alice")
    cookie = browser.cookies["sessionid"]
    assert len(rows(dbsession)) == 1
    response = browser.post("/admin/logout/", {"csrfmiddlewaretoken": browser.cookies["csrftoken"]})
    assert response.status_int == 302
    assert "Max-Age=0" in set_cookie_lines(response)[0]
    assert rows(dbsession) == []
    replay = TestApp(browser.app, extra_environ={"HTTP_HOST": "localhost"})
    replay.set_cookie("sessionid", cookie)
    replay.get(ME, status=401)


def test_json_session_login_and_logout(browser, dbsession, make_user):
    make_user("alice")
    browser.get("/api/v1/auth/session/")
    response = browser.post_json(
        "/api/v1/auth/session/",
        {"username": "alice", "password": "correct horse battery staple"},
    )
    assert response.json["user"]["username"] == "alice"
    assert response.json["csrftoken"] == browser.cookies["csrftoken"]
    assert browser.get("/api/v1/auth/session/").json["authenticated"] is True
    browser.delete("/api/v1/auth/session/", headers=csrf_header(browser))
    assert rows(dbsession) == []
    assert browser.get("/api/v1/auth/session/").json["authenticated"] is False


def test_json_session_login_requires_json(browser, make_user):
    make_user("alice")
    browser.post(
        "/api/v1/auth/session/",
        '{"username": "alice", "password": "correct horse battery staple"}',
        content_type="text/plain",
        status=415,
    )


def test_logout_endpoint_ends_the_session(browser, dbsession, make_user):
    make_user("alice")
    form_login(browser, "alice")
    browser.post_json("/api/v1/auth/logout/", {}, headers=csrf_header(browser))
    assert rows(dbsession) == []
    browser.get(ME, status=401)


def test_flash_messages(browser, session_app, dbsession):
    start_session(browser, a=1)
    [row] = rows(dbsession)
    request = _request(session_app, browser.cookies["sessionid"])
    with request.tm:
        session = request.session
        session.flash("saved")
        session.flash("saved", allow_duplicate=False)
        assert session.peek_flash() == ["saved"]
        session.persist(Response())
    request = _request(session_app, browser.cookies["sessionid"])
    with request.tm:
        assert request.session.pop_flash() == ["saved"]
        assert request.session.pop_flash() == []
    assert row.id == rows(dbsession)[0].id


# -- concurrent writers, step by step ------------------------------------------------------
def _request(app, cookie: str) -> Request:
    factory = app.registry.queryUtility(IRequestFactory, default=Request)
    request = factory.blank("/", headers={"Cookie": f"sessionid={cookie}"})
    request.registry = app.registry
    extensions = app.registry.queryUtility(IRequestExtensions)
    if extensions is not None:
        apply_request_extensions(request, extensions=extensions)
    return request


class Writer:
    """A request's session, loaded in one transaction and written in another: the same
    as a request whose data was read before a concurrent commit (PostgreSQL's READ
    COMMITTED), on any backend."""

    def __init__(self, app, cookie: str) -> None:
        self.request = _request(app, cookie)
        self.request.tm = transaction.TransactionManager(explicit=True)
        store = get_session_store(app.registry)
        self.session = DBSession(self.request, store)
        with self.request.tm:
            self.session._load()

    def commit(self) -> Response:
        response = Response()
        with self.request.tm:
            self.session.persist(response)
        return response


def test_concurrent_writers_to_different_keys_both_win(browser, session_app, dbsession):
    start_session(browser, base=0)
    cookie = browser.cookies["sessionid"]
    first, second = Writer(session_app, cookie), Writer(session_app, cookie)
    first.session["a"] = 1
    second.session["b"] = 2
    first.commit()
    second.commit()  # version moved, but it read nothing the first one changed: merged
    [row] = rows(dbsession)
    assert row.data == {"base": 0, "a": 1, "b": 2}
    assert row.version == 3


def test_concurrent_read_modify_write_conflict_retries(browser, session_app, dbsession):
    start_session(browser, counter=0)
    cookie = browser.cookies["sessionid"]
    first, second = Writer(session_app, cookie), Writer(session_app, cookie)
    first.session["counter"] = first.session["counter"] + 1
    second.session["counter"] = second.session["counter"] + 1
    first.commit()
    with pytest.raises(StaleDataError):
        second.commit()  # pyramid_retry runs the request again on fresh data
    [row] = rows(dbsession)
    assert row.data == {"counter": 1}


def test_whole_session_readers_conflict_with_any_change(browser, session_app, dbsession):
    start_session(browser, a=0)
    cookie = browser.cookies["sessionid"]
    first, second = Writer(session_app, cookie), Writer(session_app, cookie)
    first.session["a"] = 1
    second.session["n"] = len(second.session)
    first.commit()
    with pytest.raises(StaleDataError):
        second.commit()


def test_deleted_session_is_never_resurrected(browser, session_app, dbsession):
    start_session(browser, a=0)
    cookie = browser.cookies["sessionid"]
    logout, writer = Writer(session_app, cookie), Writer(session_app, cookie)
    writer.session["late"] = True
    logout.session.invalidate()
    logout.commit()
    response = writer.commit()  # no exception: the write is dropped
    assert writer.session.dropped is True
    assert rows(dbsession) == []
    [line] = [h for h in response.headers.getall("Set-Cookie") if h.startswith("sessionid=")]
    assert "Max-Age=0" in line


def test_dead_cookie_does_not_start_a_new_session(browser, session_app, dbsession):
    start_session(browser, a=0)
    cookie = browser.cookies["sessionid"]
    with dbsession() as session:
        session.execute(delete(SessionRecord))
    response = browser.post_json(DATA, {"set": {"late": 1}}, headers=csrf_header(browser))
    assert response.status_int == 200
    assert "Max-Age=0" in set_cookie_lines(response)[0]
    with dbsession() as session:
        assert session.scalar(select(func.count()).select_from(SessionRecord)) == 0
    assert cookie
