"""Serving one WebSocket: routing, origin, limits, authentication, its life and end.

The order of a handshake is fixed, and each refusal has its documented answer
(:mod:`.codes`):

1. the path is looked up in the central registry (404 when no socket lives there);
2. the ``Origin`` is checked against ``ansflow.allowed_hosts`` (403);
3. the process limit is checked (accepted, then closed with 1013);
4. the credentials and the resource's ACL are checked exactly as for a GET of the
   handler's guard path (401, 403, 404) - in a read-only transaction, in a thread;
5. the per-user limit is checked (accepted, then closed with 4429);
6. the socket is accepted and the handler runs, next to a reader of client messages
   and a periodic re-check of the credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from ansflow_pyramid.redis_client import get_redis
from ansflow_pyramid.sessions.ended import get_ended_notices
from ansflow_pyramid.sockets import codes
from ansflow_pyramid.sockets.auth import Grant, Refused, SocketRequests, seconds_left
from ansflow_pyramid.sockets.connection import ConnectionClosed, SocketConnection, now_iso
from ansflow_pyramid.sockets.feeds import Feeds, bus_of
from ansflow_pyramid.sockets.handlers import SocketHandler
from ansflow_pyramid.sockets.hub import SocketHub
from ansflow_pyramid.sockets.settings import SocketSettings, origin_allowed
from ansflow_pyramid.traversal import get_resource_registry

log = logging.getLogger(__name__)

REGISTRY_KEY = "ansflow.sockets"


class SocketService:
    """The sockets of one application (``registry["ansflow.sockets"]``)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.settings = SocketSettings.from_settings(registry.settings)
        self.hub = SocketHub(self.settings, get_redis(registry))
        get_ended_notices(registry).add_listener(self.hub.on_credentials_ended)
        self.requests = SocketRequests(registry)
        self.handlers: dict[str, SocketHandler] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._feeds: Feeds | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.settings.threads, thread_name_prefix="ansflow-socket"
            )
        return self._executor

    @property
    def feeds(self) -> Feeds:
        if self._feeds is None:
            self._feeds = Feeds(bus_of(self.registry))
        return self._feeds

    @property
    def store(self) -> Any:
        from ansflow_pyramid.execution.store import get_execution_store

        return get_execution_store(self.registry)

    async def in_thread(self, function: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(function, *args))

    def close(self) -> None:
        self.hub.close_all(codes.GOING_AWAY)
        self.hub.close()
        if self._feeds is not None:
            self._feeds.close()
            self._feeds = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # -- a handshake -----------------------------------------------------------------------
    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        connection = SocketConnection(scope, receive, send, self.settings)
        if not await connection.wait_connect():
            return
        match = get_resource_registry(self.registry).match(scope.get("path") or "/")
        handler = None
        if match is not None and match[0].protocol == "websocket":
            handler = self.handlers.get(match[0].name)
        if handler is None or match is None:
            await connection.deny(404, "not_found", "No socket is served at this path.")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not origin_allowed(
            headers.get("origin"), headers.get("host"), self.settings.allowed_hosts
        ):
            await connection.deny(403, "origin_not_allowed", "This origin may not open sockets.")
            return
        refusal = self.hub.admit(connection)
        if refusal is not None:
            await connection.accept()
            connection.close_now(refusal)
            await connection.finish()
            return
        try:
            await self._serve(connection, handler, match[1])
        finally:
            self.hub.release(connection)

    async def _serve(
        self, connection: SocketConnection, handler: SocketHandler, captures: dict[str, Any]
    ) -> None:
        # Hear other processes' logouts before reading the credentials, so none is missed.
        await self.in_thread(self.hub.ensure_listening)
        guard = handler.guard_path(captures)
        try:
            grant, state = await self.in_thread(
                self.requests.authorize,
                connection.scope,
                guard,
                handler.permission,
                handler.inspect,
            )
        except Refused as refused:
            await connection.deny(refused.status, refused.code, refused.detail)
            return
        refusal = self.hub.bind(connection, grant.user_id, grant.keys)
        await connection.accept()
        if refusal is not None:
            connection.close_now(refusal)
            await connection.finish()
            return
        session = SocketSession(self, connection, handler, captures, guard, grant, state)
        await session.run()


