"""The users API: ``/api/v1/auth/users/`` and ``/api/v1/auth/users/me/``.

Superusers may do everything (the root ACL grants them every permission).  Other
users see a list holding only themselves and may read their own record; anyone
else's id is a 404, so user ids do not leak.  ``users/me/`` is the caller's record
(GET) and lets them change their name and email (PATCH/PUT).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel
from pyramid.authorization import Allow, Authenticated
from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPForbidden
from pyramid.request import Request
from sqlalchemy import Select, false, select, update

from ansflow_pyramid.api import (
    APIError,
    Filter,
    ModelCollection,
    ModelItem,
    ValidationFailed,
    partial_schema,
    validated_body,
)
from ansflow_pyramid.db import utcnow
from ansflow_pyramid.identity.models import RefreshToken, User
from ansflow_pyramid.identity.passwords import hash_password
from ansflow_pyramid.identity.principals import user_principal
from ansflow_pyramid.identity.schemas import ProfileUpdate, UserCreate, UserOut, UserUpdate
from ansflow_pyramid.identity.services import UsernameTaken, create_user
from ansflow_pyramid.sessions import get_session_store
from ansflow_pyramid.sessions.ended import get_ended_notices

USERNAME_TAKEN = "A user with that username already exists."


def end_sessions_and_tokens(request: Request, user: User) -> None:
    """Log ``user`` out everywhere (password changed, account deactivated), except
    for the caller's own current session."""
    current = getattr(request.session, "id", None)
    store = get_session_store(request.registry)
    store.delete_for_user(request.dbsession, user.id, keep=current)
    families = request.dbsession.scalars(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(RefreshToken.family)
        .execution_options(synchronize_session=False)
    ).all()
    get_ended_notices(request.registry).announce_after_commit(
        request.dbsession, families=set(families)
    )


class UserItem(ModelItem):
    obj: User

    @property
    def __acl__(self) -> list[Any]:
        return [(Allow, user_principal(self.obj.id), "view")]

    def update(self, data: BaseModel, partial: bool) -> Any:
        values = data.model_dump(exclude_unset=partial)
        password = values.pop("password", None)
        username = values.get("username")
        if username is not None and username != self.obj.username:
            taken = self.dbsession.scalar(select(User.id).where(User.username == username))
            if taken is not None:
                raise ValidationFailed({"username": [USERNAME_TAKEN]})
        was_active = self.obj.is_active
        for name, value in values.items():
            setattr(self.obj, name, value)
        if password:
            self.obj.password_hash = hash_password(password)
        self.dbsession.flush()
        if password or (was_active and not self.obj.is_active):
            end_sessions_and_tokens(self.request, self.obj)
        return self.obj

    def delete(self) -> None:
        identity = self.request.identity
        if identity is not None and identity.user_id == self.obj.id:
            raise APIError("You cannot delete your own account.", code="cannot_delete_self")
        super().delete()


class UserCollection(ModelCollection):
    """Users; superusers write, everyone else reads only themselves."""

    model = User
    item_class = UserItem
    read_schema = UserOut
    create_schema = UserCreate
    update_schema = UserUpdate
    filters = {
        "username": Filter(User.username),
        "is_active": Filter(User.is_active),
        "is_staff": Filter(User.is_staff),
        "is_superuser": Filter(User.is_superuser),
    }
    ordering_fields = {
        "id": User.id,
        "username": User.username,
        "date_joined": User.date_joined,
        "last_login": User.last_login,
    }
    default_ordering = ("id",)
    search_fields = (User.username, User.email, User.first_name, User.last_name)
    __acl__: ClassVar[list[Any]] = [(Allow, Authenticated, "view")]

    def base_query(self) -> Select[Any]:
        identity = self.request.identity
        if identity is None:
            return select(User).where(false())
        if identity.is_superuser:
            return select(User)
        return select(User).where(User.id == identity.user_id)

    def load_item(self, key: Any) -> Any:
        if self.request.identity is None:
            # Without credentials the answer is 401 whether or not the id exists.
            raise HTTPForbidden()
        return super().load_item(key)

    def create(self, data: BaseModel) -> Any:
        values = data.model_dump()
        try:
            return create_user(
                self.dbsession,
                values.pop("username"),
                values.pop("password"),
                email=values["email"],
                first_name=values["first_name"],
                last_name=values["last_name"],
                is_superuser=values["is_superuser"],
                is_staff=values["is_staff"],
                is_active=values["is_active"],
            )
        except UsernameTaken:
            raise ValidationFailed({"username": [USERNAME_TAKEN]}) from None


def me_view(context: Any, request: Request) -> dict[str, Any]:
    """The current user (GET); PATCH/PUT change their email and names."""
    identity = request.identity
    assert identity is not None  # the ACL admits authenticated requests only
    user = identity.user
    if request.method in ("PATCH", "PUT"):
        schema = partial_schema(ProfileUpdate) if request.method == "PATCH" else ProfileUpdate
        data = validated_body(request, schema)
        for name, value in data.model_dump(exclude_unset=request.method == "PATCH").items():
            setattr(user, name, value)
        request.dbsession.flush()
    return UserOut.model_validate(user).model_dump(mode="json")


def includeme(config: Configurator) -> None:
    config.add_api_resource(
        "auth.users",
        UserCollection,
        path="/api/v1/auth/users",
        description="User accounts (superusers write; users read themselves).",
    )
    me = config.add_api_endpoint(
        "auth.users.me",
        "/api/v1/auth/users/me",
        me_view,
        methods=("GET", "PATCH", "PUT"),
        permission="view",
        description="The current user; PATCH changes email and names.",
        response_schema=UserOut,
    )
    me.__acl__ = [(Allow, Authenticated, "view")]
