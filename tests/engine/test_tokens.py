"""Stream tokens: signed, scoped, expiring."""

from __future__ import annotations

import pytest

from ansflow_pyramid.execution.tokens import (
    GLOBAL_SCOPE,
    execution_scope,
    make_stream_token,
    stream_token_problem,
    verify_stream_token,
)

SECRET = "s" * 40


def test_a_token_is_valid_for_its_execution_until_it_expires():
    token = make_stream_token(SECRET, execution_scope(7), user_id=3, ttl=60, now=1000)
    found = verify_stream_token(SECRET, token, execution_scope(7), now=1059)
    assert found is not None and found.user_id == 3 and found.scope == "execution:7"
    assert verify_stream_token(SECRET, token, execution_scope(7), now=1061) is None


def test_a_token_is_worthless_for_another_scope_or_secret_or_when_tampered():
    token = make_stream_token(SECRET, execution_scope(7), user_id=3, ttl=60, now=1000)
    assert verify_stream_token(SECRET, token, execution_scope(8), now=1000) is None
    assert verify_stream_token(SECRET, token, GLOBAL_SCOPE, now=1000) is None
    assert verify_stream_token("other" * 10, token, execution_scope(7), now=1000) is None
    _payload, signature = token.split(".")
    forged = make_stream_token(SECRET, execution_scope(8), 3, 60, now=1000).split(".")[0]
    assert (
        verify_stream_token(SECRET, f"{forged}.{signature}", execution_scope(8), now=1000) is None
    )
    for garbage in ("", "x", "a.b", "a.b.c", token + "x", "." * 600):
        assert verify_stream_token(SECRET, garbage, execution_scope(7), now=1000) is None
    assert verify_stream_token(SECRET, None, execution_scope(7)) is None


def test_signing_needs_a_secret():
    with pytest.raises(ValueError, match="secret_key"):
        make_stream_token("", execution_scope(1), 1, 60)


def test_each_way_a_token_fails_has_its_own_sentence():
    token = make_stream_token(SECRET, execution_scope(7), user_id=3, ttl=60, now=1000)
    assert stream_token_problem(SECRET, token, execution_scope(7), now=1000) is None
    problems = {
        "expired": stream_token_problem(SECRET, token, execution_scope(7), now=2000),
        "another stream": stream_token_problem(SECRET, token, execution_scope(8), now=1000),
        "signature": stream_token_problem(SECRET, token + "x", execution_scope(7), now=1000),
        "malformed": stream_token_problem(SECRET, "garbage", execution_scope(7), now=1000),
    }
    for word, problem in problems.items():
        assert problem is not None and word in problem, (word, problem)
