"""The users API and authorization: 401 vs 403 vs 404, superusers, users themselves."""

from __future__ import annotations

from sqlalchemy import select

from ansflow_pyramid.identity.models import User
from ansflow_pyramid.identity.passwords import verify_password
from tests.identity.conftest import PASSWORD, bearer, form_login, obtain

USERS = "/api/v1/auth/users/"


def login(testapp, username):
    return bearer(obtain(testapp, username)["access"])


def test_anonymous_gets_401_with_www_authenticate(testapp, make_user):
    user_id = make_user("alice")
    for url in (USERS, f"{USERS}{user_id}/", f"{USERS}999/", f"{USERS}me/"):
        response = testapp.get(url, status=401)
        assert response.json["code"] == "not_authenticated"
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    testapp.post_json(USERS, {"username": "x", "password": "long enough pw"}, status=401)


def test_user_sees_only_themselves(testapp, make_user):
    alice = make_user("alice")
    bob = make_user("bob")
    headers = login(testapp, "alice")
    listing = testapp.get(USERS, headers=headers).json
    assert listing["count"] == 1
    assert [u["id"] for u in listing["results"]] == [alice]
    assert testapp.get(f"{USERS}{alice}/", headers=headers).json["username"] == "alice"
    # Someone else's id does not exist for alice: 404, not 403 (no id probing).
    testapp.get(f"{USERS}{bob}/", headers=headers, status=404)
    testapp.get(f"{USERS}424242/", headers=headers, status=404)


def test_user_cannot_write_users(testapp, make_user):
    alice = make_user("alice")
    headers = login(testapp, "alice")
    denied = testapp.post_json(
        USERS, {"username": "eve", "password": "long enough pw"}, headers=headers, status=403
    )
    assert denied.json["code"] == "permission_denied"
    testapp.patch_json(f"{USERS}{alice}/", {"is_superuser": True}, headers=headers, status=403)
    testapp.delete(f"{USERS}{alice}/", headers=headers, status=403)


def test_superuser_crud_and_password_is_write_only(testapp, make_user, dbsession):
    make_user("root", superuser=True)
    headers = login(testapp, "root")
    created = testapp.post_json(
        USERS,
        {"username": "carol", "password": "carol's password", "email": "carol@example.com"},
        headers=headers,
        status=201,
    )
    assert "password" not in created.json and "password_hash" not in created.json
    assert created.headers["Location"].endswith(f"/api/v1/auth/users/{created.json['id']}/")
    user_id = created.json["id"]
    assert obtain(testapp, "carol", "carol's password")["access"]

    listing = testapp.get(USERS, headers=headers).json
    assert listing["count"] == 2
    assert all("password_hash" not in user for user in listing["results"])

    patched = testapp.patch_json(
        f"{USERS}{user_id}/", {"first_name": "Carol", "password": "a new password"}, headers=headers
    ).json
    assert patched["first_name"] == "Carol"
    with dbsession() as session:
        user = session.get(User, user_id)
        assert verify_password(user.password_hash, "a new password")

    testapp.delete(f"{USERS}{user_id}/", headers=headers, status=204)
    testapp.get(f"{USERS}{user_id}/", headers=headers, status=404)


def test_username_must_be_unique_and_valid(testapp, make_user):
    make_user("root", superuser=True)
    headers = login(testapp, "root")
    taken = testapp.post_json(
        USERS, {"username": "root", "password": "long enough pw"}, headers=headers, status=409
    )
    assert taken.json["errors"]["username"] == ["A user with that username already exists."]
    bad = testapp.post_json(
        USERS,
        {"username": "no spaces", "password": "short", "email": "not-an-email"},
        headers=headers,
        status=400,
    )
    assert set(bad.json["errors"]) == {"username", "password", "email"}


def test_superuser_cannot_delete_themselves(testapp, make_user):
    root = make_user("root", superuser=True)
    headers = login(testapp, "root")
    response = testapp.delete(f"{USERS}{root}/", headers=headers, status=400)
    assert response.json["code"] == "cannot_delete_self"


def test_password_change_logs_the_user_out_elsewhere(testapp, make_user, session_app):
    from webtest import TestApp

    make_user("root", superuser=True)
    alice = make_user("alice")
    browser = TestApp(session_app, extra_environ={"HTTP_HOST": "localhost"})
    form_login(browser, "alice")
    pair = obtain(testapp, "alice")
    testapp.patch_json(
        f"{USERS}{alice}/", {"password": "brand new password"}, headers=login(testapp, "root")
    )
    browser.get(f"{USERS}me/", status=401)
    testapp.get(f"{USERS}me/", headers=bearer(pair["access"]), status=401)
    testapp.post_json("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]}, status=401)


def test_me_patch_changes_only_profile_fields(testapp, make_user, dbsession):
    alice = make_user("alice")
    headers = login(testapp, "alice")
    response = testapp.patch_json(
        f"{USERS}me/",
        {"first_name": "Alice", "email": "alice@example.com", "is_superuser": True},
        headers=headers,
    )
    assert response.json["first_name"] == "Alice"
    assert response.json["is_superuser"] is False
    with dbsession() as session:
        assert session.get(User, alice).email == "alice@example.com"
    testapp.patch_json(f"{USERS}me/", {"email": None}, headers=headers, status=400)


def test_users_filters_and_search(testapp, make_user):
    make_user("root", superuser=True)
    make_user("alice", email="alice@example.com")
    make_user("bob", is_active=False)
    headers = login(testapp, "root")
    assert testapp.get(USERS, {"is_active": "false"}, headers=headers).json["count"] == 1
    found = testapp.get(USERS, {"search": "example.com"}, headers=headers).json
    assert [u["username"] for u in found["results"]] == ["alice"]
    ordered = testapp.get(USERS, {"ordering": "-username"}, headers=headers).json
    assert [u["username"] for u in ordered["results"]] == ["root", "bob", "alice"]


def test_password_hashes_are_argon2(dbsession, make_user):
    user_id = make_user("alice")
    with dbsession() as session:
        stored = session.scalar(select(User.password_hash).where(User.id == user_id))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
