"""Account operations shared by the API, the CLI and tests."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ansflow_pyramid.identity.models import User
from ansflow_pyramid.identity.passwords import hash_password

__all__ = ["UsernameTaken", "create_user"]


class UsernameTaken(ValueError):
    """A user with that username exists already."""


def create_user(
    dbsession: Session,
    username: str,
    password: str | None,
    *,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    is_superuser: bool = False,
    is_staff: bool | None = None,
    is_active: bool = True,
) -> User:
    """Create and flush a user; ``password=None`` makes an account that cannot log in."""
    if dbsession.scalar(select(User.id).where(User.username == username)) is not None:
        raise UsernameTaken(username)
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        password_hash=hash_password(password) if password else "",
        is_superuser=is_superuser,
        is_staff=is_superuser if is_staff is None else is_staff,
        is_active=is_active,
    )
    dbsession.add(user)
    dbsession.flush()
    return user
