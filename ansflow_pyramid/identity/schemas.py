"""Request and response bodies of the identity API (SimpleJWT / DRF shapes)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Username = Annotated[str, Field(min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")]
Password = Annotated[str, Field(min_length=8, max_length=4096)]
Email = Annotated[str, Field(max_length=254, pattern=r"^$|^[^@\s]+@[^@\s]+$")]
Name = Annotated[str, Field(max_length=150)]


class Credentials(BaseModel):
    username: Annotated[str, Field(min_length=1, max_length=150)]
    password: Annotated[str, Field(min_length=1, max_length=4096)]


class RefreshBody(BaseModel):
    refresh: Annotated[str, Field(min_length=1, max_length=4096)]


class VerifyBody(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=4096)]


class LogoutBody(BaseModel):
    refresh: Annotated[str, Field(min_length=1, max_length=4096)] | None = None


class TokenPair(BaseModel):
    access: str
    refresh: str


class UserOut(BaseModel):
    """A user as the API shows it: never a password hash."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    is_active: bool
    is_staff: bool
    is_superuser: bool
    date_joined: dt.datetime
    last_login: dt.datetime | None


class UserCreate(BaseModel):
    """What a superuser sends to create a user; ``password`` is write-only."""

    username: Username
    password: Password
    email: Email = ""
    first_name: Name = ""
    last_name: Name = ""
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False


class UserUpdate(BaseModel):
    """PUT/PATCH by a superuser; a password given is set, omitted keeps the old one."""

    username: Username
    password: Password | None = None
    email: Email = ""
    first_name: Name = ""
    last_name: Name = ""
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False


class ProfileUpdate(BaseModel):
    """What users may change about themselves at ``users/me/``."""

    email: Email = ""
    first_name: Name = ""
    last_name: Name = ""
