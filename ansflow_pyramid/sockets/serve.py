"""``pserve`` with uvicorn: the paste server runner ``egg:ansflow-pyramid#uvicorn``.

``[server:main]`` settings (all optional)::

    use = egg:ansflow-pyramid#uvicorn
    listen = 0.0.0.0:6543        # or host = ... and port = ...
    threads = 16                 # WSGI threads for the HTTP API (like waitress's)
    ws_ping_interval = 20        # protocol-level heartbeats: a ping every N seconds,
    ws_ping_timeout = 20         # and a peer that does not answer in time is dropped
    ws_max_size = 65536          # largest client frame
    proxy_headers = true         # trust X-Forwarded-* from forwarded_allow_ips
    forwarded_allow_ips = 127.0.0.1
    timeout_keep_alive = 5
    timeout_graceful_shutdown =  # seconds to wait for open connections on shutdown
    limit_concurrency =          # HTTP connections + sockets before 503s (none)
    log_level = info

Logging is configured by the ini's logging sections, as with waitress.
"""

from __future__ import annotations

from typing import Any

from ansflow_pyramid.settings import as_bool

INTEGER_OPTIONS = (
    "ws_max_size",
    "timeout_keep_alive",
    "timeout_graceful_shutdown",
    "limit_concurrency",
    "backlog",
)
FLOAT_OPTIONS = ("ws_ping_interval", "ws_ping_timeout")


def uvicorn_config(wsgi_app: Any, **options: Any) -> Any:
    """A ``uvicorn.Config`` serving ``wsgi_app`` (HTTP) and its sockets."""
    import uvicorn

    from ansflow_pyramid.sockets.asgi import asgi_app

    host = str(options.pop("host", "127.0.0.1"))
    port = int(options.pop("port", 6543))
    listen = options.pop("listen", None)
    if listen:
        host, _, raw_port = str(listen).rpartition(":")
        host, port = host.strip("[]") or "0.0.0.0", int(raw_port)
    threads = int(options.pop("threads", 8))
    kwargs: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": None,  # the ini's [loggers] apply
        "lifespan": "on",
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        "ws_max_size": 65536,
    }
    for name in INTEGER_OPTIONS:
        if str(options.get(name, "")).strip():
            kwargs[name] = int(options.pop(name))
        options.pop(name, None)
    for name in FLOAT_OPTIONS:
        if str(options.get(name, "")).strip():
            kwargs[name] = float(options.pop(name))
        options.pop(name, None)
    if "proxy_headers" in options:
        kwargs["proxy_headers"] = as_bool(options.pop("proxy_headers"))
    if "forwarded_allow_ips" in options:
        kwargs["forwarded_allow_ips"] = str(options.pop("forwarded_allow_ips"))
    if "log_level" in options:
        kwargs["log_level"] = str(options.pop("log_level")).lower()
    for name in ("http", "ws", "loop"):
        if name in options:
            kwargs[name] = str(options.pop(name))
    if options:
        raise ValueError(f"unknown [server] options for uvicorn: {', '.join(sorted(options))}")
    return uvicorn.Config(asgi_app(wsgi_app, threads=threads), **kwargs)


def run_uvicorn(wsgi_app: Any, global_conf: dict[str, Any] | None = None, **options: Any) -> None:
    """The paste server runner: serve until interrupted."""
    import uvicorn

    uvicorn.Server(uvicorn_config(wsgi_app, **options)).run()
