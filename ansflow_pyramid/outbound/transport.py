"""Transports that check the address policy on the resolved address, then connect to it.

httpx sends requests through a transport; httpx's own transport hands the host name to
httpcore, which resolves it and connects.  A policy check made before that (resolve,
check, then let the library resolve again) would be open to DNS rebinding: the second
answer may differ from the first.  So these transports give httpcore a *network
backend* of their own, the documented extension point for how connections are opened:
it resolves the host once, refuses the connection if any address is not allowed, and
opens the socket to the very address it checked.  TLS still verifies the certificate
against the host name (httpcore passes the URL's host as the server name), and the
``Host`` header is untouched.

Proxies from the environment are never used (a proxy would connect on our behalf,
past the policy), and neither is ``.netrc``: credentials are whatever the caller passes.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import anyio
import httpcore
import httpx

from ansflow_pyramid.outbound.errors import (
    OutboundAddressRefused,
    OutboundError,
    OutboundTimeout,
    OutboundUnavailable,
    unreachable_message,
)
from ansflow_pyramid.outbound.policy import OutboundPolicy

log = logging.getLogger(__name__)

#: Host name lookups run here so that a lookup can be abandoned after the connect
#: timeout (``getaddrinfo`` itself cannot be interrupted).
_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ansflow-outbound-dns")


def _unique_addresses(infos: Iterable[Any]) -> list[str]:
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def refused_message(host: str) -> str:
    return (
        f"{host} is not an address outbound calls may reach: loopback, private, "
        "link-local, metadata and other non-public addresses are refused unless an "
        "operator allows them (ansflow.outbound_allowed_networks)."
    )


def check_addresses(policy: OutboundPolicy, host: str, addresses: list[str]) -> None:
    """Raise :class:`OutboundAddressRefused` unless every address may be reached.

    Every address must pass, not one of them: a name that resolves to a public and a
    private address is either misconfigured or an attempt to reach the private one.
    """
    if policy.host_allowed(host):
        return
    refused = [a for a in addresses if not policy.address_allowed(a)]
    if refused:
        log.info("outbound call to %s refused: it resolves to %s", host, ", ".join(refused))
        raise OutboundAddressRefused(refused_message(host))


class PolicyNetworkBackend(httpcore.NetworkBackend):
    """httpcore's synchronous sockets, opened only to addresses the policy allows."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self._sockets = httpcore.SyncBackend()

    def resolve(self, host: str, port: int, timeout: float) -> list[str]:
        future = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
        try:
            return _unique_addresses(future.result(timeout=timeout))
        except FutureTimeout:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except (OSError, UnicodeError) as error:
            raise httpcore.ConnectError(f"resolving {host} failed: {error}") from error

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        budget = timeout if timeout is not None else self.policy.connect_timeout
        deadline = time.monotonic() + budget
        addresses = self.resolve(host, port, budget)
        check_addresses(self.policy, host, addresses)
        last_error: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise httpcore.ConnectTimeout(f"connecting to {host} timed out")
            try:
                return self._sockets.connect_tcp(
                    address, port, remaining, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
        raise last_error

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("outbound calls never use Unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class AsyncPolicyNetworkBackend(httpcore.AsyncNetworkBackend):
    """The asynchronous twin of :class:`PolicyNetworkBackend` (asyncio or trio)."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self._sockets = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        budget = timeout if timeout is not None else self.policy.connect_timeout
        deadline = time.monotonic() + budget
        try:
            with anyio.fail_after(budget):
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except (OSError, UnicodeError) as error:
            raise httpcore.ConnectError(f"resolving {host} failed: {error}") from error
        addresses = _unique_addresses(infos)
        check_addresses(self.policy, host, addresses)
        last_error: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise httpcore.ConnectTimeout(f"connecting to {host} timed out")
            try:
                return await self._sockets.connect_tcp(
                    address, port, remaining, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
        raise last_error

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("outbound calls never use Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def origin_of(url: httpx.URL) -> str:
    """``scheme://host[:port]`` of ``url``, for messages and same-origin checks."""
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"


def translate(error: BaseException, url: httpx.URL) -> OutboundError:
    """The :class:`OutboundError` for a failure of the call to ``url``.

    Timeouts and every other network or protocol failure get the *same* message:
    see :mod:`ansflow_pyramid.outbound.errors`.
    """
    if isinstance(error, OutboundError):
        return error
    origin = origin_of(url)
    log.info("outbound call to %s failed: %s: %s", origin, type(error).__name__, error)
    if isinstance(error, httpcore.TimeoutException | httpx.TimeoutException | TimeoutError):
        return OutboundTimeout(unreachable_message(origin), cause=error)
    return OutboundUnavailable(unreachable_message(origin), cause=error)


#: What a failing network read or a broken answer raises, in httpcore and httpx.
NETWORK_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpx.TransportError,
    httpx.DecodingError,
    ssl.SSLError,
    OSError,
)


def make_ssl_context(policy: OutboundPolicy) -> ssl.SSLContext:
    """TLS verification against the default trust store, or ``policy.ca_bundle``."""
    return httpx.create_ssl_context(verify=policy.ca_bundle or True, trust_env=False)


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes], url: httpx.URL) -> None:
        self._stream = stream
        self._url = url

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except NETWORK_ERRORS as error:
            raise translate(error, self._url) from error

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _AsyncResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any, url: httpx.URL) -> None:
        self._stream = stream
        self._url = url

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except NETWORK_ERRORS as error:
            raise translate(error, self._url) from error

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _core_request(request: httpx.Request) -> httpcore.Request:
    return httpcore.Request(
        method=request.method,
        url=httpcore.URL(
            scheme=request.url.raw_scheme,
            host=request.url.raw_host,
            port=request.url.port,
            target=request.url.raw_path,
        ),
        headers=request.headers.raw,
        content=request.stream,
        extensions=request.extensions,
    )


class PolicyTransport(httpx.BaseTransport):
    """An httpx transport over a connection pool whose connections obey the policy."""

    def __init__(self, policy: OutboundPolicy, *, max_connections: int = 20) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=make_ssl_context(policy),
            max_connections=max_connections,
            max_keepalive_connections=max_connections // 2,
            keepalive_expiry=30.0,
            network_backend=PolicyNetworkBackend(policy),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self._pool.handle_request(_core_request(request))
        except NETWORK_ERRORS as error:
            raise translate(error, request.url) from error
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream, request.url),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class AsyncPolicyTransport(httpx.AsyncBaseTransport):
    """The asynchronous twin of :class:`PolicyTransport`."""

    def __init__(self, policy: OutboundPolicy, *, max_connections: int = 20) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=make_ssl_context(policy),
            max_connections=max_connections,
            max_keepalive_connections=max_connections // 2,
            keepalive_expiry=30.0,
            network_backend=AsyncPolicyNetworkBackend(policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._pool.handle_async_request(_core_request(request))
        except NETWORK_ERRORS as error:
            raise translate(error, request.url) from error
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_AsyncResponseStream(response.stream, request.url),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
