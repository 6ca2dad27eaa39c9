"""Reading and validating request bodies with pydantic v2 schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pyramid.request import Request

from ansflow_pyramid.api.errors import APIError, ValidationFailed

SchemaT = TypeVar("SchemaT", bound=BaseModel)

NON_FIELD_ERRORS = "non_field_errors"


def json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is ``{}``.

    A body that is not JSON, or JSON that is not an object, is a 400.
    """
    raw = request.body
    if not raw or not raw.strip():
        return {}
    content_type = request.content_type or ""
    # Any declared media type other than JSON (``application/json``, ``...+json``) is
    # refused the same way, text/plain included: a body is never guessed to be JSON.
    if content_type and not _is_json_media_type(content_type):
        raise APIError(
            f"Unsupported media type {content_type!r}; send application/json.",
            code="unsupported_media_type",
            status=415,
        )
    try:
        body = json.loads(raw.decode(request.charset or "utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise APIError(f"Malformed JSON body: {error}", code="malformed_json") from None
    except RecursionError:
        # "[[[[...]]]]" nested deeper than the parser's stack: bad input, not a crash.
        raise APIError("The JSON body is nested too deeply.", code="malformed_json") from None
    if not isinstance(body, dict):
        raise APIError("The JSON body must be an object.", code="malformed_json")
    nul_fields = list(_fields_with_nul(body, ""))
    if nul_fields:
        # PostgreSQL text cannot hold NUL and no AnsFlow value needs one: reject it the
        # same way on every backend instead of failing at the database.
        raise ValidationFailed({field: [NUL_MESSAGE] for field in nul_fields})
    return body


NUL_MESSAGE = "NUL characters are not allowed."


def _is_json_media_type(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _fields_with_nul(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path or NON_FIELD_ERRORS
    elif isinstance(value, dict):
        for key, item in value.items():
            # The field is named with the NUL spelled out: error bodies carry none either.
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                yield child.replace("\x00", "\\u0000")
            yield from _fields_with_nul(item, child.replace("\x00", "\\u0000"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _fields_with_nul(item, f"{path}.{index}" if path else str(index))


def errors_from_validation(error: ValidationError) -> dict[str, list[str]]:
    """Pydantic's errors as DRF-style ``{field: [messages]}``."""
    errors: dict[str, list[str]] = {}
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item.get("loc", ())) or NON_FIELD_ERRORS
        message = item.get("msg", "Invalid value.")
        errors.setdefault(location, []).append(message)
    return errors


def validate(schema: type[SchemaT], data: Any) -> SchemaT:
    """Validate ``data`` against ``schema`` or raise :class:`ValidationFailed`."""
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        raise ValidationFailed(errors_from_validation(error)) from None


def validated_body(request: Request, schema: type[SchemaT]) -> SchemaT:
    """The request's JSON body validated against ``schema``."""
    return validate(schema, json_body(request))
