"""Security: the one ISecurityPolicy (JWT or session), ACLs, CSRF, 401/403 as JSON.

Settings (see :class:`~ansflow_pyramid.security.tokens.JWTConfig`): ``jwt.secret``,
``jwt.algorithm`` (HS256), ``jwt.access_lifetime`` (3600 s), ``jwt.refresh_lifetime``
(7 days), ``jwt.leeway`` (0 s), ``jwt.auth_type`` ("Bearer JWT").
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from ansflow_pyramid.api.errors import error_response
from ansflow_pyramid.security.policy import SecurityPolicy
from ansflow_pyramid.security.secrets import ensure_secrets
from ansflow_pyramid.security.tokens import JWTConfig, TokenHelper

__all__ = ["SecurityPolicy", "TokenHelper", "get_token_helper", "refuse_credentials"]

TOKENS_KEY = "ansflow.jwt"
#: What a 401 answers with, so clients know to send a Bearer token.
WWW_AUTHENTICATE = 'Bearer realm="api"'


def get_token_helper(registry: Any) -> TokenHelper:
    """The application's JWT helper (pyramid_jwt's policy object, adapted)."""
    return registry[TOKENS_KEY]


REFUSED_CREDENTIALS = "ansflow_refused_credentials"


def refuse_credentials(request: Request, detail: str, code: str = "credentials_not_valid") -> None:
    """Record why credentials the request carried were refused, for its 401.

    Identity sources (``IDENTITY_SOURCES_KEY``) call it when they recognise their kind
    of credential but it does not hold (an expired stream token), so the client reads
    what went wrong instead of "credentials were not provided".
    """
    request.__dict__[REFUSED_CREDENTIALS] = (detail, code)


def forbidden_view(exc: Exception, request: Request) -> Response:
    """401 for a request without (valid) credentials, 403 for one without permission."""
    if request.identity is None:
        refused = request.__dict__.get(REFUSED_CREDENTIALS)
        if refused is not None:
            detail, code = refused
            return error_response(
                401,
                detail,
                code,
                headers={"WWW-Authenticate": WWW_AUTHENTICATE + ', error="invalid_token"'},
            )
        if request.__dict__.get("ansflow_bad_token"):
            return error_response(
                401,
                "Given token not valid for any token type",
                "token_not_valid",
                headers={"WWW-Authenticate": WWW_AUTHENTICATE + ', error="invalid_token"'},
            )
        return error_response(
            401,
            "Authentication credentials were not provided.",
            "not_authenticated",
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )
    return error_response(403, "You do not have permission to perform this action.")


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    ensure_secrets(settings)
    tokens = TokenHelper(JWTConfig.from_settings(settings))
    config.registry[TOKENS_KEY] = tokens
    config.set_security_policy(SecurityPolicy(tokens))
    config.add_forbidden_view(forbidden_view)
    config.include(".csrf")
