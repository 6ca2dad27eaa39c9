"""The auth API: tokens (SimpleJWT shapes), logout and the JSON session login.

=======  ==============================  ==========================================
POST     /api/v1/auth/token/             ``{username, password}`` -> ``{access, refresh}``
POST     /api/v1/auth/token/refresh/     ``{refresh}`` -> ``{access, refresh}`` (rotates)
POST     /api/v1/auth/token/verify/      ``{token}`` -> ``{}`` or 401
POST     /api/v1/auth/logout/            revokes the caller's token family and/or session
GET      /api/v1/auth/session/           ``{authenticated, user, csrftoken}``
POST     /api/v1/auth/session/           JSON ``{username, password}``: session login
DELETE   /api/v1/auth/session/           session logout
=======  ==============================  ==========================================
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.csrf import get_csrf_token
from pyramid.request import Request
from pyramid.security import forget, remember

from ansflow_pyramid.api import APIError, json_body, validate
from ansflow_pyramid.identity.authentication import authenticate
from ansflow_pyramid.identity.schemas import (
    Credentials,
    LogoutBody,
    RefreshBody,
    TokenPair,
    UserOut,
    VerifyBody,
)
from ansflow_pyramid.identity.tokens import (
    TokenInvalid,
    issue_tokens,
    revoke_family,
    rotate,
    verify,
)
from ansflow_pyramid.security import WWW_AUTHENTICATE, get_token_helper
from ansflow_pyramid.security.csrf import exempt_from_csrf
from ansflow_pyramid.security.tokens import REFRESH

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def body_data(request: Request) -> dict[str, Any]:
    """A JSON object, or a form (DRF's token views accept both)."""
    if request.content_type in FORM_TYPES:
        return {key: request.POST.get(key) for key in request.POST}
    return json_body(request)


def user_data(user: Any) -> dict[str, Any]:
    return UserOut.model_validate(user).model_dump(mode="json")


def token_obtain_view(context: Any, request: Request) -> dict[str, str]:
    """Obtain an access and a refresh token with a username and password."""
    credentials = validate(Credentials, body_data(request))
    user = authenticate(request, credentials.username, credentials.password)
    return issue_tokens(request, user)


def token_refresh_view(context: Any, request: Request) -> dict[str, str]:
    """Exchange a refresh token for a new pair; the old refresh token is revoked."""
    body = validate(RefreshBody, body_data(request))
    return rotate(request, body.refresh)


def token_verify_view(context: Any, request: Request) -> dict[str, Any]:
    """200 ``{}`` when the token would be accepted now, else 401."""
    body = validate(VerifyBody, body_data(request))
    verify(request, body.token)
    return {}


def logout_view(context: Any, request: Request) -> dict[str, str]:
    """Revoke the caller's refresh token family (from the body or the access token)
    and log the session out."""
    body = validate(LogoutBody, body_data(request))
    done = False
    if body.refresh:
        claims = get_token_helper(request.registry).decode(body.refresh, REFRESH)
        if claims is None:
            raise TokenInvalid()
        revoke_family(request.dbsession, str(claims["fam"]), request.registry)
        done = True
    identity = request.identity
    if identity is not None and identity.method == "jwt" and identity.claims.get("fam"):
        revoke_family(request.dbsession, str(identity.claims["fam"]), request.registry)
        done = True
    if getattr(request.session, "cookie_sent", False):
        # Also when the session is gone already: logging out twice is not an error.
        forget(request)
        done = True
    if not done:
        raise APIError(
            "Authentication credentials were not provided.",
            code="not_authenticated",
            status=401,
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )
    return {"detail": "Logged out."}


def session_state_view(context: Any, request: Request) -> dict[str, Any]:
    """Who the session belongs to; also hands out the CSRF token (and cookie)."""
    identity = request.identity
    return {
        "authenticated": identity is not None,
        "user": user_data(identity.user) if identity is not None else None,
        "csrftoken": get_csrf_token(request),
    }


def session_view(context: Any, request: Request) -> Any:
    if request.method == "GET":
        return session_state_view(context, request)
    if request.method == "DELETE":
        forget(request)
        return {"detail": "Logged out."}
    # Only JSON: a cross-site HTML form cannot send it, so this cannot be used to log
    # a victim's browser into someone else's account.
    if request.content_type != "application/json":
        raise APIError(
            "Send the credentials as application/json.",
            code="unsupported_media_type",
            status=415,
        )
    credentials = validate(Credentials, json_body(request))
    user = authenticate(request, credentials.username, credentials.password)
    remember(request, user.id)
    return {"user": user_data(user), "csrftoken": get_csrf_token(request)}


def includeme(config: Configurator) -> None:
    token = config.add_api_endpoint(
        "auth.token",
        "/api/v1/auth/token",
        token_obtain_view,
        methods=("POST",),
        description="Obtain an access and a refresh token (SimpleJWT).",
        request_schema=Credentials,
        response_schema=TokenPair,
    )
    refresh = config.add_api_endpoint(
        "auth.token.refresh",
        "/api/v1/auth/token/refresh",
        token_refresh_view,
        methods=("POST",),
        description="Rotate a refresh token: a new pair; the old refresh token is revoked.",
        request_schema=RefreshBody,
        response_schema=TokenPair,
    )
    verify_endpoint = config.add_api_endpoint(
        "auth.token.verify",
        "/api/v1/auth/token/verify",
        token_verify_view,
        methods=("POST",),
        description="Check a token: 200 {} when valid, 401 otherwise.",
        request_schema=VerifyBody,
    )
    # Their authority is in the body (credentials, a refresh token), never the cookie.
    exempt_from_csrf(config.registry, token, refresh, verify_endpoint)
    config.add_api_endpoint(
        "auth.logout",
        "/api/v1/auth/logout",
        logout_view,
        methods=("POST",),
        description="Log out: revoke the refresh token family and/or end the session.",
        request_schema=LogoutBody,
    )
    config.add_api_endpoint(
        "auth.session",
        "/api/v1/auth/session",
        session_view,
        methods=("GET", "POST", "DELETE"),
        description="Browser session: state (GET), JSON login (POST), logout (DELETE).",
        request_schema=Credentials,
    )
