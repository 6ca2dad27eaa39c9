"""WebSockets next to the HTTP API: live views for AnsFlow's client.

WSGI cannot carry WebSockets, so the application is also served through an ASGI
entry point (:mod:`.asgi`, run by uvicorn from the ini: :mod:`.serve`): HTTP goes
through a WSGI bridge to the same Pyramid application, sockets are handled natively.
waitress stays the default server; without the ASGI server the socket paths answer
426 Upgrade Required.

Plugins declare socket paths in the central registry, like every other path::

    config.add_socket_endpoint(
        "cicd.execution_socket",
        "/ws/executions/{execution_id}",
        ExecutionSocket(guard="/api/v1/cicd/executions/{execution_id}/events/", ...),
        aliases=["/ws/execution/{execution_id}"],
    )

A socket is authorized exactly like a GET of its handler's *guard path* by the same
credentials (session cookie, Bearer JWT, or a stream token in ``?token=``), through
the same security policy, traversal and ACL (:mod:`.auth`).  The session store is
read, never written.  Logouts, deleted sessions and revoked token families close
their sockets (:mod:`.hub`); limits, heartbeats and slow clients are handled by
:mod:`.service` and :mod:`.connection`.  Codes: :mod:`.codes`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
from pyramid.interfaces import PHASE1_CONFIG

from ansflow_pyramid.sockets.handlers import (
    ExecutionSocket,
    MonitorSocket,
    MonitorState,
    SocketHandler,
)
from ansflow_pyramid.sockets.service import REGISTRY_KEY, SocketService
from ansflow_pyramid.sockets.settings import SocketSettings
from ansflow_pyramid.traversal import Alias, get_resource_registry

__all__ = [
    "ExecutionSocket",
    "MonitorSocket",
    "MonitorState",
    "SocketHandler",
    "SocketService",
    "get_socket_service",
]


def get_socket_service(registry: Any) -> SocketService:
    """The application's :class:`SocketService`."""
    return registry[REGISTRY_KEY]


def upgrade_required(context: Any, request: Any) -> Any:
    """A socket path asked for over plain HTTP."""
    from ansflow_pyramid.api.errors import error_response

    return error_response(
        426,
        "This path serves WebSockets: connect with a WebSocket client to the ASGI server "
        "(see README, 'Live views').",
        "upgrade_required",
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
    )


def add_socket_endpoint(
    config: Configurator,
    name: str,
    path: str,
    handler: SocketHandler,
    *,
    aliases: Iterable[str | Alias] = (),
    description: str = "",
) -> None:
    """Serve WebSockets at ``path`` (and ``aliases``) with ``handler``.

    The paths are claims in the central registry like any other (a clash is a
    startup error naming both plugins) and are listed by ``ansflow paths`` as
    ``WEBSOCKET``.  Plain HTTP requests to them get a JSON 426.
    """
    if not isinstance(handler, SocketHandler):
        raise ConfigurationError(f"{name}: the handler must be a SocketHandler")
    config.add_api_endpoint(
        name,
        path,
        upgrade_required,
        methods=("GET",),
        aliases=aliases,
        description=description or f"WebSocket: {type(handler).__name__}",
        openapi=False,
    )
    resources = get_resource_registry(config.registry)
    service = get_socket_service(config.registry)

    def register() -> None:
        resources.resources[name].protocol = "websocket"
        service.handlers[name] = handler

    config.action(("ansflow.socket-endpoint", name), register, order=PHASE1_CONFIG + 2)


def includeme(config: Configurator) -> None:
    try:
        SocketSettings.from_settings(config.get_settings())
    except ValueError as error:
        raise ConfigurationError(f"socket settings: {error}") from error
    config.registry[REGISTRY_KEY] = SocketService(config.registry)
    config.add_directive("add_socket_endpoint", add_socket_endpoint)
