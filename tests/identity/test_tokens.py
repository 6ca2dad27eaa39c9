"""JWT: obtain / refresh / verify / logout with SimpleJWT's shapes, and hostile tokens."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import jwt
import pytest
from sqlalchemy import select

from ansflow_pyramid.identity.models import RefreshToken, User
from tests.identity.conftest import PASSWORD, bearer, obtain

ME = "/api/v1/auth/users/me/"
SECRET_SUFFIX = "-jwt"


def jwt_secret(testapp) -> str:
    return testapp.app.registry.settings["jwt.secret"]


def test_obtain_returns_simplejwt_pair_and_bearer_works(testapp, make_user):
    user_id = make_user("alice")
    pair = obtain(testapp, "alice")
    assert set(pair) == {"access", "refresh"}
    me = testapp.get(ME, headers=bearer(pair["access"]))
    assert me.json["id"] == user_id
    assert me.json["username"] == "alice"
    assert set(me.json) == {
        "id",
        "username",
        "email",
        "first_name",
        "last_name",
        "is_active",
        "is_staff",
        "is_superuser",
        "date_joined",
        "last_login",
    }
    assert me.json["last_login"] is not None


def test_access_claims_and_lifetime_come_from_settings(make_app, make_user, testapp):
    from webtest import TestApp

    make_user("alice")
    app = TestApp(make_app(jwt__access_lifetime=120, jwt__refresh_lifetime=600))
    pair = obtain(app, "alice")
    claims = jwt.decode(pair["access"], jwt_secret(testapp), algorithms=["HS256"])
    assert claims["token_type"] == "access"
    assert claims["exp"] - claims["iat"] == 120
    assert claims["sub"] == str(claims["user_id"])
    refresh = jwt.decode(pair["refresh"], jwt_secret(testapp), algorithms=["HS256"])
    assert refresh["token_type"] == "refresh"
    assert refresh["exp"] - refresh["iat"] == 600
    assert refresh["fam"] == claims["fam"]


def test_jwt_scheme_is_accepted_too(testapp, make_user):
    make_user("alice")
    pair = obtain(testapp, "alice")
    me = testapp.get(ME, headers={"Authorization": f"JWT {pair['access']}"})
    assert me.json["username"] == "alice"


def test_form_encoded_credentials_work(testapp, make_user):
    make_user("alice")
    response = testapp.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})
    assert set(response.json) == {"access", "refresh"}


def test_bad_credentials_are_401_without_detail_leak(testapp, make_user):
    make_user("alice")
    wrong = testapp.post_json(
        "/api/v1/auth/token/", {"username": "alice", "password": "nope"}, status=401
    )
    unknown = testapp.post_json(
        "/api/v1/auth/token/", {"username": "nobody", "password": "nope"}, status=401
    )
    assert wrong.json == unknown.json
    assert wrong.json["code"] == "no_active_account"
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")


def test_inactive_user_cannot_obtain(testapp, make_user):
    make_user("alice", is_active=False)
    testapp.post_json(
        "/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, status=401
    )


def test_missing_fields_are_validation_errors(testapp):
    response = testapp.post_json("/api/v1/auth/token/", {"username": "alice"}, status=400)
    assert "password" in response.json["errors"]
    testapp.post("/api/v1/auth/token/", "{not json", content_type="application/json", status=400)


def test_refresh_rotates_and_old_refresh_is_rejected(testapp, make_user, dbsession):
    make_user("alice")
    first = obtain(testapp, "alice")
    second = testapp.post_json("/api/v1/auth/token/refresh/", {"refresh": first["refresh"]}).json
    assert set(second) == {"access", "refresh"}
    assert second["refresh"] != first["refresh"]
    assert testapp.get(ME, headers=bearer(second["access"])).json["username"] == "alice"

    # The rotated token is refused...
    reused = testapp.post_json(
        "/api/v1/auth/token/refresh/", {"refresh": first["refresh"]}, status=401
    )
    assert reused.json["code"] == "token_not_valid"
    # ...and its reuse revoked the whole family, the successor included, persistently
    # (the 401 aborted the request's own transaction).
    testapp.post_json("/api/v1/auth/token/refresh/", {"refresh": second["refresh"]}, status=401)
    testapp.get(ME, headers=bearer(second["access"]), status=401)
    with dbsession() as session:
        rows = list(session.scalars(select(RefreshToken)))
    assert len(rows) == 2
    assert all(row.revoked_at is not None for row in rows)
    replaced = {row.jti: row.replaced_by for row in rows}
    assert sorted(v for v in replaced.values() if v) == [
        jwt.decode(second["refresh"], options={"verify_signature": False})["jti"]
    ]


def test_other_families_survive_a_reuse(testapp, make_user):
    make_user("alice")
    laptop = obtain(testapp, "alice")
    phone = obtain(testapp, "alice")
    testapp.post_json("/api/v1/auth/token/refresh/", {"refresh": laptop["refresh"]})
    testapp.post_json("/api/v1/auth/token/refresh/", {"refresh": laptop["refresh"]}, status=401)
    assert testapp.get(ME, headers=bearer(phone["access"])).json["username"] == "alice"
    testapp.post_json("/api/v1/auth/token/refresh/", {"refresh": phone["refresh"]})


def test_verify(testapp, make_user):
    make_user("alice")
    pair = obtain(testapp, "alice")
    assert testapp.post_json("/api/v1/auth/token/verify/", {"token": pair["access"]}).json == {}
    assert testapp.post_json("/api/v1/auth/token/verify/", {"token": pair["refresh"]}).json == {}
    bad = testapp.post_json("/api/v1/auth/token/verify/", {"token": "x.y.z"}, status=401)
    assert bad.json["code"] == "token_not_valid"
    testapp.post_json("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]})
    # A rotated refresh token no longer verifies.
    testapp.post_json("/api/v1/auth/token/verify/", {"token": pair["refresh"]}, status=401)


def test_logout_revokes_family_of_the_access_token(testapp, make_user):
    make_user("alice")
    pair = obtain(testapp, "alice")
    response = testapp.post_json("/api/v1/auth/logout/", {}, headers=bearer(pair["access"]))
    assert response.json == {"detail": "Logged out."}
    testapp.get(ME, headers=bearer(pair["access"]), status=401)
    testapp.post_json("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]}, status=401)
    testapp.post_json("/api/v1/auth/token/verify/", {"token": pair["access"]}, status=401)


def test_logout_with_refresh_body_only(testapp, make_user):
    make_user("alice")
    pair = obtain(testapp, "alice")
    testapp.post_json("/api/v1/auth/logout/", {"refresh": pair["refresh"]})
    testapp.post_json("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]}, status=401)
    testapp.get(ME, headers=bearer(pair["access"]), status=401)


def test_logout_without_credentials_is_401(testapp):
    response = testapp.post_json("/api/v1/auth/logout/", {}, status=401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    bad = testapp.post_json("/api/v1/auth/logout/", {"refresh": "garbage"}, status=401)
    assert bad.json["code"] == "token_not_valid"


# -- hostile tokens -----------------------------------------------------------------
def _claims(testapp, token: str) -> dict:
    return jwt.decode(token, jwt_secret(testapp), algorithms=["HS256"])


def _b64(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_tampered_token_is_rejected(testapp, make_user):
    make_user("alice")
    admin_id = make_user("root", superuser=True)
    access = obtain(testapp, "alice")["access"]
    header, _payload, signature = access.split(".")
    claims = _claims(testapp, access)
    claims["user_id"] = admin_id
    claims["sub"] = str(admin_id)
    forged = f"{header}.{_b64(claims)}.{signature}"
    response = testapp.get(ME, headers=bearer(forged), status=401)
    assert response.json["code"] == "token_not_valid"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_alg_none_is_rejected(testapp, make_user):
    make_user("alice")
    claims = _claims(testapp, obtain(testapp, "alice")["access"])
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    testapp.get(ME, headers=bearer(unsigned), status=401)
    testapp.post_json("/api/v1/auth/token/verify/", {"token": unsigned}, status=401)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_other_algorithm_with_same_secret_is_rejected(testapp, make_user):
    make_user("alice")
    claims = _claims(testapp, obtain(testapp, "alice")["access"])
    other = jwt.encode(claims, jwt_secret(testapp), algorithm="HS512")
    testapp.get(ME, headers=bearer(other), status=401)
    # The same claims re-signed with the pinned algorithm are fine: only the alg differs.
    same = jwt.encode(claims, jwt_secret(testapp), algorithm="HS256")
    testapp.get(ME, headers=bearer(same), status=200)


def test_expired_token_is_rejected(testapp, make_user):
    make_user("alice")
    claims = _claims(testapp, obtain(testapp, "alice")["access"])
    now = dt.datetime.now(dt.UTC)
    claims["iat"] = int((now - dt.timedelta(hours=2)).timestamp())
    claims["exp"] = int((now - dt.timedelta(seconds=5)).timestamp())
    expired = jwt.encode(claims, jwt_secret(testapp), algorithm="HS256")
    testapp.get(ME, headers=bearer(expired), status=401)
    testapp.post_json("/api/v1/auth/token/verify/", {"token": expired}, status=401)


def test_token_expires_by_lifetime(make_app, make_user):
    """The second use finds the token among the already verified ones: the expiry
    must still be checked on that path."""
    from webtest import TestApp

    make_user("alice")
    app = TestApp(make_app(jwt__access_lifetime=1))
    access = obtain(app, "alice")["access"]
    app.get(ME, headers=bearer(access), status=200)
    time.sleep(2.1)
    app.get(ME, headers=bearer(access), status=401)


def test_refresh_token_is_not_an_access_token(testapp, make_user):
    make_user("alice")
    pair = obtain(testapp, "alice")
    testapp.get(ME, headers=bearer(pair["refresh"]), status=401)
    testapp.post_json("/api/v1/auth/token/refresh/", {"refresh": pair["access"]}, status=401)


def test_token_without_required_claims_is_rejected(testapp, make_user):
    user_id = make_user("alice")
    now = int(time.time())
    bare = jwt.encode(
        {"sub": str(user_id), "user_id": user_id, "iat": now, "exp": now + 60},
        jwt_secret(testapp),
        algorithm="HS256",
    )
    testapp.get(ME, headers=bearer(bare), status=401)


def test_invalid_bearer_does_not_fall_back_to_the_cookie(testapp, make_user):
    from tests.identity.conftest import form_login

    make_user("alice")
    form_login(testapp, "alice")
    assert testapp.get(ME).json["username"] == "alice"
    testapp.get(ME, headers=bearer("garbage"), status=401)


def test_deactivated_user_token_stops_working(testapp, make_user, dbsession):
    user_id = make_user("alice")
    access = obtain(testapp, "alice")["access"]
    with dbsession() as session:
        session.get(User, user_id).is_active = False
    testapp.get(ME, headers=bearer(access), status=401)


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Token abc", "Basic YTpi"])
def test_malformed_or_foreign_authorization_is_anonymous(testapp, header):
    response = testapp.get(ME, headers={"Authorization": header}, status=401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_tokens_are_made_without_pyramid_jwts_utcnow(testapp, make_user, monkeypatch):
    """pyramid_jwt's own create_token calls datetime.utcnow(), deprecated since Python
    3.12; the helper must never reach it (its clock is timezone-aware)."""
    import datetime as real

    import pyramid_jwt.policy

    class NoUtcnow:
        timedelta = real.timedelta

        class datetime(real.datetime):  # noqa: N801 - stands in for the module's class
            @classmethod
            def utcnow(cls):
                raise AssertionError("datetime.utcnow() was called")

    monkeypatch.setattr(pyramid_jwt.policy, "datetime", NoUtcnow)
    make_user("alice")
    pair = obtain(testapp, "alice")
    assert testapp.get(ME, headers=bearer(pair["access"])).json["username"] == "alice"
    # The helper is still pyramid_jwt's policy object, used for its claims parsing.
    helper = testapp.app.registry["ansflow.jwt"]
    assert isinstance(helper, pyramid_jwt.policy.JWTAuthenticationPolicy)
    with pytest.raises(AssertionError, match="utcnow"):
        pyramid_jwt.policy.JWTAuthenticationPolicy.create_token(helper, 1)
