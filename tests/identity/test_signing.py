"""The signed values browsers and stream clients hold keep their format: itsdangerous
signs them now, byte for byte as the hand-written HMAC did before."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from ansflow_pyramid.execution.tokens import make_stream_token, verify_stream_token
from ansflow_pyramid.sessions.signing import Signer


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_session_id_signatures_are_those_issued_before():
    key = hashlib.sha256(b"ansflow:session-id:sekrit").digest()
    expected = b64(hmac.new(key, b"abc-DEF_123", hashlib.sha256).digest())
    signer = Signer("sekrit", "session-id")
    assert signer.sign("abc-DEF_123") == f"abc-DEF_123.{expected}"
    assert signer.unsign(f"abc-DEF_123.{expected}") == "abc-DEF_123"
    assert signer.unsign(f"abc-DEF_124.{expected}") is None
    assert signer.unsign("no-signature") is None
    # Another purpose's signature is no signature here.
    assert Signer("sekrit", "csrf").unsign(signer.sign("abc")) is None


def test_stream_tokens_are_those_issued_before():
    key = hmac.new(b"sekrit", b"ansflow.stream-token.v1", hashlib.sha256).digest()
    payload = b64(
        json.dumps({"s": "execution:5", "u": 7, "e": 1300}, separators=(",", ":")).encode()
    )
    token = f"{payload}.{b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())}"
    assert make_stream_token("sekrit", "execution:5", 7, 300, now=1000) == token
    verified = verify_stream_token("sekrit", token, "execution:5", now=1100)
    assert verified is not None and verified.user_id == 7
    assert verify_stream_token("sekrit", token, "execution:6", now=1100) is None
    assert verify_stream_token("sekrit", token, "execution:5", now=1301) is None
    assert verify_stream_token("other", token, "execution:5", now=1100) is None
