"""JSON Web Tokens through pyramid_jwt's policy object, used as a token helper.

pyramid_jwt's ``set_jwt_authentication_policy`` directive installs an authentication
policy, which Pyramid 2 refuses next to a security policy; its
``JWTAuthenticationPolicy`` object is still a good token helper (``create_token``,
``get_claims``), so :class:`TokenHelper` subclasses it and the security policy calls it.

What the subclass changes, and why:

* ``create_token`` stamps ``iat``/``exp`` from a timezone-aware clock: pyramid_jwt's
  version calls ``datetime.utcnow()``, deprecated since Python 3.12;
* the ``Authorization`` scheme may be any of ``Bearer`` (what AnsFlow clients send)
  and ``JWT`` (pyramid_jwt's default), case-insensitively;
* decoding pins the one configured HMAC algorithm (so ``alg: none`` and algorithm
  confusion are rejected) and requires ``exp``, ``iat``, ``sub``, ``jti`` and
  ``token_type``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from pyramid.exceptions import ConfigurationError
from pyramid.request import Request
from pyramid_jwt import JWTAuthenticationPolicy

from ansflow_pyramid.settings import as_int, as_list

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("HS256", "HS384", "HS512")
MIN_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "token_type"]
ACCESS = "access"
REFRESH = "refresh"


@dataclass(frozen=True)
class JWTConfig:
    """The ``jwt.*`` settings."""

    secret: str
    algorithm: str = "HS256"
    access_lifetime: int = 3600
    refresh_lifetime: int = 7 * 24 * 3600
    leeway: int = 0
    auth_types: tuple[str, ...] = ("Bearer", "JWT")
    audience: str | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> JWTConfig:
        algorithm = str(settings.get("jwt.algorithm") or cls.algorithm).upper()
        if algorithm not in ALLOWED_ALGORITHMS:
            raise ConfigurationError(
                f"jwt.algorithm must be one of {', '.join(ALLOWED_ALGORITHMS)}, not {algorithm!r}"
            )
        secret = str(settings["jwt.secret"])
        production = str(settings.get("ansflow.environment") or "").lower() == "production"
        minimum = MIN_KEY_BYTES[algorithm]
        if production and len(secret.encode("utf-8")) < minimum:
            # RFC 7518 3.2: an HMAC key at least as long as the hash output.
            raise ConfigurationError(
                f"jwt.secret must be at least {minimum} bytes long for {algorithm}"
            )
        return cls(
            secret=secret,
            algorithm=algorithm,
            access_lifetime=as_int(settings.get("jwt.access_lifetime"), cls.access_lifetime),
            refresh_lifetime=as_int(settings.get("jwt.refresh_lifetime"), cls.refresh_lifetime),
            leeway=as_int(settings.get("jwt.leeway"), cls.leeway),
            auth_types=tuple(as_list(settings.get("jwt.auth_type"))) or cls.auth_types,
            audience=settings.get("jwt.audience") or None,
        )


def authorization_token(request: Request, schemes: Iterable[str]) -> str | None:
    """The token of an ``Authorization: <scheme> <token>`` header with one of ``schemes``.

    None when there is no such header; an empty string when the scheme matches but no
    token follows (a malformed credential, which must not fall back to the cookie).
    """
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() not in {s.lower() for s in schemes}:
        return None
    return token.strip()


class VerifiedTokens:
    """The claims of tokens whose signature already verified, by token text.

    Clients send the same access token with every request; checking its HMAC and
    parsing it again each time is a pure function of the text and the key, so the
    result is kept (bounded: the table empties when full).  Only tokens that verified
    are kept, so junk sent by anyone cannot fill it.  Revocation is not cached: the
    security policy asks the database on every request.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._claims: dict[str, dict[str, Any]] = {}

    def get(self, token: str) -> dict[str, Any] | None:
        return self._claims.get(token)

    def put(self, token: str, claims: dict[str, Any]) -> None:
        if len(self._claims) >= self.capacity:
            self._claims.clear()
        self._claims[token] = dict(claims)


class TokenHelper(JWTAuthenticationPolicy):
    """pyramid_jwt's policy object, adapted to serve as the security policy's token helper."""

    def __init__(self, config: JWTConfig) -> None:
        super().__init__(
            private_key=config.secret,
            algorithm=config.algorithm,
            leeway=config.leeway,
            expiration=config.access_lifetime,
            auth_type=config.auth_types[0],
            audience=config.audience,
        )
        self.config = config
        self.auth_types = config.auth_types
        self.verified = VerifiedTokens()

    def create_token(
        self,
        principal: Any,
        expiration: dt.timedelta | int | None = None,
        audience: str | None = None,
        **claims: Any,
    ) -> str:
        """A signed token for ``principal`` (the ``sub`` claim, a string).

        Same contract as pyramid_jwt's, with a timezone-aware ``iat``.
        """
        payload = dict(self.default_claims)
        payload.update(claims)
        payload["sub"] = str(principal)
        now = dt.datetime.now(dt.UTC)
        payload["iat"] = now
        lifetime = expiration or self.expiration
        if lifetime:
            if not isinstance(lifetime, dt.timedelta):
                lifetime = dt.timedelta(seconds=int(lifetime))
            payload["exp"] = now + lifetime
        audience = audience or self.audience
        if audience:
            payload["aud"] = audience
        return jwt.encode(payload, self.private_key, algorithm=self.algorithm)

    def get_claims(self, request: Request) -> dict[str, Any]:
        """The verified claims of the request's ``Authorization`` token, or ``{}``."""
        token = authorization_token(request, self.auth_types)
        if not token:
            return {}
        return self.jwt_decode(request, token)

    def jwt_decode(self, request: Request | None, token: str) -> dict[str, Any]:
        claims = self.decode(token)
        if claims is None:
            address = getattr(request, "remote_addr", None)
            log.info("rejected a JWT from %s", address)
            return {}
        return claims

    def decode(self, token: str, token_type: str | None = None) -> dict[str, Any] | None:
        """Verified claims of ``token`` (of ``token_type`` when given), or None."""
        claims = self.verified.get(token)
        if claims is None:
            try:
                claims = jwt.decode(
                    token,
                    self.public_key,
                    algorithms=[self.algorithm],
                    leeway=self.leeway,
                    audience=self.audience,
                    options={"require": REQUIRED_CLAIMS},
                )
            except (jwt.InvalidTokenError, ValueError, TypeError):
                return None
            self.verified.put(token, claims)
        elif claims["exp"] + self.leeway <= time.time():
            # Only the expiry can change once a token verified: its signature,
            # algorithm, audience and required claims are properties of its text,
            # and a not-before or issued-at time that was passed stays passed.
            return None
        else:
            claims = dict(claims)
        if token_type is not None and claims.get("token_type") != token_type:
            return None
        if claims.get("token_type") not in (ACCESS, REFRESH):
            return None
        return claims
