"""Password hashing with argon2 (argon2id, the library's current parameters).

Test suites create hundreds of users; at production cost each hash takes tens of
milliseconds and 64 MiB.  The pytest plugin (:mod:`ansflow_pyramid.testing`) calls
:func:`use_cheap_hashing_for_tests`, which keeps argon2id but at its minimum cost.  No
setting or environment variable reaches it, so a deployment can never weaken its hashes.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# A fixed hash to verify against when the user does not exist, so a login for an
# unknown username costs the same time as one with a wrong password.
_dummy_hash = _hasher.hash("ansflow-dummy-password")


def use_cheap_hashing_for_tests() -> None:
    """Hash with argon2id at its minimum parameters; for test processes only."""
    global _hasher, _dummy_hash
    _hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    _dummy_hash = _hasher.hash("ansflow-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; unknown or malformed hashes never match."""
    try:
        return _hasher.verify(password_hash or _dummy_hash, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
