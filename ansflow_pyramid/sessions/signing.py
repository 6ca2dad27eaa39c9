"""HMAC signatures for values the server hands to browsers (session ids, CSRF tokens)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_session_id() -> str:
    """A fresh random session id: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


class Signer:
    """Signs and verifies strings with HMAC-SHA256 under ``secret`` and a ``purpose``.

    The purpose is mixed into every signature, so a value signed for one use (a session
    id) can never be replayed as another (a CSRF token).
    """

    def __init__(self, secret: str, purpose: str) -> None:
        self._key = hashlib.sha256(f"ansflow:{purpose}:{secret}".encode()).digest()

    def signature(self, value: str) -> str:
        return b64(hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).digest())

    def sign(self, value: str) -> str:
        """``value`` followed by a dot and its signature."""
        return f"{value}.{self.signature(value)}"

    def unsign(self, signed: str | None) -> str | None:
        """The value of a signed string, or None when it is malformed or forged."""
        if not signed or len(signed) > 512:
            return None
        value, dot, signature = signed.rpartition(".")
        if not dot or not value:
            return None
        if not hmac.compare_digest(signature, self.signature(value)):
            return None
        return value
