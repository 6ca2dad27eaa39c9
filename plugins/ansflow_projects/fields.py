"""Pydantic field types that keep bad input out of the database.

Shows: how a plugin's schemas turn every value the database would refuse into an
ordinary validation error (a JSON 400) instead of a database error (a 500).

* PostgreSQL rejects NUL characters in ``text`` and in JSONB strings;
* JSONB rejects ``NaN`` and ``Infinity``, which Python's ``json`` module accepts;
* ``Integer`` columns are 32 bits on PostgreSQL: a larger id is not an id;
* ``String(n)`` is enforced by PostgreSQL but not by SQLite.

Integers refuse booleans and strings (``true`` is not the id 1, ``"5"`` is not 5: a
client sending the wrong JSON type has a bug worth reporting) but accept integral
numbers written as floats (``5.0``), which JSON Schema counts as integers; booleans
are strict.
Other plugins import these types from here (``from ansflow_projects.fields import Id``).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

__all__ = [
    "INT32_MAX",
    "MAX_JSON_DEPTH",
    "Bool",
    "BoundedInt",
    "HttpURL",
    "Id",
    "JSONArray",
    "JSONObject",
    "Name",
    "Text",
    "does_not_exist",
]


#: The largest value of a PostgreSQL ``integer`` column.
INT32_MAX = 2_147_483_647
#: JSON documents nested deeper than this are refused (they are never legitimate here).
MAX_JSON_DEPTH = 32


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        _no_nul(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must not contain NaN or Infinity")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(str(key))
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


def _json_document(value: Any) -> Any:
    _check_json(value)
    return value


def Text(max_length: int | None = None, min_length: int = 0) -> Any:  # noqa: N802
    """A string of at most ``max_length`` characters without NUL characters."""
    return Annotated[
        str,
        StringConstraints(strict=True, max_length=max_length, min_length=min_length),
        AfterValidator(_no_nul),
    ]


#: A non-empty name of at most 200 characters, surrounding whitespace removed.
Name = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]


def _json_integer(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be an integer")
    return value


#: The id of a row (a foreign key given in a body).
# The bounds come before the validator: pydantic writes them into the JSON schema as
# ``minimum``/``maximum`` only there (after a BeforeValidator they leak as "ge"/"le",
# keywords no OpenAPI tool knows).  Validation is the same either way.
Id = Annotated[int, Field(ge=1, le=INT32_MAX), BeforeValidator(_json_integer)]
#: A strict boolean.
Bool = Annotated[bool, Field(strict=True)]
#: A JSON object stored in a JSON/JSONB column.
JSONObject = Annotated[dict[str, Any], AfterValidator(_json_document)]
#: A JSON array stored in a JSON/JSONB column.
JSONArray = Annotated[list[Any], AfterValidator(_json_document)]


def _http_url(value: str) -> str:
    if value and not value.lower().startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


#: An http(s) URL of at most 500 characters, or empty.
HttpURL = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, max_length=500),
    AfterValidator(_no_nul),
    AfterValidator(_http_url),
]


def BoundedInt(ge: int, le: int) -> Any:  # noqa: N802
    """An integer in ``[ge, le]`` (``5.0`` counts, ``"5"`` and ``true`` do not)."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_json_integer)]


def does_not_exist(value: Any) -> list[str]:
    """DRF's message for an unknown foreign key, as a field's error list."""
    return [f'Invalid pk "{value}" - object does not exist.']
