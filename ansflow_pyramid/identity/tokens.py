"""Access and refresh tokens with SimpleJWT's shapes, rotation and reuse detection.

* ``issue_tokens``: a new *family* (one per login) with a refresh token stored in
  ``refresh_tokens`` and a stateless access token; both carry ``user_id``, ``jti``,
  ``token_type`` and the family id ``fam``.
* ``rotate``: a valid refresh token is revoked and replaced by a successor in its
  family.  Presenting a revoked one again means a copy is in someone else's hands:
  the whole family is revoked (its access tokens stop working too).
* ``revoke_family``: logout.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pyramid.interfaces import ISecurityPolicy
from pyramid.request import Request
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ansflow_pyramid.api.errors import APIError
from ansflow_pyramid.db import session_scope, utcnow
from ansflow_pyramid.identity.deferred import after_transaction
from ansflow_pyramid.identity.models import RefreshToken, User
from ansflow_pyramid.security import get_token_helper
from ansflow_pyramid.security.tokens import ACCESS, REFRESH
from ansflow_pyramid.sessions.ended import get_ended_notices


class TokenInvalid(APIError):
    status = 401

    def __init__(self, detail: str = "Token is invalid or expired") -> None:
        super().__init__(
            detail,
            code="token_not_valid",
            headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'},
        )


def new_jti() -> str:
    return uuid.uuid4().hex


def issue_tokens(request: Request, user: User, family: str | None = None) -> dict[str, str]:
    """``{"access", "refresh"}`` for ``user``; the refresh token is recorded."""
    helper = get_token_helper(request.registry)
    family = family or new_jti()
    jti = new_jti()
    now = utcnow()
    lifetime = dt.timedelta(seconds=helper.config.refresh_lifetime)
    common = {"user_id": user.id, "fam": family}
    refresh = helper.create_token(
        user.id, expiration=lifetime, token_type=REFRESH, jti=jti, **common
    )
    access = helper.create_token(user.id, token_type=ACCESS, jti=new_jti(), **common)
    request.dbsession.add(
        RefreshToken(
            jti=jti, family=family, user_id=user.id, issued_at=now, expires_at=now + lifetime
        )
    )
    request.dbsession.flush()
    return {"access": access, "refresh": refresh}


def _stored(dbsession: Session, claims: dict[str, Any]) -> RefreshToken | None:
    row = dbsession.scalars(
        select(RefreshToken).where(RefreshToken.jti == str(claims["jti"]))
    ).first()
    if row is None or row.family != claims.get("fam") or row.user_id != claims.get("user_id"):
        return None
    return row


def revoke_family(dbsession: Session, family: str, registry: Any = None) -> int:
    """Revoke every live token of ``family``; returns how many.

    With the application's ``registry``, live connections authenticated by the
    family (WebSockets) are told once the transaction commits, and close.
    """
    count = dbsession.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if registry is not None:
        get_ended_notices(registry).announce_after_commit(dbsession, families=(family,))
    return count


def revoke_family_later(request: Request, family: str) -> None:
    """Revoke ``family`` in a transaction of its own, once the request's is over: the
    request that detected the reuse answers 401, which aborts its own transaction."""

    def revoke(request: Request) -> None:
        with session_scope(request.registry["dbsession_factory"]) as dbsession:
            revoke_family(dbsession, family, request.registry)

    after_transaction(request, revoke)


def rotate(request: Request, token: str) -> dict[str, str]:
    """A new pair for a valid refresh ``token``, which is revoked."""
    helper = get_token_helper(request.registry)
    claims = helper.decode(token, REFRESH)
    if claims is None:
        raise TokenInvalid()
    dbsession = request.dbsession
    row = _stored(dbsession, claims)
    if row is None:
        raise TokenInvalid()
    if row.revoked_at is not None:
        # Reuse of a rotated or revoked token: burn the family.
        revoke_family_later(request, row.family)
        raise TokenInvalid("Token is blacklisted")
    user = dbsession.get(User, row.user_id)
    if user is None or not user.is_active:
        raise TokenInvalid()
    successor = issue_tokens(request, user, family=row.family)
    successor_jti = helper.decode(successor["refresh"], REFRESH)["jti"]  # type: ignore[index]
    revoked = dbsession.execute(
        update(RefreshToken)
        .where(RefreshToken.jti == row.jti, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow(), replaced_by=successor_jti)
        .execution_options(synchronize_session=False)
    ).rowcount
    if revoked != 1:
        # A concurrent refresh with the same token won: run this request again, and it
        # will see the token revoked (reuse).
        raise StaleDataError("refresh token rotated concurrently")
    return successor


def verify(request: Request, token: str) -> None:
    """Raise :class:`TokenInvalid` unless ``token`` would be accepted right now."""
    helper = get_token_helper(request.registry)
    claims = helper.decode(token)
    if claims is None:
        raise TokenInvalid()
    if claims["token_type"] == REFRESH:
        row = _stored(request.dbsession, claims)
        if row is None or row.revoked_at is not None:
            raise TokenInvalid()
        return
    policy = request.registry.queryUtility(ISecurityPolicy)
    if policy is None or policy.token_user(request, claims) is None:
        raise TokenInvalid()
