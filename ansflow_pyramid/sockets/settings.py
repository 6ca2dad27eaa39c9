"""The ``ansflow.socket_*`` settings and the allowed origins.

====================================  ===============================================
``ansflow.allowed_hosts``             hosts a browser's ``Origin`` may name (Django's
                                      ``ALLOWED_HOSTS`` syntax: ``example.com``,
                                      ``.example.com`` for subdomains, ``host:port``,
                                      ``*``); empty: the request's own ``Host`` only
``ansflow.socket_max_connections``    open sockets per process (1000)
``ansflow.socket_max_per_user``       open sockets per user per process (50)
``ansflow.socket_send_buffer``        bytes queued for one client before it is
                                      dropped as too slow (1 MiB)
``ansflow.socket_send_timeout``       seconds a send may wait for a slow client (10)
``ansflow.socket_recheck_interval``   seconds between re-checks of a socket's
                                      credentials and permission (30): the bound on
                                      closing a socket whose session ended when the
                                      notice itself was lost
``ansflow.socket_status_interval``    seconds between ``system_status`` messages of
                                      the monitor socket (30)
``ansflow.socket_max_message_bytes``  largest client message (4096)
``ansflow.socket_threads``            threads for the sockets' database work (8)
====================================  ===============================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansflow_pyramid.settings import as_int, as_list


def _as_float(value: Any, default: float) -> float:
    if value is None or str(value).strip() == "":
        return default
    number = float(value)
    if number <= 0:
        raise ValueError(f"expected a positive number, not {value!r}")
    return number


@dataclass(frozen=True)
class SocketSettings:
    allowed_hosts: tuple[str, ...] = ()
    max_connections: int = 1000
    max_per_user: int = 50
    send_buffer: int = 1024 * 1024
    send_timeout: float = 10.0
    recheck_interval: float = 30.0
    status_interval: float = 30.0
    max_message_bytes: int = 4096
    threads: int = 8
    redis_prefix: str = "ansflow:"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SocketSettings:
        get = settings.get
        return cls(
            allowed_hosts=tuple(h.lower() for h in as_list(get("ansflow.allowed_hosts"))),
            max_connections=as_int(get("ansflow.socket_max_connections"), cls.max_connections),
            max_per_user=as_int(get("ansflow.socket_max_per_user"), cls.max_per_user),
            send_buffer=as_int(get("ansflow.socket_send_buffer"), cls.send_buffer),
            send_timeout=_as_float(get("ansflow.socket_send_timeout"), cls.send_timeout),
            recheck_interval=_as_float(
                get("ansflow.socket_recheck_interval"), cls.recheck_interval
            ),
            status_interval=_as_float(get("ansflow.socket_status_interval"), cls.status_interval),
            max_message_bytes=as_int(
                get("ansflow.socket_max_message_bytes"), cls.max_message_bytes
            ),
            threads=as_int(get("ansflow.socket_threads"), cls.threads),
            redis_prefix=str(get("ansflow.redis_prefix") or "ansflow:"),
        )


def _split_host(value: str) -> tuple[str, str | None]:
    value = value.strip().lower()
    if value.startswith("["):  # an IPv6 literal
        host, _, rest = value[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    if value.count(":") > 1:  # a bare IPv6 address: no port
        return value, None
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit():
        return host, port
    return value, None


def origin_allowed(origin: str | None, host_header: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a browser's ``Origin`` may open a socket.

    No ``Origin`` header: not a browser (browsers always send one on WebSocket
    handshakes), so there is no cross-site request to forge; the credentials decide.
    ``Origin: null`` (sandboxed frames, files) is refused.
    """
    if origin is None:
        return True
    origin = origin.strip().lower()
    scheme, sep, rest = origin.partition("://")
    if not sep or scheme not in ("http", "https") or not rest or "/" in rest:
        return False
    host, port = _split_host(rest)
    if not allowed:
        if not host_header:
            return False
        own_host, own_port = _split_host(host_header)
        default = "443" if scheme == "https" else "80"
        return host == own_host and (port or default) == (own_port or default)
    for pattern in allowed:
        if pattern == "*":
            return True
        pattern_host, pattern_port = _split_host(pattern)
        if pattern_port is not None and pattern_port != port:
            continue
        if pattern_host.startswith("."):
            if host == pattern_host[1:] or host.endswith(pattern_host):
                return True
        elif host == pattern_host:
            return True
    return False
