"""Authenticating and authorizing a socket with the application's own machinery.

A socket stands for a GET of a *guard path* (``/api/v1/cicd/executions/7/events/``
for the socket of execution 7): the handshake's cookies, ``Authorization`` header and
query string become a Pyramid request for that path, which goes through the same
security policy (Bearer JWT, session cookie, or the stream token identity source),
the same traversal and the same ACL as the HTTP request would.  Nothing is copied:
an execution's socket is allowed exactly when its SSE stream would be.

The request runs in a transaction of its own that is always *aborted*, and neither
the session tween nor a response ever sees it: a socket reads the session store and
cannot write it, touch it, or bring a deleted session back.  Actions a socket may
take (``control``/stop) run :func:`run_action` instead, which commits; the session is
still never written, since only the session tween writes it.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import transaction
from pyramid.httpexceptions import HTTPException
from pyramid.interfaces import IRequestFactory
from pyramid.request import Request
from pyramid.scripting import prepare
from pyramid.traversal import ResourceTreeTraverser

from ansflow_pyramid.api.errors import APIError
from ansflow_pyramid.sessions.ended import session_digest


class Refused(Exception):
    """The socket may not be opened (before the upgrade) or must close (after it)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass
class Grant:
    """Who opened a socket, how, and what ends their right to it."""

    user_id: int
    username: str
    method: str
    #: ("session", digest) and/or ("family", id): announcements that close the socket.
    keys: tuple[tuple[str, str], ...] = ()
    #: Epoch seconds after which the credentials stop (a JWT's ``exp``), or None.
    expires_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _environ(scope: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": quote(path),
        "QUERY_STRING": (scope.get("query_string") or b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] or (443 if scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": str(client[0]),
        "wsgi.url_scheme": scheme,
        # The socket's requests have no body (a control command carries its own data).
        "wsgi.input": io.BytesIO(b""),
        "CONTENT_LENGTH": "0",
        "wsgi.errors": None,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    for raw_name, raw_value in scope.get("headers") or ():
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            continue
        key = "HTTP_" + name
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


class SocketRequests:
    """Builds and runs the Pyramid requests a socket stands for."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def _request(self, scope: dict[str, Any], path: str, method: str) -> Request:
        environ = _environ(scope, path, method)
        manager = transaction.TransactionManager(explicit=True)
        # pyramid_tm's request.tm uses this manager; request.dbsession joins it.
        environ["tm.manager"] = manager
        factory = self.registry.queryUtility(IRequestFactory, default=Request)
        request = factory(environ)
        request.registry = self.registry
        return request

    def _run(
        self,
        scope: dict[str, Any],
        path: str,
        method: str,
        permission: str | None,
        work: Callable[[Request, Any], Any],
        commit: bool,
    ) -> Any:
        request = self._request(scope, path, method)
        env = prepare(request=request, registry=self.registry)
        manager = request.environ["tm.manager"]
        manager.begin()
        try:
            context = self._authorize(request, env["root"], path, permission)
            result = work(request, context)
            if commit:
                manager.commit()
            return result
        except HTTPException as error:
            raise _refusal(error.code or 500, error) from None
        except APIError as error:
            raise Refused(error.status, error.code, error.detail) from None
        finally:
            if _active(manager):
                manager.abort()
            env["closer"]()

    @staticmethod
    def _authorize(request: Request, root: Any, path: str, permission: str | None) -> Any:
        if request.identity is None:
            raise Refused(401, "not_authenticated", "Authentication credentials were not provided.")
        info = ResourceTreeTraverser(root)(request)
        expected = [s for s in path.split("/") if s][-1]
        context = info["context"]
        # The guard is a view of a resource (``.../7/events/``) or a resource itself.
        reached = info["view_name"] == expected or (
            info["view_name"] == "" and getattr(context, "__name__", None) == expected
        )
        if not reached or info["subpath"]:
            raise Refused(404, "not_found", "Not found.")
        request.context = context
        if permission is not None and not request.has_permission(permission, context):
            raise Refused(403, "permission_denied", "You do not have permission to do this.")
        return context

    def authorize(
        self,
        scope: dict[str, Any],
        guard: str,
        permission: str | None = "view",
        work: Callable[[Request, Any], Any] | None = None,
    ) -> tuple[Grant, Any]:
        """Check the handshake's credentials against ``GET guard``; returns the grant and
        whatever ``work(request, context)`` returns (run in the same read-only
        transaction).  Raises :class:`Refused`."""

        def inspect(request: Request, context: Any) -> tuple[Grant, Any]:
            grant = _grant(request)
            return grant, (work(request, context) if work is not None else None)

        return self._run(scope, guard, "GET", permission, inspect, commit=False)

    def run_action(
        self,
        scope: dict[str, Any],
        path: str,
        permission: str,
        action: Callable[[Request, Any], Any],
    ) -> Any:
        """Run ``action(request, context)`` as a POST of ``path`` by the socket's user,
        after checking ``permission`` on the resource there; commits its transaction."""
        return self._run(scope, path, "POST", permission, action, commit=True)


def _active(manager: Any) -> bool:
    try:
        manager.get()
    except Exception:
        return False
    return True


def _refusal(status: int, error: HTTPException) -> Refused:
    codes = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}
    detail = str(getattr(error, "detail", None) or error.title or "Refused.")
    return Refused(status, codes.get(status, "refused"), detail)


def _grant(request: Request) -> Grant:
    identity = request.identity
    keys: list[tuple[str, str]] = []
    expires_at: float | None = None
    if identity.method == "session":
        session_id = getattr(request.session, "id", None)
        if session_id:
            keys.append(("session", session_digest(session_id)))
    elif identity.method == "jwt":
        family = identity.claims.get("fam")
        if family:
            keys.append(("family", str(family)))
        exp = identity.claims.get("exp")
        if exp is not None:
            expires_at = float(exp)
    return Grant(
        user_id=identity.user_id,
        username=identity.username,
        method=identity.method,
        keys=tuple(keys),
        expires_at=expires_at,
    )


def seconds_left(grant: Grant) -> float | None:
    if grant.expires_at is None:
        return None
    return grant.expires_at - time.time()
