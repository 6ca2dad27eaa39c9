"""Settings: read from the ini file, then overlaid by environment variables.

Twelve-factor deployments configure the service through the environment, so every
setting in the ini can be overridden without editing files:

* ``DATABASE_URL`` overrides ``sqlalchemy.url``;
* ``REDIS_URL`` overrides ``redis.url`` (an empty value switches Redis off);
* ``ANSFLOW_<NAME>`` overrides a setting named after ``<NAME>`` in lower case: when
  ``<NAME>`` starts with a known section (``JWT_``, ``SESSION_``, ``REDIS_``,
  ``SQLALCHEMY_``, ``RETRY_``, ``TM_``) the first underscore becomes a dot
  (``ANSFLOW_JWT_SECRET`` -> ``jwt.secret``); otherwise the setting lives under
  ``ansflow.`` (``ANSFLOW_PLUGINS`` -> ``ansflow.plugins``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Any

SECTION_PREFIXES = ("jwt", "session", "redis", "sqlalchemy", "retry", "tm", "pyramid")

DIRECT_VARIABLES = {
    "DATABASE_URL": "sqlalchemy.url",
    "REDIS_URL": "redis.url",
}


def setting_name_for_variable(variable: str) -> str | None:
    """Return the setting an environment variable overrides, or None if it is unrelated."""
    if variable in DIRECT_VARIABLES:
        return DIRECT_VARIABLES[variable]
    if not variable.startswith("ANSFLOW_") or len(variable) <= len("ANSFLOW_"):
        return None
    rest = variable[len("ANSFLOW_") :].lower()
    section, _, remainder = rest.partition("_")
    if section in SECTION_PREFIXES and remainder:
        return f"{section}.{remainder}"
    return f"ansflow.{rest}"


def overlay_environment(
    settings: MutableMapping[str, Any], environ: Mapping[str, str] | None = None
) -> MutableMapping[str, Any]:
    """Apply environment overrides to ``settings`` in place and return it."""
    environ = os.environ if environ is None else environ
    for variable, value in environ.items():
        name = setting_name_for_variable(variable)
        if name is not None:
            settings[name] = value
    # Paste-deploy only understands the postgresql:// scheme with the default driver;
    # PostgreSQL here always goes through psycopg 3, whatever the URL says.
    url = settings.get("sqlalchemy.url", "")
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url:
        settings["sqlalchemy.url"] = url
    return settings


def as_bool(value: Any, default: bool = False) -> bool:
    """Interpret an ini or environment value as a boolean."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def as_int(value: Any, default: int) -> int:
    """Interpret an ini or environment value as an integer, falling back to ``default``."""
    if value is None or value == "":
        return default
    return int(value)


def as_list(value: Any) -> list[str]:
    """Split a whitespace- or comma-separated ini value into a list of words."""
    if not value:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [word for word in str(value).replace(",", " ").split() if word]
