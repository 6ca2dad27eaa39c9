"""The API layer: generic resources and views, JSON rendering and JSON errors.

Plugins import what they build on from here::

    from ansflow_pyramid.api import ModelCollection, ModelItem, Filter, APIError
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from pyramid.config import Configurator
from pyramid.renderers import JSON

from ansflow_pyramid.api.bodies import json_body, validate, validated_body
from ansflow_pyramid.api.errors import (
    APIError,
    Conflict,
    Duplicate,
    NotFound,
    ValidationFailed,
    error_response,
)
from ansflow_pyramid.api.listing import Filter, Page
from ansflow_pyramid.api.params import QueryParameters
from ansflow_pyramid.api.resources import ModelCollection, ModelItem, partial_schema

__all__ = [
    "APIError",
    "Conflict",
    "Duplicate",
    "Filter",
    "ModelCollection",
    "ModelItem",
    "NotFound",
    "Page",
    "QueryParameters",
    "ValidationFailed",
    "error_response",
    "json_body",
    "partial_schema",
    "validate",
    "validated_body",
]


def dump_json(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """``value`` as compact UTF-8 JSON, through orjson (an order of magnitude faster
    than the standard library on the documents the API serves).

    orjson refuses what the standard library accepts in stored JSON documents (integers
    beyond 64 bits, which clients may send in parameters); those take the standard
    library's path, which also raises the usual TypeError for what neither can write."""
    try:
        return orjson.dumps(value, default=default, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=default, separators=(",", ":")).encode()


def json_renderer() -> JSON:
    """Pyramid's JSON renderer on :func:`dump_json`, taught ISO 8601 datetimes,
    decimals and UUIDs (orjson writes datetimes and UUIDs the same way natively)."""
    renderer = JSON(serializer=dump_json)
    renderer.add_adapter(dt.datetime, lambda value, request: value.isoformat())
    renderer.add_adapter(dt.date, lambda value, request: value.isoformat())
    renderer.add_adapter(decimal.Decimal, lambda value, request: str(value))
    renderer.add_adapter(uuid.UUID, lambda value, request: str(value))
    return renderer


def includeme(config: Configurator) -> None:
    config.add_renderer("json", json_renderer())
    config.include(".errors")
    config.include(".views")
    config.include(".limits")
    config.include(".openapi")
