"""Accounts and credentials: users (AnsFlow's Django user fields), refresh tokens,
failed logins."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ansflow_pyramid.db import Base, utcnow


class User(Base):
    """An account: a person or a robot driving the API."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    first_name: Mapped[str] = mapped_column(String(150), default="")
    last_name: Mapped[str] = mapped_column(String(150), default="")
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    is_staff: Mapped[bool] = mapped_column(default=False)
    is_superuser: Mapped[bool] = mapped_column(default=False)
    date_joined: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login: Mapped[dt.datetime | None] = mapped_column(default=None)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"


class RefreshToken(Base):
    """An issued refresh token, so rotation and revocation work across processes.

    Tokens issued from one login form a *family*.  Refreshing revokes the presented
    token and issues its successor in the same family; presenting a revoked token
    again (a stolen copy, replayed) revokes the whole family.  Access tokens carry the
    family id and stop authenticating once it is revoked.
    """

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    replaced_by: Mapped[str | None] = mapped_column(String(64), default=None)


class LoginFailure(Base):
    """One failed login, counted per username and per client address (when there is
    no Redis).  Written in its own transaction: the failing request's is aborted."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "user" or "address".
    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(255))
    failed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_login_failures_scope_key_failed_at", "scope", "key", "failed_at"),)
