"""The optional Redis connection, configured by ``redis.url`` (or ``REDIS_URL``)."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator

REGISTRY_KEY = "ansflow.redis"


def get_redis(registry: Any) -> Any | None:
    """The shared Redis client, or None when Redis is not configured."""
    return registry.get(REGISTRY_KEY)


def includeme(config: Configurator) -> None:
    url = (config.get_settings().get("redis.url") or "").strip()
    if not url:
        config.registry[REGISTRY_KEY] = None
        return
    import redis

    config.registry[REGISTRY_KEY] = redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )
