"""Hostile paths, headers and form bodies: a JSON 4xx, never a 500 or a broken response.

One tween, outermost, guards the edges where the WSGI server or the request parser
would otherwise fail before any view or exception view can help:

* **paths** that are not UTF-8 once percent-decoded (``/api/v1/executions/%ff/``), or
  that carry control characters (``%0D%0A``, ``%13``, ``%00``), are a JSON 404: no
  resource has such a name, and nothing downstream must see them;
* **response headers** that echo a path (``Link: <...>; rel="canonical"``, ``Location``)
  or anything else are made safe to send: characters a header cannot carry (outside
  ISO-8859-1, control characters, CR/LF) are percent-encoded as UTF-8, so a path such
  as ``/api/v1/executions/😀/`` yields a valid header instead of a server error (and a
  CR/LF can never start a new header);
* **form bodies** (``multipart/form-data``, ``application/x-www-form-urlencoded``) are
  parsed here, once, for the endpoints that accept forms (``/admin/login/``); a body
  that cannot be parsed, such as multipart without a boundary, is a JSON 400 rather
  than an exception in whichever code reads ``request.POST`` first.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from pyramid.config import Configurator
from pyramid.events import NewResponse
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response
from pyramid.tweens import INGRESS

from ansflow_pyramid.api.errors import error_response
from ansflow_pyramid.api.limits import DEFAULT_MAX_BODY
from ansflow_pyramid.settings import as_int

log = logging.getLogger(__name__)

#: C0 controls and DEL: never part of a resource name.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: What a header value may carry as is: visible ISO-8859-1 characters, space and tab.
_UNSAFE_IN_HEADER = re.compile(r"[^\t\x20-\x7e\xa0-\xff]")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _percent_encode(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group(0).encode("utf-8"))


def safe_header_value(value: str) -> str:
    """``value`` with every character a header cannot carry percent-encoded (UTF-8)."""
    if _UNSAFE_IN_HEADER.search(value) is None:
        return value
    return _UNSAFE_IN_HEADER.sub(_percent_encode, value)


def decoded_path(environ: dict[str, object]) -> str | None:
    """PATH_INFO as text, or None when it is not UTF-8 or carries control characters."""
    raw = str(environ.get("PATH_INFO") or "")
    try:
        path = raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return None if _CONTROL.search(path) else path


def hostile_input_tween_factory(
    handler: Callable[[Request], Response], registry: Registry
) -> Callable[[Request], Response]:
    limit = as_int(registry.settings.get("ansflow.max_body_bytes"), DEFAULT_MAX_BODY)

    def hostile_input_tween(request: Request) -> Response:
        if decoded_path(request.environ) is None:
            return error_response(404)
        length = request.content_length
        if (
            request.method in ("POST", "PUT", "PATCH")
            and (request.content_type or "").lower() in FORM_TYPES
            # Larger (or chunked) bodies are refused by the size limit further in,
            # before anything parses them.
            and length is not None
            and length <= limit
        ):
            try:
                request.POST  # noqa: B018 - parse once, here, where failing is a 400
            except Exception as error:
                log.info("malformed form body on %s: %s", request.path_info, error)
                return error_response(
                    400,
                    "The form body cannot be parsed (a multipart body needs a boundary).",
                    "malformed_form",
                )
        return handler(request)

    return hostile_input_tween


def sanitize_response_headers(event: NewResponse) -> None:
    """Percent-encode what no header may carry (see the module documentation).

    A ``NewResponse`` subscriber rather than part of the tween: response callbacks
    (the alias ``Link`` header is added by one) run after every tween.
    """
    headers = event.response.headerlist
    for index, (name, value) in enumerate(headers):
        if isinstance(value, str):
            safe = safe_header_value(value)
            if safe is not value:
                headers[index] = (name, safe)


def includeme(config: Configurator) -> None:
    config.add_tween("ansflow_pyramid.hostile_input.hostile_input_tween_factory", under=INGRESS)
    config.add_subscriber(sanitize_response_headers, NewResponse)
