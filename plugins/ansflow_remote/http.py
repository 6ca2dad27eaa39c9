"""HTTP for the CI tool plugins: the hardened outbound client, and its errors mapped
onto the remote backend's (:class:`RemoteUnavailable`, :class:`RemoteAuthError`...).

Every call a CI plugin makes to a tool goes through :class:`ToolHTTP`, which sends it
through the application's outbound client (``ansflow_pyramid.outbound``: timeouts,
the address policy checked on the resolved IP, redirects followed hop by hop without
credentials across origins).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import httpx

from ansflow_pyramid.execution.remote import (
    RemoteAuthError,
    RemoteError,
    RemoteNotFound,
    RemoteUnavailable,
)
from ansflow_pyramid.outbound import (
    OutboundAddressRefused,
    OutboundError,
    get_outbound_client,
)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """How long the tool asked us to wait: ``Retry-After`` (seconds or a date), or a
    rate limit's reset time when no request is left."""
    raw = response.headers.get("Retry-After")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(raw)
            if parsed is not None:
                return max(0.0, parsed.timestamp() - time.time())
    if response.headers.get("X-RateLimit-Remaining") == "0":
        reset = response.headers.get("X-RateLimit-Reset")
        if reset and reset.isdigit():
            return max(1.0, float(reset) - time.time())
    return None


class ToolHTTP:
    """Requests to one tool, with its errors turned into remote backend errors.

    :param label: the tool's kind in messages ("Jenkins").
    """

    def __init__(
        self,
        registry: Any,
        base_url: str,
        label: str,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
    ) -> None:
        self.client = get_outbound_client(registry)
        self.base_url = base_url.rstrip("/")
        self.label = label
        self.headers = dict(headers or {})
        self.auth = auth

    def url(self, path: str) -> str:
        """``path`` under the base URL.  Absolute URLs the tool handed out (a queue
        item's ``Location``, a ``Link: rel="next"``) are taken on the base URL's origin:
        a tool must not be able to send our credentials to another host."""
        if path.startswith(("http://", "https://")):
            given, base = httpx.URL(path), httpx.URL(self.base_url)
            return str(given.copy_with(scheme=base.scheme, host=base.host, port=base.port))
        return self.base_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...] = (200,),
        headers: Mapping[str, str] | None = None,
        not_found: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request; a status outside ``expect`` raises the matching error."""
        merged = {**self.headers, **(headers or {})}
        try:
            response = self.client.request(
                method, self.url(path), headers=merged, auth=self.auth, **kwargs
            )
        except OutboundAddressRefused as error:
            raise RemoteError(
                f"{self.label} address refused by the outbound policy: {error}"
            ) from error
        except OutboundError as error:
            raise RemoteUnavailable(f"{self.label} cannot be reached: {error}") from error
        if response.status_code in expect:
            return response
        raise self.error_for(response, not_found)

    def error_for(self, response: httpx.Response, not_found: str | None = None) -> RemoteError:
        status = response.status_code
        detail = _short(response.text)
        wait = retry_after_seconds(response)
        if status == 429 or (status == 403 and wait is not None):
            return RemoteUnavailable(f"{self.label} rate limit reached (HTTP {status})", wait)
        if status >= 500:
            return RemoteUnavailable(f"{self.label} answered HTTP {status}: {detail}", wait)
        if status == 401:
            return RemoteAuthError(f"{self.label} refused the credentials (HTTP 401)")
        if status == 403:
            return RemoteAuthError(f"{self.label} refused the request (HTTP 403): {detail}")
        if status == 404:
            return RemoteNotFound(
                not_found or f"{self.label}: not found ({response.request.url.path})"
            )
        return RemoteError(f"{self.label} answered HTTP {status}: {detail}")


def _short(text: str, limit: int = 200) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_complete_lines(data: bytes, final: bool) -> tuple[list[str], int]:
    """Complete lines of ``data`` and how many bytes they span; the unterminated tail
    is kept for the next read unless ``final``."""
    end = len(data) if final else data.rfind(b"\n") + 1
    if end <= 0:
        return [], 0
    text = data[:end].decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines], end
