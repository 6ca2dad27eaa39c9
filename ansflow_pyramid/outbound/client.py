"""The outbound HTTP client: every call the server makes to a URL a user supplied.

:class:`OutboundClient` wraps an ``httpx.Client`` over :class:`PolicyTransport` and
follows redirects itself, one hop at a time, so that on every hop:

* the address policy is checked again, on the address the client connects to;
* credentials stay with the origin they were given for: after a redirect to another
  origin (scheme, host or port differs) the request no longer carries ``auth=``,
  ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``PRIVATE-TOKEN``,
  ``JOB-TOKEN``, ``X-API-Key``, ``X-Auth-Token``, ``X-Gitlab-Token`` or any header the
  caller names in ``sensitive_headers``; once dropped they are not sent again, even if
  a later redirect comes back to the first origin.  A request body is never re-sent
  to another origin (a 307/308 that would do so is refused);
* the time left of the call's budget is the timeout of the next hop.

Cookies a server sets are never stored, environment proxies and ``.netrc`` are never
used, and every failure is an :class:`~ansflow_pyramid.outbound.errors.OutboundError`.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from ansflow_pyramid.outbound.errors import (
    OutboundError,
    OutboundInvalidURL,
    OutboundRedirectError,
    OutboundResponseTooLarge,
    OutboundTimeout,
    unreachable_message,
)
from ansflow_pyramid.outbound.policy import OutboundPolicy
from ansflow_pyramid.outbound.transport import (
    NETWORK_ERRORS,
    AsyncPolicyTransport,
    PolicyTransport,
    origin_of,
    translate,
)

REGISTRY_KEY = "ansflow.outbound_client"
USER_AGENT = "ansflow-pyramid"

#: Headers that carry credentials; never sent to an origin other than the first one.
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "private-token",
        "job-token",
        "x-api-key",
        "x-auth-token",
        "x-gitlab-token",
    }
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Headers that describe a body, dropped when a redirect turns the request into a GET.
BODY_HEADERS = ("content-type", "content-length", "transfer-encoding", "content-encoding")


def _refusing_cookie_jar() -> http.cookiejar.CookieJar:
    """A jar that stores nothing: cookies set by one server must not reach another."""
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


def _effective_origin(url: httpx.URL) -> tuple[str, bytes, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.raw_host.lower(), url.port or default)


def _checked_url(url: str | httpx.URL, *, redirect: bool = False) -> httpx.URL:
    error = OutboundRedirectError if redirect else OutboundInvalidURL
    what = "The redirect target" if redirect else "The URL"
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise error(f"{what} is not a valid URL.") from None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise error(f"{what} must be an absolute http:// or https:// URL.")
    return parsed


@dataclass
class _Hop:
    """The request to send next, and what it may still carry."""

    method: str
    url: httpx.URL
    headers: httpx.Headers
    body: bytes
    auth: Any
    first_origin: tuple[str, bytes, int | None]
    sensitive: frozenset[str]
    credentials_kept: bool = True

    def follow(self, response: httpx.Response) -> _Hop:
        """The hop a redirect ``response`` asks for, with the rules of the module."""
        location = response.headers.get("location")
        if not location:
            raise OutboundRedirectError("The server redirected without a Location.")
        try:
            target = response.url.join(location)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise OutboundRedirectError("The redirect target is not a valid URL.") from None
        target = _checked_url(target, redirect=True)
        if target.userinfo:
            # Credentials in a Location are the redirecting server's, never ours.
            target = target.copy_with(userinfo=b"")
        method, body, headers = self.method, self.body, self.headers.copy()
        if (response.status_code == 303 and method != "HEAD") or (
            response.status_code in (301, 302) and method == "POST"
        ):
            method, body = "GET", b""
            for name in BODY_HEADERS:
                headers.pop(name, None)
        keep = self.credentials_kept and _effective_origin(target) == self.first_origin
        if not keep:
            if body:
                raise OutboundRedirectError(
                    "The server redirected the request body to another origin; "
                    "it was not sent there."
                )
            for name in list(headers.keys()):
                if name.lower() in self.sensitive:
                    del headers[name]
        headers.pop("host", None)
        return _Hop(
            method,
            target,
            headers,
            body,
            self.auth if keep else None,
            self.first_origin,
            self.sensitive,
            keep,
        )


class _Budget:
    """The time left of one call; the timeout of the next network operation."""

    def __init__(self, seconds: float, connect: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.connect = connect

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def timeout(self, url: httpx.URL) -> httpx.Timeout:
        left = self.remaining()
        if left <= 0:
            raise OutboundTimeout(unreachable_message(origin_of(url)))
        return httpx.Timeout(left, connect=min(left, self.connect))


class _BaseOutboundClient:
    def __init__(self, policy: OutboundPolicy | None) -> None:
        self.policy = policy or OutboundPolicy()

    def _first_hop(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Any,
        params: Any,
        json: Any,
        data: Any,
        content: Any,
        auth: Any,
        sensitive_headers: Iterable[str],
    ) -> _Hop:
        parsed = _checked_url(url)
        if parsed.userinfo:
            if auth is None:
                auth = (parsed.username, parsed.password)
            parsed = parsed.copy_with(userinfo=b"")
        try:
            request = httpx.Request(
                method.upper(),
                parsed,
                params=params,
                headers=headers,
                json=json,
                data=data,
                content=content,
            )
            body = request.read()
        except (TypeError, ValueError, httpx.InvalidURL) as error:
            raise OutboundInvalidURL(f"The request cannot be built: {error}") from None
        request_headers = request.headers.copy()
        request_headers.setdefault("user-agent", USER_AGENT)
        request_headers.pop("host", None)
        return _Hop(
            request.method,
            request.url,
            request_headers,
            body,
            auth,
            _effective_origin(request.url),
            SENSITIVE_HEADERS | {name.lower() for name in sensitive_headers},
        )

    def _budget(self, timeout: float | None) -> _Budget:
        seconds = self.policy.timeout if timeout is None else max(0.001, float(timeout))
        return _Budget(seconds, min(seconds, self.policy.connect_timeout))

    def _read_limit_error(self) -> OutboundResponseTooLarge:
        return OutboundResponseTooLarge(
            f"The answer is larger than {self.policy.max_response_bytes} bytes."
        )


def _buffered(response: httpx.Response, body: bytes) -> httpx.Response:
    """A copy of ``response`` holding its decoded ``body`` (no longer encoded)."""
    headers = response.headers.copy()
    headers.pop("content-encoding", None)
    headers.pop("transfer-encoding", None)
    headers["content-length"] = str(len(body))
    copy = httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=response.extensions,
        history=response.history,
    )
    return copy


class OutboundClient(_BaseOutboundClient):
    """The hardened synchronous HTTP client (see the module documentation).

    Thread-safe: one instance per application (:func:`get_outbound_client`) serves
    views, workers and schedulers, and keeps connections alive between calls.
    """

    def __init__(self, policy: OutboundPolicy | None = None) -> None:
        super().__init__(policy)
        self._client = httpx.Client(
            transport=PolicyTransport(self.policy),
            trust_env=False,
            follow_redirects=False,
            cookies=_refusing_cookie_jar(),
        )

    def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Any = None,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        content: Any = None,
        auth: Any = None,
        timeout: float | None = None,
        follow_redirects: bool = True,
        max_redirects: int = 5,
        sensitive_headers: Iterable[str] = (),
    ) -> httpx.Response:
        """Send a request and read the whole answer (at most
        ``ansflow.outbound_max_response_bytes``, decoded).

        ``timeout`` (seconds; default ``ansflow.outbound_timeout_seconds``) bounds the
        whole call: every redirect hop and the body.  ``auth`` is anything httpx
        accepts (a ``(user, password)`` pair, an ``httpx.Auth``).  Any status is
        returned as a response; failures raise :class:`OutboundError` subclasses.
        """
        budget = self._budget(timeout)
        hop = self._first_hop(
            method,
            url,
            headers=headers,
            params=params,
            json=json,
            data=data,
            content=content,
            auth=auth,
            sensitive_headers=sensitive_headers,
        )
        response = self._send(hop, budget, follow_redirects, max_redirects)
        try:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.policy.max_response_bytes:
                    raise self._read_limit_error()
                if budget.remaining() <= 0:
                    raise OutboundTimeout(unreachable_message(origin_of(response.url)))
                chunks.append(chunk)
        except OutboundError:
            raise
        except NETWORK_ERRORS as error:
            raise translate(error, response.url) from error
        finally:
            response.close()
        return _buffered(response, b"".join(chunks))

    @contextlib.contextmanager
    def stream(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Any = None,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        content: Any = None,
        auth: Any = None,
        timeout: float | None = None,
        follow_redirects: bool = True,
        max_redirects: int = 5,
        sensitive_headers: Iterable[str] = (),
    ) -> Iterator[httpx.Response]:
        """Like :meth:`request`, but yields the response unread (``iter_bytes()``,
        ``iter_lines()``).  ``timeout`` bounds reaching the final response and then
        each read; the body has no size or total-time limit (the caller decides)."""
        budget = self._budget(timeout)
        hop = self._first_hop(
            method,
            url,
            headers=headers,
            params=params,
            json=json,
            data=data,
            content=content,
            auth=auth,
            sensitive_headers=sensitive_headers,
        )
        response = self._send(hop, budget, follow_redirects, max_redirects)
        try:
            yield response
        finally:
            response.close()

    def _send(
        self, hop: _Hop, budget: _Budget, follow_redirects: bool, max_redirects: int
    ) -> httpx.Response:
        history: list[httpx.Response] = []
        while True:
            try:
                request = self._client.build_request(
                    hop.method,
                    hop.url,
                    headers=hop.headers,
                    content=hop.body or None,
                    timeout=budget.timeout(hop.url),
                )
                response = self._client.send(request, auth=hop.auth, stream=True)
            except OutboundError:
                raise
            except NETWORK_ERRORS as error:
                raise translate(error, hop.url) from error
            response.history = list(history)
            if not (follow_redirects and response.status_code in REDIRECT_STATUSES):
                return response
            response.close()
            if len(history) >= max_redirects:
                raise OutboundRedirectError(f"More than {max_redirects} redirects.")
            history.append(response)
            hop = hop.follow(response)

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()


class AsyncOutboundClient(_BaseOutboundClient):
    """The asynchronous twin of :class:`OutboundClient` (asyncio or trio), same policy
    and rules.  Use one per event loop."""

    def __init__(self, policy: OutboundPolicy | None = None) -> None:
        super().__init__(policy)
        self._client = httpx.AsyncClient(
            transport=AsyncPolicyTransport(self.policy),
            trust_env=False,
            follow_redirects=False,
            cookies=_refusing_cookie_jar(),
        )

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Any = None,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        content: Any = None,
        auth: Any = None,
        timeout: float | None = None,
        follow_redirects: bool = True,
        max_redirects: int = 5,
        sensitive_headers: Iterable[str] = (),
    ) -> httpx.Response:
        """See :meth:`OutboundClient.request`."""
        budget = self._budget(timeout)
        hop = self._first_hop(
            method,
            url,
            headers=headers,
            params=params,
            json=json,
            data=data,
            content=content,
            auth=auth,
            sensitive_headers=sensitive_headers,
        )
        response = await self._send(hop, budget, follow_redirects, max_redirects)
        try:
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.policy.max_response_bytes:
                    raise self._read_limit_error()
                if budget.remaining() <= 0:
                    raise OutboundTimeout(unreachable_message(origin_of(response.url)))
                chunks.append(chunk)
        except OutboundError:
            raise
        except NETWORK_ERRORS as error:
            raise translate(error, response.url) from error
        finally:
            await response.aclose()
        return _buffered(response, b"".join(chunks))

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Any = None,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        content: Any = None,
        auth: Any = None,
        timeout: float | None = None,
        follow_redirects: bool = True,
        max_redirects: int = 5,
        sensitive_headers: Iterable[str] = (),
    ) -> AsyncIterator[httpx.Response]:
        """See :meth:`OutboundClient.stream`."""
        budget = self._budget(timeout)
        hop = self._first_hop(
            method,
            url,
            headers=headers,
            params=params,
            json=json,
            data=data,
            content=content,
            auth=auth,
            sensitive_headers=sensitive_headers,
        )
        response = await self._send(hop, budget, follow_redirects, max_redirects)
        try:
            yield response
        finally:
            await response.aclose()

    async def _send(
        self, hop: _Hop, budget: _Budget, follow_redirects: bool, max_redirects: int
    ) -> httpx.Response:
        history: list[httpx.Response] = []
        while True:
            try:
                request = self._client.build_request(
                    hop.method,
                    hop.url,
                    headers=hop.headers,
                    content=hop.body or None,
                    timeout=budget.timeout(hop.url),
                )
                response = await self._client.send(request, auth=hop.auth, stream=True)
            except OutboundError:
                raise
            except NETWORK_ERRORS as error:
                raise translate(error, hop.url) from error
            response.history = list(history)
            if not (follow_redirects and response.status_code in REDIRECT_STATUSES):
                return response
            await response.aclose()
            if len(history) >= max_redirects:
                raise OutboundRedirectError(f"More than {max_redirects} redirects.")
            history.append(response)
            hop = hop.follow(response)

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()


_lock = threading.Lock()


def get_outbound_client(registry: Any) -> OutboundClient:
    """The application's :class:`OutboundClient`, built once from its settings.

    Takes a Pyramid registry (``request.registry``, or the registry a worker or a
    scheduler loaded), so it serves code that has no request.
    """
    client = registry.get(REGISTRY_KEY) if hasattr(registry, "get") else None
    if client is None:
        with _lock:
            client = registry.get(REGISTRY_KEY)
            if client is None:
                client = OutboundClient(OutboundPolicy.from_settings(registry.settings or {}))
                registry[REGISTRY_KEY] = client
    return client
