"""Signatures for values the server hands to browsers (session ids, CSRF tokens),
made by itsdangerous.

The format is ``value.signature`` with an unpadded URL-safe base64 HMAC-SHA256, under
a key derived from the secret and a purpose: the same bytes as before itsdangerous
signed them, so cookies issued earlier stay valid.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

import itsdangerous


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_session_id() -> str:
    """A fresh random session id: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def purpose_key(secret: str, purpose: str) -> bytes:
    """The signing key of one purpose: a value signed for one use (a session id) can
    never be replayed as another (a CSRF token)."""
    return hashlib.sha256(f"ansflow:{purpose}:{secret}".encode()).digest()


class Signer:
    """Signs and verifies strings with HMAC-SHA256 under ``secret`` and a ``purpose``."""

    def __init__(self, secret: str, purpose: str) -> None:
        # The key is derived here (purpose_key), so itsdangerous uses it as it is.
        self._signer = itsdangerous.Signer(
            purpose_key(secret, purpose),
            sep=".",
            key_derivation="none",
            digest_method=hashlib.sha256,
        )

    def signature(self, value: str) -> str:
        return self._signer.get_signature(value).decode("ascii")

    def sign(self, value: str) -> str:
        """``value`` followed by a dot and its signature."""
        return self._signer.sign(value).decode("ascii")

    def unsign(self, signed: str | None) -> str | None:
        """The value of a signed string, or None when it is malformed or forged."""
        if not signed or len(signed) > 512:
            return None
        value, dot, _ = signed.rpartition(".")
        if not dot or not value:
            return None
        try:
            return self._signer.unsign(signed).decode("utf-8")
        except (itsdangerous.BadSignature, UnicodeDecodeError):
            return None
