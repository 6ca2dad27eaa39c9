"""CSRF protection for requests authenticated by the session cookie.

Tokens travel the way AnsFlow's (Django's) clients expect: a readable ``csrftoken``
cookie, sent back in the ``X-CSRFToken`` header or the ``csrfmiddlewaretoken`` form
field.  Beyond Django's double submit, each token carries an HMAC that binds it to the
session id the browser holds (or to "no session"), so a cookie planted by a sibling
subdomain cannot forge a valid token for someone else's session.  The token changes
whenever the session id does (login, logout, a new session).

Pyramid's ``require_csrf`` machinery enforces it for unsafe methods; the
:func:`csrf_applies` callback limits that to requests that carry the session cookie
and no ``Authorization`` token (a Bearer request is not forgeable by another site).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from pyramid.config import Configurator
from pyramid.events import NewRequest
from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken
from pyramid.interfaces import ICSRFStoragePolicy, ISecurityPolicy
from pyramid.request import Request
from pyramid.response import Response
from zope.interface import implementer

from ansflow_pyramid.api.errors import error_response
from ansflow_pyramid.sessions.signing import Signer

_TOKEN = "_ansflow_csrf"
_CALLBACK = "_ansflow_csrf_callback"
FORM_FIELD = "csrfmiddlewaretoken"
HEADER = "X-CSRFToken"


@implementer(ICSRFStoragePolicy)
class SessionBoundCookieCSRFPolicy:
    """Pyramid CSRF storage: a ``csrftoken`` cookie whose value is bound to the session."""

    def __init__(
        self,
        secret: str,
        cookie_name: str = "csrftoken",
        session_cookie_name: str = "sessionid",
        secure: bool = False,
        samesite: str = "Lax",
        max_age: int = 365 * 24 * 3600,
    ) -> None:
        self.signer = Signer(secret, "csrf")
        self.cookie_name = cookie_name
        self.session_cookie_name = session_cookie_name
        self.secure = secure
        self.samesite = samesite
        self.max_age = max_age

    # -- tokens ----------------------------------------------------------------------
    @staticmethod
    def binding(request: Request) -> str:
        """What new tokens are bound to: the session id the browser holds after this
        response."""
        return str(getattr(request.session, "csrf_binding", "") or "")

    @staticmethod
    def sent_binding(request: Request) -> str:
        """What the token the browser sent is bound to: the session id it sent."""
        return str(getattr(request.session, "cookie_id", "") or "")

    def mint(self, binding: str) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self.signer.signature(binding + ':' + nonce)}"

    def valid_for(self, token: str, binding: str) -> bool:
        nonce, dot, signature = token.partition(".")
        if not dot or not nonce or len(token) > 128:
            return False
        return hmac.compare_digest(signature, self.signer.signature(binding + ":" + nonce))

    # -- ICSRFStoragePolicy ------------------------------------------------------------
    def new_csrf_token(self, request: Request) -> str:
        binding = self.binding(request)
        token = self.mint(binding)
        request.__dict__[_TOKEN] = (binding, token)
        self.watch(request)
        return token

    def get_csrf_token(self, request: Request) -> str:
        binding = self.binding(request)
        cached = request.__dict__.get(_TOKEN)
        if cached is not None and cached[0] == binding:
            return cached[1]
        cookie = request.cookies.get(self.cookie_name)
        if cookie and self.valid_for(cookie, binding):
            request.__dict__[_TOKEN] = (binding, cookie)
            self.watch(request)
            return cookie
        return self.new_csrf_token(request)

    def check_csrf_token(self, request: Request, supplied_token: str) -> bool:
        cookie = request.cookies.get(self.cookie_name)
        if not cookie or not supplied_token:
            return False
        if not hmac.compare_digest(supplied_token.encode(), cookie.encode()):
            return False
        return self.valid_for(cookie, self.sent_binding(request))

    # -- the cookie --------------------------------------------------------------------
    def watch(self, request: Request) -> None:
        """Keep the browser's token in step with its session id in this response."""
        if not request.__dict__.get(_CALLBACK):
            request.__dict__[_CALLBACK] = True
            request.add_response_callback(self.sync_cookie)

    def sync_cookie(self, request: Request, response: Response) -> None:
        # Runs after the session tween persisted the session (and after the commit):
        # the binding is final.  Error responses changed nothing that was stored.
        if response.status_code >= 400:
            return
        cookie = request.cookies.get(self.cookie_name)
        token = self.get_csrf_token(request)
        if token != cookie:
            response.set_cookie(
                self.cookie_name,
                token,
                max_age=self.max_age,
                path="/",
                secure=self.secure,
                httponly=False,  # read by JavaScript clients to fill X-CSRFToken
                samesite=self.samesite,
            )


EXEMPT_KEY = "ansflow.csrf_exempt"


def exempt_from_csrf(registry: Any, *contexts: type) -> None:
    """Exempt the views of ``contexts`` (e.g. endpoints from ``add_api_endpoint``).

    Only for views whose authority comes from the request body, never from the
    cookie: obtaining, refreshing or verifying a token.
    """
    registry.setdefault(EXEMPT_KEY, set()).update(contexts)


def csrf_applies(request: Request) -> bool:
    """Whether an unsafe request needs a CSRF token: cookie-authenticated ones do."""
    # A Bearer/JWT header is never sent by a browser on its own, so such a request is
    # not forgeable (and is not authenticated by the cookie).  Basic credentials are:
    # browsers replay them, so they do not exempt anything.
    security = request.registry.queryUtility(ISecurityPolicy)
    bearer = getattr(security, "bearer_token", None)
    if bearer is not None and bearer(request) is not None:
        return False
    policy = request.registry.getUtility(ICSRFStoragePolicy)
    if getattr(policy, "session_cookie_name", "sessionid") not in request.cookies:
        return False
    exempt = request.registry.get(EXEMPT_KEY)
    return not (exempt and type(request.context) in exempt and not request.view_name)


def csrf_failed_view(exc: Exception, request: Request) -> Response:
    reason = "CSRF token missing or incorrect."
    if isinstance(exc, BadCSRFOrigin):
        reason = "Origin checking failed."
    return error_response(403, f"CSRF Failed: {reason}", "csrf_failed")


def _watch_cookie_holders(event: NewRequest) -> None:
    # A browser that holds a token must get a new one when its session id changes.
    request = event.request
    policy = request.registry.queryUtility(ICSRFStoragePolicy)
    if isinstance(policy, SessionBoundCookieCSRFPolicy) and (
        policy.cookie_name in request.cookies or policy.session_cookie_name in request.cookies
    ):
        policy.watch(request)


def includeme(config: Configurator, **options: Any) -> None:
    """Install the CSRF policy; expects ``session.*`` settings and the session store."""
    from ansflow_pyramid.sessions import get_session_store

    store_config = get_session_store(config.registry).config
    settings = config.get_settings()
    policy = SessionBoundCookieCSRFPolicy(
        secret=store_config.secret,
        cookie_name=str(settings.get("session.csrf_cookie_name") or "csrftoken"),
        session_cookie_name=store_config.cookie_name,
        secure=store_config.secure,
        samesite=store_config.samesite,
    )
    config.set_csrf_storage_policy(policy)
    config.set_default_csrf_options(
        require_csrf=True,
        token=FORM_FIELD,
        header=HEADER,
        callback=csrf_applies,
    )
    config.add_subscriber(_watch_cookie_holders, NewRequest)
    config.add_exception_view(csrf_failed_view, context=BadCSRFToken)
    config.add_exception_view(csrf_failed_view, context=BadCSRFOrigin)
