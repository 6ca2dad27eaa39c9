"""Checking a username and password, throttled; shared by every login flavour."""

from __future__ import annotations

from pyramid.request import Request
from sqlalchemy import select

from ansflow_pyramid.api.errors import APIError
from ansflow_pyramid.db import utcnow
from ansflow_pyramid.identity.models import User
from ansflow_pyramid.identity.passwords import hash_password, needs_rehash, verify_password
from ansflow_pyramid.identity.throttle import get_throttle

WWW_AUTHENTICATE = 'Bearer realm="api"'


class AuthenticationFailed(APIError):
    """Wrong username or password, or an inactive account (SimpleJWT's wording)."""

    status = 401

    def __init__(self) -> None:
        super().__init__(
            "No active account found with the given credentials",
            code="no_active_account",
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )


class LoginThrottled(APIError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"Too many failed login attempts. Try again in {retry_after} seconds.",
            code="throttled",
            headers={"Retry-After": str(retry_after)},
        )


def authenticate(request: Request, username: str, password: str) -> User:
    """The active user with these credentials; raises :class:`AuthenticationFailed` or
    :class:`LoginThrottled`.  Success records ``last_login`` (and upgrades an old hash)."""
    throttle = get_throttle(request.registry)
    address = request.remote_addr
    wait = throttle.retry_after(request, username, address)
    if wait:
        raise LoginThrottled(wait)
    user = request.dbsession.scalars(select(User).where(User.username == username)).first()
    # verify_password checks a dummy hash for unknown users: equal cost, no user probe.
    valid = verify_password(user.password_hash if user is not None else None, password)
    if user is None or not valid or not user.is_active:
        throttle.record_failure(request, username, address)
        raise AuthenticationFailed()
    throttle.reset(request, username)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login = utcnow()
    request.dbsession.flush()
    return user
