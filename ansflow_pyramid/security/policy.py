"""The one Pyramid 2 security policy: a Bearer token or the session cookie, and ACLs.

* ``identity``: an ``Authorization: Bearer <access token>`` (or ``JWT <token>``) header
  wins; a bad token there never falls back to the cookie.  Without such a header the
  session cookie is asked, then the identity sources plugins registered (the cicd
  plugin's stream tokens).  Either way the user must exist and be active; a token whose
  refresh family was revoked (logout, detected reuse) no longer authenticates.
* ``permits``: Pyramid's ACL helper over :meth:`Identity.principals`.
* ``remember`` / ``forget``: log the session in (rotating its id) or out.
"""

from __future__ import annotations

from typing import Any

from pyramid.authorization import ACLHelper, Everyone
from pyramid.interfaces import ISecurityPolicy
from pyramid.request import Request
from sqlalchemy import bindparam, exists, select
from zope.interface import implementer

from ansflow_pyramid.fastpath import DriverQuery
from ansflow_pyramid.identity.models import RefreshToken, User
from ansflow_pyramid.identity.principals import Identity
from ansflow_pyramid.security.tokens import ACCESS, TokenHelper, authorization_token

_IDENTITY = "_ansflow_identity"
#: ``registry[IDENTITY_SOURCES_KEY]``: callables ``source(request) -> Identity | None``
#: asked, in order, when a request has neither a Bearer token nor a session.
IDENTITY_SOURCES_KEY = "ansflow.identity_sources"
_NOT_RESOLVED = object()

# Every authenticated request runs one of these: they are built once, since building
# a statement costs more than running it.  Columns, not an ORM entity: authorization
# needs only these, and views that want the whole row load it (Identity.user).
IDENTITY_COLUMNS = (User.id, User.username, User.is_staff, User.is_superuser)
_ACTIVE_USER = select(*IDENTITY_COLUMNS).where(
    User.id == bindparam("user_id"), User.is_active.is_(True)
)
_TOKEN_USER = DriverQuery(_ACTIVE_USER)
# A token of a revoked refresh family (logout, detected reuse) is refused at once.
_TOKEN_USER_OF_FAMILY = DriverQuery(
    _ACTIVE_USER.where(
        exists().where(
            RefreshToken.family == bindparam("family"), RefreshToken.revoked_at.is_(None)
        )
    )
)


@implementer(ISecurityPolicy)
class SecurityPolicy:
    """JWT (through pyramid_jwt's helper) or session identity; ACL permissions."""

    def __init__(self, tokens: TokenHelper) -> None:
        self.tokens = tokens
        self.acl = ACLHelper()

    # -- identity --------------------------------------------------------------------
    def bearer_token(self, request: Request) -> str | None:
        """The token of the request's Bearer/JWT ``Authorization`` header, if any."""
        return authorization_token(request, self.tokens.auth_types)

    def identity(self, request: Request) -> Identity | None:
        cached = request.__dict__.get(_IDENTITY, _NOT_RESOLVED)
        if cached is _NOT_RESOLVED:
            cached = self._resolve(request)
            request.__dict__[_IDENTITY] = cached
        return cached  # type: ignore[return-value]

    def _resolve(self, request: Request) -> Identity | None:
        token = self.bearer_token(request)
        if token is not None:
            claims = self.tokens.get_claims(request)
            if not claims or claims.get("token_type") != ACCESS:
                request.__dict__["ansflow_bad_token"] = True
                return None
            row = self.token_user(request, claims)
            if row is None:
                request.__dict__["ansflow_bad_token"] = True
                return None
            return Identity(
                user_id=row["id"],
                username=row["username"],
                is_superuser=bool(row["is_superuser"]),
                is_staff=bool(row["is_staff"]),
                method="jwt",
                claims=claims,
                load_user=lambda user_id: request.dbsession.get(User, user_id),
            )
        identity = self.session_identity(request)
        if identity is None:
            # Narrow credentials plugins accept (a stream token in the query string,
            # valid for one stream only): each source returns an Identity or None.
            for source in request.registry.get(IDENTITY_SOURCES_KEY, ()):
                identity = source(request)
                if identity is not None:
                    break
        return identity

    def session_identity(self, request: Request) -> Identity | None:
        session = request.session
        if getattr(session, "cookie_id", None) is None and getattr(session, "new_id", None) is None:
            return None  # no (valid) session cookie: no database round trip
        user_id = getattr(session, "user_id", None)
        if user_id is None:
            return None
        user = request.dbsession.get(User, user_id)
        if user is None or not user.is_active:
            return None
        return Identity.of_user(user, "session")

    def token_user(self, request: Request, claims: dict[str, Any]) -> dict[str, Any] | None:
        """The active user of verified access ``claims`` whose token family still lives
        (the columns of :data:`IDENTITY_COLUMNS` by name), or None."""
        try:
            user_id = int(claims.get("user_id", claims["sub"]))
        except (KeyError, TypeError, ValueError):
            return None
        family = claims.get("fam")
        if family:
            return _TOKEN_USER_OF_FAMILY.first(
                request.dbsession, {"user_id": user_id, "family": str(family)}
            )
        return _TOKEN_USER.first(request.dbsession, {"user_id": user_id})

    def authenticated_userid(self, request: Request) -> int | None:
        identity = self.identity(request)
        return identity.user_id if identity is not None else None

    # -- authorization ------------------------------------------------------------------
    def permits(self, request: Request, context: Any, permission: str) -> Any:
        identity = self.identity(request)
        principals = identity.principals() if identity is not None else [Everyone]
        return self.acl.permits(context, principals, permission)

    # -- session login / logout -----------------------------------------------------------
    def remember(self, request: Request, userid: Any, **kw: Any) -> list[tuple[str, str]]:
        """Log ``userid`` in on the session (a fresh session id); the session tween
        sets the cookie, so no headers are returned."""
        request.session.login(int(userid))
        request.__dict__.pop(_IDENTITY, None)
        return []

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        """Log the session out: its row is deleted and the cookie cleared."""
        request.session.invalidate()
        request.__dict__[_IDENTITY] = None
        return []
