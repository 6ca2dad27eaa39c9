"""CSRF: required for unsafe requests authenticated by the cookie, never for Bearer ones."""

from __future__ import annotations

import pytest
from webtest import TestApp

from tests.identity.conftest import bearer, csrf_header, form_login, obtain

DATA = "/api/v1/test-session/"


@pytest.fixture
def browser(session_app):
    return TestApp(session_app, extra_environ={"HTTP_HOST": "localhost"})


def test_cookie_request_without_token_is_403(browser, make_user):
    make_user("alice")
    form_login(browser, "alice")
    response = browser.post_json(DATA, {"set": {"a": 1}}, status=403)
    assert response.json["code"] == "csrf_failed"
    assert response.json["detail"].startswith("CSRF Failed")


def test_cookie_request_with_header_token_passes(browser, make_user):
    make_user("alice")
    form_login(browser, "alice")
    response = browser.post_json(DATA, {"set": {"a": 1}}, headers=csrf_header(browser))
    assert response.json["written"] == {"a": 1}


def test_form_field_token_passes(browser, make_user):
    make_user("alice")
    form_login(browser, "alice")
    response = browser.post(
        "/admin/logout/", {"csrfmiddlewaretoken": browser.cookies["csrftoken"]}, status=302
    )
    assert response.location.endswith("/admin/login/")


def test_safe_methods_need_no_token(browser, make_user):
    make_user("alice")
    form_login(browser, "alice")
    assert browser.get(DATA).json["user"] == "alice"


def test_bearer_requests_need_no_token(testapp, make_user):
    make_user("alice")
    access = obtain(testapp, "alice")["access"]
    # Even with cookies in the jar, a Bearer request is not cookie-authenticated.
    form_login(testapp, "alice")
    response = testapp.patch_json(
        "/api/v1/auth/users/me/", {"first_name": "Alice"}, headers=bearer(access)
    )
    assert response.json["first_name"] == "Alice"


def test_basic_authorization_does_not_disable_csrf(browser, make_user):
    # Browsers replay Basic credentials on their own: they prove nothing about intent.
    make_user("alice")
    form_login(browser, "alice")
    browser.post_json(DATA, {"set": {"a": 1}}, headers={"Authorization": "Basic YTpi"}, status=403)


def test_token_endpoints_are_exempt(browser, make_user):
    make_user("alice")
    form_login(browser, "alice")
    pair = browser.post_json(
        "/api/v1/auth/token/", {"username": "alice", "password": "correct horse battery staple"}
    ).json
    browser.post_json("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]})
    browser.post_json("/api/v1/auth/logout/", {}, status=403)  # cookie logout is protected


def test_token_of_another_session_is_rejected(session_app, make_user):
    make_user("alice")
    make_user("mallory")
    victim = TestApp(session_app, extra_environ={"HTTP_HOST": "localhost"})
    attacker = TestApp(session_app, extra_environ={"HTTP_HOST": "localhost"})
    form_login(victim, "alice")
    form_login(attacker, "mallory")
    # The attacker plants their own (valid for them) token as the victim's cookie and
    # submits it: the token is bound to the attacker's session id, not the victim's.
    planted = attacker.cookies["csrftoken"]
    victim.set_cookie("csrftoken", planted)
    victim.post_json(DATA, {"set": {"a": 1}}, headers={"X-CSRFToken": planted}, status=403)


def test_header_must_match_the_cookie(browser, make_user):
    make_user("alice")
    form_login(browser, "alice")
    token = browser.cookies["csrftoken"]
    other = token[::-1]
    browser.post_json(DATA, {"set": {"a": 1}}, headers={"X-CSRFToken": other}, status=403)


def test_token_rotates_on_login_and_logout(browser, make_user):
    make_user("alice")
    browser.get("/admin/login/")
    anonymous = browser.cookies["csrftoken"]
    form_login(browser, "alice")
    logged_in = browser.cookies["csrftoken"]
    assert logged_in != anonymous
    browser.post("/admin/logout/", {"csrfmiddlewaretoken": logged_in}, status=302)
    assert browser.cookies["csrftoken"] not in (anonymous, logged_in)


def test_csrf_cookie_is_readable_by_scripts(testapp):
    response = testapp.get("/admin/login/")
    [line] = [h for h in response.headers.getall("Set-Cookie") if h.startswith("csrftoken=")]
    assert "HttpOnly" not in line
    assert "SameSite=Lax" in line


def test_https_requires_a_same_origin_referer(make_app, make_user):
    make_user("alice")
    app = TestApp(
        make_app(ansflow__plugins="tests.identity.session_plugin"),
        extra_environ={"HTTP_HOST": "localhost", "wsgi.url_scheme": "https"},
    )
    form_login_https(app)
    token = app.cookies["csrftoken"]
    app.post_json(
        DATA,
        {"set": {"a": 1}},
        headers={"X-CSRFToken": token, "Origin": "https://evil.example"},
        status=403,
    )
    app.post_json(
        DATA, {"set": {"a": 1}}, headers={"X-CSRFToken": token, "Origin": "https://localhost"}
    )


def form_login_https(app):
    from tests.identity.conftest import CSRF_FIELD, PASSWORD

    page = app.get("/admin/login/")
    token = CSRF_FIELD.search(page.text).group(1)
    app.post(
        "/admin/login/",
        {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Origin": "https://localhost"},
        status=302,
    )
