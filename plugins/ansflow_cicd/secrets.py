"""Encryption at rest for tool tokens and git credentials.

Shows: how a plugin keeps secrets out of its tables.  Values are encrypted with
Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a key derived from the
``ansflow.secret_key`` setting with HKDF, so the setting can be any long random
string.  ``ansflow.old_secret_keys`` (space separated) lists earlier keys that can
still decrypt, which lets operators rotate the key: new values are always encrypted
with the current one.

The API never returns a secret: schemas expose ``has_token`` / ``has_password``.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pyramid.exceptions import ConfigurationError

from ansflow_pyramid.settings import as_list

REGISTRY_KEY = "ansflow_cicd.secret_box"
SETTING = "ansflow.secret_key"
OLD_KEYS_SETTING = "ansflow.old_secret_keys"


def derive_fernet_key(secret: str) -> bytes:
    """A Fernet key (32 bytes, urlsafe base64) derived from a setting's value."""
    raw = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"ansflow-secrets-v1",
        info=b"ansflow_cicd fernet",
    ).derive(secret.encode("utf-8"))
    return base64.urlsafe_b64encode(raw)


class SecretBox:
    """Encrypts and decrypts short secrets (text in, text out)."""

    def __init__(self, key: str, old_keys: list[str] | None = None) -> None:
        keys = [key, *(old_keys or [])]
        self._fernet = MultiFernet([Fernet(derive_fernet_key(k)) for k in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext; ``ValueError`` when the token is not ours (wrong key, damaged)."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as error:
            raise ValueError("cannot decrypt this secret with the configured keys") from error


def secret_box_from_settings(settings: dict[str, Any]) -> SecretBox:
    key = settings.get(SETTING)
    if not key or len(str(key)) < 16:
        raise ConfigurationError(
            f"{SETTING} must be set to a long random string (at least 16 characters): "
            "the cicd plugin encrypts tool tokens and git credentials with it "
            "(environment variable ANSFLOW_SECRET_KEY)"
        )
    return SecretBox(str(key), as_list(settings.get(OLD_KEYS_SETTING)))


def get_secret_box(registry: Any) -> SecretBox:
    return registry[REGISTRY_KEY]
