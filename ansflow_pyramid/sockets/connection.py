"""One WebSocket over ASGI: a bounded send buffer, a sender task, and closing.

Messages are JSON text frames.  :meth:`SocketConnection.send` queues a message and
waits while more than ``socket_send_buffer`` bytes are queued; a client that does not
read for ``socket_send_timeout`` seconds, or lets the buffer overflow while live
events keep coming, is dropped with :data:`~.codes.SLOW_CLIENT`.  So one socket never
holds more than about the buffer size in memory, however slow its client.

Closing is idempotent and may be asked from any thread (:meth:`close_soon`): the hub
closes sockets whose credentials ended from the thread that heard the news.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import deque
from typing import Any

import orjson

from ansflow_pyramid.sockets import codes
from ansflow_pyramid.sockets.settings import SocketSettings

log = logging.getLogger(__name__)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message, default=str).decode()


class ConnectionClosed(Exception):
    """The socket is closed (or closing): stop producing messages for it."""


class SocketConnection:
    def __init__(
        self, scope: dict[str, Any], receive: Any, send: Any, settings: SocketSettings
    ) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.settings = settings
        self.loop = asyncio.get_running_loop()
        self.user_id: int | None = None
        self.keys: tuple[tuple[str, str], ...] = ()
        self.accepted = False
        self.close_code: int | None = None
        self._buffer: deque[str] = deque()
        self._buffered = 0
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self.closing = asyncio.Event()
        self.client_gone = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self.on_slow: Any = None
        #: Called (on the loop) once the socket starts closing, for whatever waits.
        self.on_close: list[Any] = []

    # -- handshake ---------------------------------------------------------------------
    async def wait_connect(self) -> bool:
        message = await self._receive()
        return message.get("type") == "websocket.connect"

    async def deny(self, status: int, code: str, detail: str) -> None:
        """Refuse the handshake with an HTTP status and a JSON body (where the server
        supports it; otherwise a plain 403, which is what closing before accepting is)."""
        if "websocket.http.response" in (self.scope.get("extensions") or {}):
            body = orjson.dumps({"detail": detail, "code": code})
            await self._send(
                {
                    "type": "websocket.http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await self._send({"type": "websocket.http.response.body", "body": body})
        else:
            await self._send({"type": "websocket.close", "code": 1008})

    async def accept(self) -> None:
        await self._send({"type": "websocket.accept"})
        self.accepted = True
        self._sender = asyncio.create_task(self._send_loop())

    # -- sending -------------------------------------------------------------------------
    def _enqueue(self, text: str) -> None:
        self._buffer.append(text)
        self._buffered += len(text)
        if self._buffered >= self.settings.send_buffer:
            self._drained.clear()
        self._wakeup.set()

    async def send(self, message: dict[str, Any]) -> None:
        """Queue ``message``, waiting (bounded) while the client is behind."""
        if self.closing.is_set():
            raise ConnectionClosed()
        if not self._drained.is_set():
            try:
                await asyncio.wait_for(self._drained.wait(), self.settings.send_timeout)
            except TimeoutError:
                self.drop_slow()
                raise ConnectionClosed() from None
            if self.closing.is_set():
                raise ConnectionClosed()
        self._enqueue(dumps(message))

    def send_nowait(self, message: dict[str, Any]) -> None:
        """Queue ``message`` at once; a client whose buffer is full is dropped."""
        if self.closing.is_set():
            raise ConnectionClosed()
        if self._buffered >= self.settings.send_buffer:
            self.drop_slow()
            raise ConnectionClosed()
        self._enqueue(dumps(message))

    def drop_slow(self) -> None:
        if self.on_slow is not None and not self.closing.is_set():
            self.on_slow()
        self.close_now(codes.SLOW_CLIENT)

    async def _send_loop(self) -> None:
        try:
            while True:
                if not self._buffer:
                    if self.closing.is_set():
                        break
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                text = self._buffer.popleft()
                self._buffered -= len(text)
                if self._buffered < self.settings.send_buffer // 2:
                    self._drained.set()
                await self._send({"type": "websocket.send", "text": text})
            if not self.client_gone.is_set():
                await self._send(
                    {
                        "type": "websocket.close",
                        "code": self.close_code or codes.NORMAL,
                        "reason": codes.CLOSE_REASONS.get(self.close_code or codes.NORMAL, ""),
                    }
                )
        except (OSError, RuntimeError, asyncio.CancelledError):
            # The client went away (or the server refuses further sends): nothing to do.
            pass
        except Exception:
            log.debug("socket send failed", exc_info=True)
        finally:
            self._buffer.clear()
            self._buffered = 0
            self._drained.set()
            self.closing.set()

    # -- closing -------------------------------------------------------------------------
    def close_now(self, code: int) -> None:
        """Close after the queued messages (on the event loop's thread)."""
        if self.closing.is_set():
            return
        self.close_code = code
        self._mark_closing()
        if code == codes.SLOW_CLIENT and self._sender is not None:
            # The sender may be stuck writing to a client that does not read: the
            # queued messages are abandoned, and the server aborts the connection.
            self._buffer.clear()
            self._buffered = 0
            self._sender.cancel()

    def _mark_closing(self) -> None:
        self.closing.set()
        self._wakeup.set()
        self._drained.set()
        callbacks, self.on_close = self.on_close, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a socket close callback failed")

    def close_soon(self, code: int) -> None:
        """:meth:`close_now`, from any thread."""
        # RuntimeError: the loop is closed, and so is the socket.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.close_now, code)

    async def finish(self) -> None:
        """Wait for the sender to send the close frame (bounded), then return."""
        self.closing.set()
        self._wakeup.set()
        sender = self._sender
        if sender is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(sender), self.settings.send_timeout)
        except (TimeoutError, asyncio.CancelledError):
            sender.cancel()
        except Exception:
            log.debug("socket sender ended with an error", exc_info=True)
        if self.close_code == codes.SLOW_CLIENT and not self.client_gone.is_set():
            # The close frame could not be written (the sender was cancelled): ask the
            # server to close; it gives up on the handshake after its own timeout.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._send({"type": "websocket.close", "code": codes.SLOW_CLIENT}),
                    timeout=1.0,
                )

    # -- receiving -------------------------------------------------------------------------
    async def receive_text(self) -> str | bytes | None:
        """The next client message (None when the client disconnected)."""
        message = await self._receive()
        kind = message.get("type")
        if kind == "websocket.disconnect":
            self.client_gone.set()
            self._mark_closing()
            return None
        if kind != "websocket.receive":
            return ""
        if message.get("text") is not None:
            return str(message["text"])
        return bytes(message.get("bytes") or b"")
