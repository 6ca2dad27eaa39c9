"""Short-lived stream tokens, for clients that cannot send an Authorization header.

A browser's ``EventSource`` sends cookies but no headers.  A client authenticated by
a bearer token first asks for a stream token (bound to one execution's stream, or to
the global one) and opens ``.../events/?token=...``.  The token is an HMAC-signed
scope, user id and expiry: nothing is stored, and it is worthless for anything but
reading that stream for a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import itsdangerous

PURPOSE = b"ansflow.stream-token.v1"
GLOBAL_SCOPE = "events"


def execution_scope(execution_id: int) -> str:
    """The scope of one execution's stream."""
    return f"execution:{int(execution_id)}"


@dataclass(frozen=True)
class StreamToken:
    scope: str
    user_id: int | None
    expires: int


def _serializer(secret: str) -> itsdangerous.URLSafeSerializer:
    """itsdangerous' URL-safe JSON serializer, signing with HMAC-SHA256 under a key of
    this purpose only (the token format is the one issued before: ``payload.signature``)."""
    if not secret:
        raise ValueError("ansflow.secret_key is not set; stream tokens cannot be signed")
    key = hmac.new(secret.encode(), PURPOSE, hashlib.sha256).digest()
    return itsdangerous.URLSafeSerializer(
        key,
        signer_kwargs={"key_derivation": "none", "digest_method": hashlib.sha256, "sep": "."},
    )


def make_stream_token(
    secret: str, scope: str, user_id: int | None, ttl: int, now: float | None = None
) -> str:
    """A token granting read access to the stream ``scope`` for ``ttl`` seconds."""
    expires = int((time.time() if now is None else now) + ttl)
    return _serializer(secret).dumps({"s": scope, "u": user_id, "e": expires})


def verify_stream_token(
    secret: str, token: str | None, scope: str, now: float | None = None
) -> StreamToken | None:
    """The token's content if it is authentic, unexpired and for ``scope``; else None."""
    return _check_stream_token(secret, token, scope, now)[0]


def stream_token_problem(
    secret: str, token: str | None, scope: str, now: float | None = None
) -> str | None:
    """Why ``token`` does not open the stream ``scope``, in a sentence; None if it does."""
    return _check_stream_token(secret, token, scope, now)[1]


MALFORMED = "The stream token is malformed; send the token stream_token/ returned."


def _check_stream_token(
    secret: str, token: str | None, scope: str, now: float | None
) -> tuple[StreamToken | None, str | None]:
    if not token or token.count(".") != 1 or len(token) > 512:
        return None, MALFORMED
    try:
        document: Any = _serializer(secret).loads(token)
    except itsdangerous.BadSignature as error:
        if error.payload is None:
            return None, MALFORMED
        return None, "The stream token's signature is not valid (was it copied whole?)."
    except itsdangerous.BadData:
        return None, MALFORMED
    try:
        claimed = StreamToken(str(document["s"]), document.get("u"), int(document["e"]))
    except (ValueError, KeyError, TypeError):
        return None, MALFORMED
    if claimed.user_id is not None and not isinstance(claimed.user_id, int):
        return None, MALFORMED
    if claimed.scope != scope:
        return None, "The stream token is for another stream than this one."
    if claimed.expires < (time.time() if now is None else now):
        return None, "The stream token has expired; ask stream_token/ for a new one."
    return claimed, None
