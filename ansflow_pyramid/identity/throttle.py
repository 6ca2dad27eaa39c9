"""Failed-login throttling, per username and per client address.

After ``ansflow.login_failure_limit`` failures (5) for one username, or
``ansflow.login_failure_address_limit`` (20) from one address, within
``ansflow.login_failure_window`` seconds (300), further attempts are refused with
429 and ``Retry-After`` until the window has moved on.  Counters live in Redis when
it is configured (keys under ``ansflow.redis_prefix``), in the ``login_failures``
table otherwise.  Failures are recorded outside the request's transaction, after it ended:
the failing request answers 401, which aborts its transaction.

With Redis configured, the database counters remain the fallback: while Redis does not
answer, failures are counted in the table, and every check consults both, so neither
an outage nor Redis coming back opens a window without throttling (across an outage a
subject gets at most its limit in each store, never an unlimited number of attempts).
A Redis that fails is not asked again for ``REDIS_RETRY_SECONDS``, so an outage does
not add a connection attempt to every login.

The client address is ``REMOTE_ADDR`` (waitress puts the real client there when it
trusts the proxy), never a raw ``X-Forwarded-For`` a client can forge.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from pyramid.request import Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ansflow_pyramid.db import session_scope, utcnow
from ansflow_pyramid.identity.deferred import after_transaction
from ansflow_pyramid.identity.models import LoginFailure
from ansflow_pyramid.redis_client import get_redis
from ansflow_pyramid.settings import as_int

log = logging.getLogger(__name__)

USER = "user"
ADDRESS = "address"
REGISTRY_KEY = "ansflow.login_throttle"


@dataclass(frozen=True)
class ThrottleConfig:
    user_limit: int = 5
    address_limit: int = 20
    window: int = 300

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> ThrottleConfig:
        return cls(
            user_limit=as_int(settings.get("ansflow.login_failure_limit"), cls.user_limit),
            address_limit=as_int(
                settings.get("ansflow.login_failure_address_limit"), cls.address_limit
            ),
            window=as_int(settings.get("ansflow.login_failure_window"), cls.window),
        )

    def limit(self, scope: str) -> int:
        return self.user_limit if scope == USER else self.address_limit


def throttle_key(value: str) -> str:
    """Usernames are stored hashed: a mistyped password in the username field stays secret."""
    return hashlib.sha256(value.strip().lower().encode("utf-8")).hexdigest()


def subjects(username: str, address: str | None) -> list[tuple[str, str]]:
    return [(USER, throttle_key(username)), (ADDRESS, throttle_key(address or "unknown"))]


class LoginThrottle(Protocol):
    config: ThrottleConfig

    def retry_after(self, request: Request, username: str, address: str | None) -> int:
        """Seconds to wait before another attempt is accepted (0: go ahead)."""

    def record_failure(self, request: Request, username: str, address: str | None) -> None:
        """Count one failed attempt (outside the request's transaction)."""

    def reset(self, request: Request, username: str) -> None:
        """Forget the username's failures after a successful login."""


class RedisLoginThrottle:
    """Fixed windows in Redis: one counter per subject, expiring with the window."""

    def __init__(self, client: Any, prefix: str, config: ThrottleConfig) -> None:
        self.client = client
        self.prefix = prefix
        self.config = config

    def _key(self, scope: str, key: str) -> str:
        return f"{self.prefix}login-failures:{scope}:{key}"

    def retry_after(self, request: Request, username: str, address: str | None) -> int:
        pairs = subjects(username, address)
        pipe = self.client.pipeline(transaction=False)
        for scope, key in pairs:
            pipe.get(self._key(scope, key))
            pipe.ttl(self._key(scope, key))
        values = pipe.execute()
        wait = 0
        for index, (scope, _) in enumerate(pairs):
            count, ttl = values[2 * index], values[2 * index + 1]
            if count is not None and int(count) >= self.config.limit(scope):
                wait = max(wait, int(ttl) if ttl and ttl > 0 else self.config.window)
        return wait

    def record_failure(self, request: Request, username: str, address: str | None) -> None:
        pipe = self.client.pipeline(transaction=True)
        for scope, key in subjects(username, address):
            name = self._key(scope, key)
            pipe.set(name, 0, ex=self.config.window, nx=True)
            pipe.incr(name)
        pipe.execute()

    def reset(self, request: Request, username: str) -> None:
        self.client.delete(self._key(USER, throttle_key(username)))


class DatabaseLoginThrottle:
    """Sliding windows over rows of ``login_failures``."""

    def __init__(self, config: ThrottleConfig) -> None:
        self.config = config

    def retry_after(self, request: Request, username: str, address: str | None) -> int:
        now = utcnow()
        since = now - dt.timedelta(seconds=self.config.window)
        wait = 0.0
        for scope, key in subjects(username, address):
            limit = self.config.limit(scope)
            recent = list(
                request.dbsession.scalars(
                    select(LoginFailure.failed_at)
                    .where(
                        LoginFailure.scope == scope,
                        LoginFailure.key == key,
                        LoginFailure.failed_at > since,
                    )
                    .order_by(LoginFailure.failed_at.desc())
                    .limit(limit)
                )
            )
            if len(recent) >= limit:
                # The window lets the next attempt in once the limit-th most recent
                # failure has aged out.
                frees_at = recent[-1] + dt.timedelta(seconds=self.config.window)
                wait = max(wait, (frees_at - now).total_seconds())
        return math.ceil(wait) if wait > 0 else 0

    def record_failure(self, request: Request, username: str, address: str | None) -> None:
        failed_at = utcnow()
        rows = [(scope, key) for scope, key in subjects(username, address)]

        def record(request: Request) -> None:
            with session_scope(request.registry["dbsession_factory"]) as dbsession:
                for scope, key in rows:
                    dbsession.add(LoginFailure(scope=scope, key=key, failed_at=failed_at))

        after_transaction(request, record)

    def reset(self, request: Request, username: str) -> None:
        # Part of the successful login's own transaction.
        request.dbsession.execute(
            delete(LoginFailure).where(
                LoginFailure.scope == USER, LoginFailure.key == throttle_key(username)
            )
        )

    def prune(self, dbsession: Session) -> int:
        since = utcnow() - dt.timedelta(seconds=self.config.window)
        return dbsession.execute(
            delete(LoginFailure).where(LoginFailure.failed_at <= since)
        ).rowcount


#: After Redis failed, how long the throttle uses only the database before asking again.
REDIS_RETRY_SECONDS = 1.0


class RedisWithDatabaseFallback:
    """Redis counters, with the database counters as the fallback and a second opinion.

    Checks take the longer wait of both stores; failures go to Redis, or to the
    database while Redis does not answer; a success resets both.
    """

    def __init__(self, redis_throttle: RedisLoginThrottle, database: DatabaseLoginThrottle):
        self.redis = redis_throttle
        self.database = database
        self.config = redis_throttle.config
        self._redis_down_until = 0.0

    def _redis_call(self, method: str, *args: Any) -> tuple[bool, Any]:
        """(True, result) from Redis, or (False, None) while it does not answer."""
        if time.monotonic() < self._redis_down_until:
            return False, None
        from redis.exceptions import RedisError

        try:
            return True, getattr(self.redis, method)(*args)
        except (RedisError, OSError) as error:
            log.warning("login throttle: Redis unavailable (%s); using the database", error)
            self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            return False, None

    def retry_after(self, request: Request, username: str, address: str | None) -> int:
        _, redis_wait = self._redis_call("retry_after", request, username, address)
        return max(redis_wait or 0, self.database.retry_after(request, username, address))

    def record_failure(self, request: Request, username: str, address: str | None) -> None:
        recorded, _ = self._redis_call("record_failure", request, username, address)
        if not recorded:
            self.database.record_failure(request, username, address)

    def reset(self, request: Request, username: str) -> None:
        self._redis_call("reset", request, username)
        self.database.reset(request, username)


def make_throttle(registry: Any) -> LoginThrottle:
    config = ThrottleConfig.from_settings(registry.settings)
    client = get_redis(registry)
    if client is not None:
        prefix = str(registry.settings.get("ansflow.redis_prefix") or "ansflow:")
        return RedisWithDatabaseFallback(
            RedisLoginThrottle(client, prefix, config), DatabaseLoginThrottle(config)
        )
    return DatabaseLoginThrottle(config)


def get_throttle(registry: Any) -> LoginThrottle:
    return registry[REGISTRY_KEY]
