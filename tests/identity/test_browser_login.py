"""The HTML form login at /admin/login/, as AnsFlow's browser test plan drives it."""

from __future__ import annotations

from tests.identity.conftest import CSRF_FIELD, PASSWORD, form_login


def test_login_page_sets_csrf_cookie_and_renders_the_token(testapp):
    page = testapp.get("/admin/login/")
    assert page.content_type == "text/html"
    token = CSRF_FIELD.search(page.text).group(1)
    assert token == testapp.cookies["csrftoken"]
    assert 'name="username"' in page.text and 'name="password"' in page.text


def test_login_redirects_with_a_session_cookie(testapp, make_user):
    make_user("alice")
    response = form_login(testapp, "alice")
    assert response.location == "http://localhost/admin/"
    assert "sessionid" in testapp.cookies
    assert testapp.get("/api/v1/auth/users/me/").json["username"] == "alice"
    home = testapp.get("/admin/")
    assert "alice" in home.text


def test_login_honours_a_local_next_only(testapp, make_user):
    make_user("alice")
    for target, expected in [
        ("/api/v1/auth/users/me/", "/api/v1/auth/users/me/"),
        ("https://evil.example/", "http://localhost/admin/"),
        ("//evil.example/", "http://localhost/admin/"),
        ("/\\evil.example/", "http://localhost/admin/"),
    ]:
        page = testapp.get("/admin/login/", {"next": target})
        token = CSRF_FIELD.search(page.text).group(1)
        response = testapp.post(
            "/admin/login/",
            {
                "username": "alice",
                "password": PASSWORD,
                "csrfmiddlewaretoken": token,
                "next": target,
            },
            status=302,
        )
        assert response.location.endswith(expected) and "evil" not in response.location


def test_wrong_password_shows_the_form_again(testapp, make_user):
    make_user("alice")
    page = testapp.get("/admin/login/")
    token = CSRF_FIELD.search(page.text).group(1)
    response = testapp.post(
        "/admin/login/",
        {"username": "alice", "password": "wrong", "csrfmiddlewaretoken": token},
    )
    assert response.status_int == 200
    assert "correct username and password" in response.text
    assert "sessionid" not in testapp.cookies


def test_login_without_csrf_token_is_refused(testapp, make_user):
    make_user("alice")
    testapp.get("/admin/login/")
    response = testapp.post(
        "/admin/login/", {"username": "alice", "password": PASSWORD}, status=403
    )
    assert "CSRF" in response.text
    assert "sessionid" not in testapp.cookies


def test_login_with_token_but_no_cookie_is_refused(testapp, make_user):
    make_user("alice")
    page = testapp.get("/admin/login/")
    token = CSRF_FIELD.search(page.text).group(1)
    testapp.reset()
    testapp.post(
        "/admin/login/",
        {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token},
        status=403,
    )


def test_admin_home_redirects_anonymous_to_login(testapp):
    response = testapp.get("/admin/", status=302)
    assert "/admin/login/?next=%2Fadmin%2F" in response.location


def test_logout_form(testapp, make_user):
    make_user("alice")
    form_login(testapp, "alice")
    home = testapp.get("/admin/")
    token = CSRF_FIELD.search(home.text).group(1)
    testapp.post("/admin/logout/", {"csrfmiddlewaretoken": token}, status=302)
    testapp.get("/api/v1/auth/users/me/", status=401)


def test_logout_without_token_is_refused(testapp, make_user):
    make_user("alice")
    form_login(testapp, "alice")
    testapp.post("/admin/logout/", {}, status=403)
    assert testapp.get("/api/v1/auth/users/me/").json["username"] == "alice"
