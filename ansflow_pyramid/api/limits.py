"""Request size limits, enforced before any view reads the body."""

from __future__ import annotations

from collections.abc import Callable

from pyramid.config import Configurator
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from ansflow_pyramid.api.errors import error_response
from ansflow_pyramid.settings import as_int

DEFAULT_MAX_BODY = 1024 * 1024


def body_limit_tween_factory(
    handler: Callable[[Request], Response], registry: Registry
) -> Callable[[Request], Response]:
    limit = as_int(registry.settings.get("ansflow.max_body_bytes"), DEFAULT_MAX_BODY)

    def body_limit_tween(request: Request) -> Response:
        try:
            query_values = list(request.GET.items())
        except UnicodeDecodeError:
            return error_response(400, "The query string is not valid UTF-8.", "invalid")
        for name, value in query_values:
            if "\x00" in name or "\x00" in value:
                return error_response(
                    400,
                    "NUL characters are not allowed.",
                    "invalid",
                    errors={name.replace("\x00", ""): ["NUL characters are not allowed."]},
                )
        length = request.content_length
        if length is not None and length > limit:
            return error_response(413, f"Request body larger than {limit} bytes.")
        if length is None and request.is_body_readable:
            # A chunked body has no announced length: read at most one byte more
            # than the limit to tell whether it is too large.
            data = request.body_file.read(limit + 1)
            if len(data) > limit:
                return error_response(413, f"Request body larger than {limit} bytes.")
            request.body = data
        return handler(request)

    return body_limit_tween


def includeme(config: Configurator) -> None:
    config.add_tween(
        "ansflow_pyramid.api.limits.body_limit_tween_factory", over="pyramid_tm.tm_tween_factory"
    )
