"""The ASGI application: the Pyramid application's HTTP through a WSGI bridge, and
the sockets declared in the registry natively.

HTTP goes through a2wsgi's ``WSGIMiddleware`` (chosen over asgiref's ``WsgiToAsgi``:
it runs the WSGI application in a thread pool of a size we set, like waitress's
``threads``, streams response bodies through a bounded queue instead of buffering
them, and it is maintained for exactly this job).  Every other scope type is ours:
``websocket`` scopes go to :class:`~.service.SocketService`, and ``lifespan``
shutdown closes every socket with 1001 and stops the sockets' background threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from a2wsgi import WSGIMiddleware

from ansflow_pyramid.sockets.service import REGISTRY_KEY, SocketService

log = logging.getLogger(__name__)


#: Set (in the WSGI thread's copy of the context) when the HTTP client went away.
CLIENT_GONE: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "ansflow_client_gone", default=None
)


class _StopWhenClientGone:
    """A response body that ends (and closes the application's body) once the client
    disconnected.  uvicorn drops writes to a closed connection silently and a2wsgi
    keeps iterating, so without this an SSE stream would run on, holding its stream
    slot and a thread, until its own time limit."""

    def __init__(self, body: Iterable[bytes], gone: threading.Event) -> None:
        self.body = body
        self.gone = gone

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            if self.gone.is_set():
                return
            yield chunk

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


def _watched(wsgi_app: Any) -> Any:
    def application(environ: dict[str, Any], start_response: Any) -> Any:
        body = wsgi_app(environ, start_response)
        gone = CLIENT_GONE.get()
        return body if gone is None else _StopWhenClientGone(body, gone)

    application.registry = wsgi_app.registry  # type: ignore[attr-defined]
    return application


def _is_stream(scope: dict[str, Any]) -> bool:
    if scope.get("method") != "GET":
        return False
    if str(scope.get("path", "")).rstrip("/").endswith("/events"):
        return True
    return any(
        name == b"accept" and b"text/event-stream" in value for name, value in scope["headers"]
    )


class AnsflowASGI:
    """``AnsflowASGI(wsgi_app)``: an ASGI application around the Pyramid router."""

    def __init__(self, wsgi_app: Any, threads: int = 8, send_queue_size: int = 10) -> None:
        self.wsgi_app = wsgi_app
        self.registry = wsgi_app.registry
        self.http = WSGIMiddleware(
            _watched(wsgi_app), workers=threads, send_queue_size=send_queue_size
        )
        self.sockets: SocketService = self.registry[REGISTRY_KEY]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            if _is_stream(scope):
                await self._stream(scope, receive, send)
            else:
                await self.http(scope, receive, send)
        elif kind == "websocket":
            await self.sockets.handle(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _stream(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """A long response (Server-Sent Events): notice the client leaving.

        One task reads everything the server says about the request: the body's
        messages go on to a2wsgi, and the ``http.disconnect`` that only comes when the
        client leaves also tells the response body to stop.
        """
        gone = threading.Event()
        messages: asyncio.Queue[Any] = asyncio.Queue()

        async def pump() -> None:
            while True:
                message = await receive()
                await messages.put(message)
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        token = CLIENT_GONE.set(gone)
        reader = asyncio.create_task(pump())
        try:
            await self.http(scope, messages.get, send)
        finally:
            CLIENT_GONE.reset(token)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.sockets.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def asgi_app(wsgi_app: Any, threads: int = 8) -> AnsflowASGI:
    """The ASGI application of a Pyramid router built by :func:`ansflow_pyramid.main`."""
    return AnsflowASGI(wsgi_app, threads=threads)
