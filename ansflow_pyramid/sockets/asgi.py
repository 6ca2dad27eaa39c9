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

import logging
from typing import Any

from a2wsgi import WSGIMiddleware

from ansflow_pyramid.sockets.service import REGISTRY_KEY, SocketService

log = logging.getLogger(__name__)


class AnsflowASGI:
    """``AnsflowASGI(wsgi_app)``: an ASGI application around the Pyramid router."""

    def __init__(self, wsgi_app: Any, threads: int = 8, send_queue_size: int = 10) -> None:
        self.wsgi_app = wsgi_app
        self.registry = wsgi_app.registry
        self.http = WSGIMiddleware(wsgi_app, workers=threads, send_queue_size=send_queue_size)
        self.sockets: SocketService = self.registry[REGISTRY_KEY]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "websocket":
            await self.sockets.handle(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

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