class SocketSession:
    """One accepted socket: what its handler works with."""

    def __init__(
        self,
        service: SocketService,
        connection: SocketConnection,
        handler: SocketHandler,
        captures: dict[str, Any],
        guard: str,
        grant: Grant,
        state: Any,
    ) -> None:
        self.service = service
        self.connection = connection
        self.handler = handler
        self.captures = captures
        self.guard = guard
        self.grant = grant
        self.state = state
        self.settings = service.settings
        self.hub = service.hub
        self.feeds = service.feeds
        self.requests = service.requests
        self.scope = connection.scope
        connection.on_slow = self._count_slow
        # Client commands being carried out: a socket that ends because of one (a stop
        # that finished the execution) answers it before closing.
        self._commands = 0
        self._no_commands = asyncio.Event()
        self._no_commands.set()

    @property
    def store(self) -> Any:
        return self.service.store

    def _count_slow(self) -> None:
        self.hub.stats["dropped_slow"] += 1

    async def in_thread(self, function: Any, *args: Any) -> Any:
        return await self.service.in_thread(function, *args)

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(message)

    async def error(self, code: str, message: str) -> None:
        await self.send({"type": "error", "code": code, "message": message, "timestamp": now_iso()})

    def close(self, code: int) -> None:
        self.connection.close_now(code)

    async def close_after_commands(self, code: int, timeout: float = 10.0) -> None:
        """Close once the client's pending commands were answered (bounded)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_commands.wait(), timeout)
        self.close(code)

    async def reread(self) -> Any:
        """Check the credentials again and re-read the handler's state with them;
        closes the socket (and raises :class:`ConnectionClosed`) when refused now."""
        try:
            grant, state = await self.in_thread(
                self.requests.authorize,
                self.scope,
                self.guard,
                self.handler.permission,
                self.handler.inspect,
            )
        except Refused as refused:
            self.close(codes.CREDENTIALS_ENDED if refused.status == 401 else codes.PERMISSION_LOST)
            raise ConnectionClosed() from None
        if grant.user_id != self.grant.user_id:
            self.close(codes.CREDENTIALS_ENDED)
            raise ConnectionClosed()
        self.grant = grant
        return state

    # -- the socket's life ------------------------------------------------------------------
    async def run(self) -> None:
        tasks = [
            asyncio.create_task(self._run_handler()),
            asyncio.create_task(self._read_client()),
            asyncio.create_task(self._recheck()),
        ]
        try:
            await self.connection.closing.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.connection.finish()

    async def _run_handler(self) -> None:
        try:
            await self.handler.run(self)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("socket handler failed")
            self.close(1011)

    async def _recheck(self) -> None:
        """Close the socket when its credentials end even if no notice reached us:
        at a JWT's expiry, and at every re-check that refuses them."""
        while True:
            wait = self.settings.recheck_interval
            left = seconds_left(self.grant)
            if left is not None:
                wait = min(wait, max(0.0, left))
            await asyncio.sleep(wait)
            left = seconds_left(self.grant)
            if left is not None and left <= 0:
                self.close(codes.CREDENTIALS_ENDED)
                return
            try:
                self.state = await self.reread()
            except ConnectionClosed:
                return
            except Exception:
                # A database blip is no reason to drop a socket; the next round retries.
                log.warning("socket re-check failed", exc_info=True)

    async def _read_client(self) -> None:
        limit = self.settings.max_message_bytes
        while True:
            raw = await self.connection.receive_text()
            if raw is None:
                return
            if raw == "":
                continue
            if len(raw) > limit:
                self.close(codes.MESSAGE_TOO_BIG)
                return
            try:
                message = orjson.loads(raw)
            except orjson.JSONDecodeError:
                message = None
            try:
                if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                    await self.error("invalid_message", 'Send a JSON object with a "type".')
                    continue
                if message["type"] == "ping":
                    await self.send({"type": "pong", "timestamp": now_iso()})
                    continue
                self._commands += 1
                self._no_commands.clear()
                try:
                    known = await self.handler.on_message(self, message)
                except ConnectionClosed:
                    raise
                except Exception:
                    log.exception("socket command %r failed", message["type"])
                    await self.error("server_error", "The command failed; try again.")
                    continue
                finally:
                    self._commands -= 1
                    if not self._commands:
                        self._no_commands.set()
                if not known:
                    await self.error(
                        "unknown_message_type", f"Unknown message type {message['type']!r}."
                    )
            except ConnectionClosed:
                return
