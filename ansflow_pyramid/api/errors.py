"""JSON errors with stable codes, for every failure an API path can produce.

Views raise :class:`APIError` (or one of its subclasses) or Pyramid's HTTP exceptions;
the exception views below render both as ``{"detail": ..., "code": ...}`` (plus
``"errors": {field: [messages]}`` for validation).  Anything else is logged and
rendered as a JSON 500 that reveals nothing internal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPException
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy.exc import DataError, IntegrityError

log = logging.getLogger(__name__)

#: Stable error codes by HTTP status, for errors raised without a code of their own.
DEFAULT_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",
    500: "server_error",
    503: "service_unavailable",
}

DEFAULT_DETAILS = {
    400: "Bad request.",
    401: "Authentication credentials were not provided.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "Conflict.",
    413: "Request body too large.",
    429: "Request was throttled.",
    500: "Internal server error.",
    503: "Service unavailable.",
}


class APIError(Exception):
    """An error the API reports to the client as JSON.

    :param detail: a human sentence.
    :param code: a stable machine-readable code (defaults by status).
    :param errors: field-level messages, ``{field: [message, ...]}``.
    :param headers: extra response headers (``Retry-After``, ``WWW-Authenticate``...).
    """

    status = 400

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        if status is not None:
            self.status = status
        self.detail = detail or DEFAULT_DETAILS.get(self.status, "Error.")
        self.code = code or DEFAULT_CODES.get(self.status, "error")
        self.errors = dict(errors) if errors else None
        self.headers = dict(headers or {})
        super().__init__(self.detail)


class ValidationFailed(APIError):
    """Input that does not validate: 400 with field-level ``errors``."""

    status = 400

    def __init__(self, errors: Mapping[str, list[str]], detail: str = "Invalid input.") -> None:
        super().__init__(detail, code="invalid", errors=errors)


class NotFound(APIError):
    status = 404


class Conflict(APIError):
    """The input is valid but clashes with the stored state: 409."""

    status = 409


class Duplicate(Conflict):
    """A value that must be unique is taken (a duplicate name): 409 naming the field.

    ``raise Duplicate("name", "This project has a pipeline with this name already.")``
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, code="unique", errors={field: [message]})


def error_response(
    status: int,
    detail: str | None = None,
    code: str | None = None,
    errors: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON error response; usable where exception views do not run (tweens)."""
    body: dict[str, Any] = {
        "detail": detail or DEFAULT_DETAILS.get(status, "Error."),
        "code": code or DEFAULT_CODES.get(status, "error"),
    }
    if errors:
        body["errors"] = errors
    response = Response(status=status, json_body=body, charset="utf-8")
    response.content_type = "application/json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def api_error_view(exc: APIError, request: Request) -> Response:
    return error_response(exc.status, exc.detail, exc.code, exc.errors, exc.headers)


def http_exception_view(exc: HTTPException, request: Request) -> Response:
    status = exc.status_int
    if status < 400:
        # Redirects and other non-errors keep Pyramid's own response.
        return exc
    headers = {
        name: value
        for name, value in exc.headers.items()
        if name.lower() in {"allow", "www-authenticate", "retry-after", "location"}
    }
    detail = DEFAULT_DETAILS.get(status) or exc.title
    explanation = getattr(exc, "detail", None)
    if isinstance(explanation, str) and explanation and status not in (404, 403):
        detail = explanation
    code = getattr(exc, "code_name", None)
    return error_response(status, detail, code if isinstance(code, str) else None, headers=headers)


def integrity_error_view(exc: IntegrityError, request: Request) -> Response:
    # Uniqueness and foreign keys are validated before writing; an IntegrityError that
    # still gets here lost a race with another request, which is a conflict.
    log.info("integrity error on %s %s: %s", request.method, request.path, exc.orig)
    return error_response(
        409, "The request conflicts with the current state of the data.", "conflict"
    )


def out_of_range_view(exc: Exception, request: Request) -> Response:
    # A value the schema let through but the database cannot store (a number beyond
    # its integer range): still the client's input, so a 400, not a 500.
    log.info("value out of range on %s %s: %s", request.method, request.path, exc)
    return error_response(400, "A value is out of the range the server can store.", "out_of_range")


def server_error_view(exc: Exception, request: Request) -> Response:
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(500)


def includeme(config: Configurator) -> None:
    """Register the JSON exception views."""
    config.add_exception_view(api_error_view, context=APIError)
    config.add_exception_view(http_exception_view, context=HTTPException)
    config.add_exception_view(integrity_error_view, context=IntegrityError)
    config.add_exception_view(out_of_range_view, context=DataError)
    config.add_exception_view(out_of_range_view, context=OverflowError)
    config.add_exception_view(server_error_view, context=Exception)
