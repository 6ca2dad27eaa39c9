"""Every open socket of this process: limits, and closing those whose credentials ended.

The session store and the token code announce ended credentials after their
transaction commits (:mod:`ansflow_pyramid.sessions.ended`).  The hub hears those
announcements from this process directly and, when Redis is configured, from every
process through Redis pub/sub (channel ``<prefix>sockets:ended``), and closes the
matching sockets with :data:`~.codes.CREDENTIALS_ENDED`.

A socket registers its credential keys right after authenticating.  An announcement
that arrived between its authentication and its registration is not lost: the hub
remembers recent announcements for a while and checks new registrations against them.
If an announcement is lost anyway (Redis down), each socket's periodic re-check
(``ansflow.socket_recheck_interval``) closes it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from ansflow_pyramid.sessions.ended import CredentialsEnded
from ansflow_pyramid.sockets import codes
from ansflow_pyramid.sockets.settings import SocketSettings

log = logging.getLogger(__name__)

#: How long announcements are remembered for sockets still authenticating.
RECENT_SECONDS = 120.0


class Closable:
    """What the hub needs of a socket (see :class:`~.connection.SocketConnection`)."""

    user_id: int | None
    keys: tuple[tuple[str, str], ...]

    def close_soon(self, code: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class SocketHub:
    def __init__(self, settings: SocketSettings, redis_client: Any | None) -> None:
        self.settings = settings
        self.redis = redis_client
        self.channel = f"{settings.redis_prefix}sockets:ended"
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self.open: set[Any] = set()
        self.per_user: dict[int, int] = {}
        self.by_key: dict[tuple[str, str], set[Any]] = {}
        self._recent: dict[tuple[str, str], float] = {}
        #: Counters for operators and benchmarks.
        self.stats = {"opened": 0, "refused_limit": 0, "closed_ended": 0, "dropped_slow": 0}
        self._listener: threading.Thread | None = None
        self._started = 0.0
        self._ready = threading.Event()
        self._stop = threading.Event()

    # -- limits ----------------------------------------------------------------------
    def admit(self, connection: Any) -> int | None:
        """Count ``connection`` in; returns a close code when a limit refuses it."""
        with self._lock:
            if len(self.open) >= self.settings.max_connections:
                self.stats["refused_limit"] += 1
                return codes.TRY_AGAIN_LATER
            self.open.add(connection)
            self.stats["opened"] += 1
        return None

    def bind(self, connection: Any, user_id: int, keys: tuple[tuple[str, str], ...]) -> int | None:
        """Attach an authenticated user and credential keys; a close code when refused."""
        with self._lock:
            if self.per_user.get(user_id, 0) >= self.settings.max_per_user:
                self.stats["refused_limit"] += 1
                return codes.TOO_MANY_FOR_USER
            self.per_user[user_id] = self.per_user.get(user_id, 0) + 1
            connection.user_id = user_id
            connection.keys = keys
            for key in keys:
                self.by_key.setdefault(key, set()).add(connection)
            self._forget_old()
            ended = any(key in self._recent for key in keys)
        if ended:
            self.stats["closed_ended"] += 1
            return codes.CREDENTIALS_ENDED
        return None

    def release(self, connection: Any) -> None:
        with self._lock:
            if connection not in self.open:
                return
            self.open.discard(connection)
            user_id = getattr(connection, "user_id", None)
            if user_id is not None:
                left = self.per_user.get(user_id, 1) - 1
                if left > 0:
                    self.per_user[user_id] = left
                else:
                    self.per_user.pop(user_id, None)
            for key in getattr(connection, "keys", ()):
                holders = self.by_key.get(key)
                if holders is not None:
                    holders.discard(connection)
                    if not holders:
                        self.by_key.pop(key, None)

    def count(self) -> int:
        return len(self.open)

    # -- ended credentials -------------------------------------------------------------
    def _forget_old(self) -> None:
        cutoff = time.monotonic() - RECENT_SECONDS
        if self._recent and next(iter(self._recent.values())) < cutoff:
            self._recent = {k: t for k, t in self._recent.items() if t >= cutoff}

    def ended(self, notice: CredentialsEnded) -> None:
        """Close every socket of these credentials (callable from any thread)."""
        keys = [("session", s) for s in notice.sessions] + [("family", f) for f in notice.families]
        now = time.monotonic()
        with self._lock:
            self._forget_old()
            for key in keys:
                self._recent.pop(key, None)
                self._recent[key] = now
            victims = {c for key in keys for c in self.by_key.get(key, ())}
            self.stats["closed_ended"] += len(victims)
        for connection in victims:
            connection.close_soon(codes.CREDENTIALS_ENDED)

    def on_credentials_ended(self, notice: CredentialsEnded) -> None:
        """The session store's listener: act here, and tell the other processes."""
        self.ended(notice)
        if self.redis is not None:
            try:
                self.redis.publish(self.channel, notice.to_json())
            except Exception:
                # The other processes' periodic re-checks close their sockets instead.
                log.warning("could not publish ended credentials to Redis", exc_info=True)

    def close_all(self, code: int) -> None:
        with self._lock:
            everyone = list(self.open)
        for connection in everyone:
            connection.close_soon(code)

    # -- Redis ---------------------------------------------------------------------------
    def ensure_listening(self, timeout: float = 2.0) -> bool:
        """Start hearing other processes' announcements (once); True when subscribed."""
        if self.redis is None:
            return True
        if self._listener is None:
            with self._lock:
                if self._listener is None:
                    self._started = time.monotonic()
                    self._listener = threading.Thread(
                        target=self._listen, name="ansflow-sockets-redis", daemon=True
                    )
                    self._listener.start()
        # Only the first sockets wait for the subscription; with Redis down, later
        # ones do not (their periodic re-checks stand in for the notices).
        return self._ready.wait(max(0.0, self._started + timeout - time.monotonic()))

    def _listen(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self.redis.pubsub()
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.25)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._ready.set()
                        backoff = 0.2
                    elif message["type"] == "message":
                        try:
                            notice = CredentialsEnded.from_json(message["data"])
                        except (ValueError, TypeError, AttributeError):
                            log.warning("ignoring a malformed ended-credentials message")
                            continue
                        self.ended(notice)
            except Exception as error:
                if self._stop.is_set():
                    break
                self._ready.clear()
                log.warning("sockets lost Redis (%s); reconnecting in %.1f s", error, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        log.debug("closing the pubsub connection failed", exc_info=True)

    def close(self) -> None:
        """Stop listening (a server shutting down); a later socket starts again."""
        self._stop.set()
        listener = self._listener
        if listener is not None and listener is not threading.current_thread():
            listener.join(timeout=3)
        with self._lock:
            self._listener = None
            self._ready.clear()
            self._stop = threading.Event()
