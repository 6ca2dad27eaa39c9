"""Secrets from settings: required and strong in production, generated in development.

Production (``ansflow.environment = production``) refuses to start when a secret is
missing, shorter than :data:`MIN_SECRET_LENGTH`, or one of the well-known
development values; ``production.ini`` takes them from the environment
(``ANSFLOW_JWT_SECRET``, ``ANSFLOW_SESSION_SECRET``, ``ANSFLOW_SECRET_KEY``).
Elsewhere a missing secret is replaced by a random one for this process, with a
warning: tokens and sessions then die with the process.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import MutableMapping
from typing import Any

from pyramid.exceptions import ConfigurationError

log = logging.getLogger(__name__)

#: The settings that hold secrets, with the environment variable that sets each.
SECRET_SETTINGS = {
    "jwt.secret": "ANSFLOW_JWT_SECRET",
    "session.secret": "ANSFLOW_SESSION_SECRET",
    "ansflow.secret_key": "ANSFLOW_SECRET_KEY",
}
MIN_SECRET_LENGTH = 32
#: Words that mark a value as a placeholder or a development default.
WEAK_MARKERS = ("dev-only", "insecure", "change-me", "changeme", "replace-me", "example")
_CHECKED = "ansflow.secrets_checked"


def is_production(settings: MutableMapping[str, Any]) -> bool:
    return str(settings.get("ansflow.environment") or "").strip().lower() == "production"


def secret_problem(value: object) -> str | None:
    """Why ``value`` is not acceptable as a production secret, or None."""
    text = str(value or "").strip()
    if not text:
        return "is missing"
    if len(text) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if any(marker in text.lower() for marker in WEAK_MARKERS):
        return "is a development default"
    return None


def ensure_secrets(settings: MutableMapping[str, Any]) -> None:
    """Check (production) or fill in (elsewhere) every secret setting; idempotent."""
    if settings.get(_CHECKED):
        return
    if is_production(settings):
        problems = []
        for name, variable in SECRET_SETTINGS.items():
            problem = secret_problem(settings.get(name))
            if problem:
                problems.append(f"{name} {problem} (set {variable})")
        values = [str(settings.get(name) or "").strip() for name in SECRET_SETTINGS]
        if not problems and len(set(values)) != len(values):
            problems.append("jwt.secret, session.secret and ansflow.secret_key must differ")
        if problems:
            raise ConfigurationError(
                "refusing to start in production with weak secrets: " + "; ".join(problems)
            )
    else:
        for name, variable in SECRET_SETTINGS.items():
            if not str(settings.get(name) or "").strip():
                log.warning(
                    "%s is not set (%s): using a random secret for this process only",
                    name,
                    variable,
                )
                settings[name] = secrets.token_urlsafe(48)
    settings[_CHECKED] = True
