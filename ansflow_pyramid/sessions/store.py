"""The transactional session store: SQL rows read and written inside the request's transaction.

The cookie carries only a signed random id.  The row is read lazily, the first time a
request looks at its session, through ``request.dbsession`` (so inside the request's
transaction), and written by the session tween before pyramid_tm commits:

* a new session is INSERTed under a fresh id;
* a changed session is UPDATEd with ``WHERE version = :seen``.  When that matches no
  row, the store tells a concurrent change (the row exists with another version) from
  a concurrent deletion (the row is gone):

  - changed: if none of the keys this request *read* changed meanwhile, the request's
    writes are merged onto the current data (its outcome is the same as if it had run
    after the other request); otherwise ``StaleDataError`` is raised and pyramid_retry
    runs the whole request again on fresh data.  Either way no update is lost;
  - gone (a concurrent logout): the write is dropped, never re-INSERTed, the request
    still succeeds and its response clears the cookie;

* "last seen" is touched at most once per ``session.touch_interval`` seconds, without
  changing the version (a touch never conflicts with a data write).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyramid.interfaces import ISession
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from zope.interface import implementer

from ansflow_pyramid.db import utcnow
from ansflow_pyramid.db.joining import mark_session_changed
from ansflow_pyramid.sessions.ended import EndedNotices
from ansflow_pyramid.sessions.models import SessionRecord
from ansflow_pyramid.sessions.signing import Signer, new_session_id
from ansflow_pyramid.settings import as_bool, as_int

#: How many times a conflicting write is merged onto fresh data before the whole
#: request is retried instead (with the row locked for the merge, one is the norm).
MERGE_ATTEMPTS = 3

_MISSING = object()
TABLE = SessionRecord.__table__


@dataclass(frozen=True)
class SessionConfig:
    """The ``session.*`` settings."""

    secret: str
    cookie_name: str = "sessionid"
    max_age: int = 14 * 24 * 3600
    secure: bool = False
    samesite: str = "Lax"
    touch_interval: int = 300
    cookie_path: str = "/"

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> SessionConfig:
        production = settings.get("ansflow.environment") == "production"
        return cls(
            secret=str(settings["session.secret"]),
            cookie_name=str(settings.get("session.cookie_name") or "sessionid"),
            max_age=as_int(settings.get("session.max_age"), cls.max_age),
            secure=as_bool(settings.get("session.secure"), default=production),
            samesite=str(settings.get("session.samesite") or "Lax"),
            touch_interval=as_int(settings.get("session.touch_interval"), cls.touch_interval),
        )


class SessionStore:
    """SQL operations on the ``sessions`` table and the cookie that names a row.

    Writes are Core statements (no ORM state to keep in step); each one tells
    zope.sqlalchemy the session changed, or the transaction would roll them back.
    """

    def __init__(self, config: SessionConfig, notices: EndedNotices | None = None) -> None:
        self.config = config
        self.signer = Signer(config.secret, "session-id")
        #: Told (after the commit) which sessions were deleted, so that live
        #: connections authenticated by them (WebSockets) close.
        self.notices = notices or EndedNotices()

    # -- cookie ----------------------------------------------------------------------
    def cookie_id(self, request: Request) -> tuple[str | None, bool]:
        """(verified id, whether a session cookie was sent at all)."""
        raw = request.cookies.get(self.config.cookie_name)
        if raw is None:
            return None, False
        return self.signer.unsign(raw), True

    def set_cookie(self, response: Response, session_id: str) -> None:
        c = self.config
        response.set_cookie(
            c.cookie_name,
            self.signer.sign(session_id),
            max_age=c.max_age,
            path=c.cookie_path,
            secure=c.secure,
            httponly=True,
            samesite=c.samesite,
        )

    def clear_cookie(self, response: Response) -> None:
        c = self.config
        response.set_cookie(
            c.cookie_name,
            "",
            max_age=0,
            path=c.cookie_path,
            secure=c.secure,
            httponly=True,
            samesite=c.samesite,
        )

    # -- rows ------------------------------------------------------------------------
    def expiry(self, now: dt.datetime) -> dt.datetime:
        return now + dt.timedelta(seconds=self.config.max_age)

    def load(self, dbsession: Session, session_id: str, lock: bool = False) -> Row[Any] | None:
        """The live (unexpired) row of ``session_id``, or None.

        ``lock`` reads it ``FOR UPDATE`` (PostgreSQL; SQLite's request transactions
        hold the database's write lock already), so nobody can move it on before this
        transaction's own write.
        """
        query = select(
            TABLE.c.data,
            TABLE.c.version,
            TABLE.c.user_id,
            TABLE.c.created_at,
            TABLE.c.last_seen,
            TABLE.c.expires_at,
        ).where(TABLE.c.id == session_id)
        if lock:
            query = query.with_for_update()
        row = dbsession.execute(query).first()
        if row is None or row.expires_at <= utcnow():
            return None
        return row

    def insert(
        self, dbsession: Session, session_id: str, data: dict[str, Any], user_id: int | None
    ) -> None:
        now = utcnow()
        dbsession.execute(
            insert(TABLE).values(
                id=session_id,
                user_id=user_id,
                data=data,
                version=1,
                created_at=now,
                last_seen=now,
                expires_at=self.expiry(now),
            )
        )
        mark_session_changed(dbsession)

    def update(
        self, dbsession: Session, session_id: str, version: int, data: dict[str, Any]
    ) -> bool:
        """Version-checked write: True when the row at ``version`` was updated."""
        now = utcnow()
        result = dbsession.execute(
            update(TABLE)
            .where(TABLE.c.id == session_id, TABLE.c.version == version)
            .values(data=data, version=version + 1, last_seen=now, expires_at=self.expiry(now))
        )
        mark_session_changed(dbsession)
        return result.rowcount == 1

    def touch(self, dbsession: Session, session_id: str) -> None:
        # No version change: a touch commutes with any data write.
        now = utcnow()
        dbsession.execute(
            update(TABLE)
            .where(TABLE.c.id == session_id)
            .values(last_seen=now, expires_at=self.expiry(now))
        )
        mark_session_changed(dbsession)

    def delete(self, dbsession: Session, session_id: str) -> None:
        dbsession.execute(delete(TABLE).where(TABLE.c.id == session_id))
        mark_session_changed(dbsession)
        self.notices.announce_after_commit(dbsession, session_ids=(session_id,))

    def _delete_returning(self, dbsession: Session, statement: Any) -> int:
        ids = list(dbsession.scalars(statement.returning(TABLE.c.id)))
        mark_session_changed(dbsession)
        self.notices.announce_after_commit(dbsession, session_ids=ids)
        return len(ids)

    def delete_for_user(self, dbsession: Session, user_id: int, keep: str | None = None) -> int:
        """Delete every session of ``user_id`` (but ``keep``): password change, deactivation."""
        statement = delete(TABLE).where(TABLE.c.user_id == user_id)
        if keep is not None:
            statement = statement.where(TABLE.c.id != keep)
        return self._delete_returning(dbsession, statement)

    def prune(self, dbsession: Session, now: dt.datetime | None = None) -> int:
        """Delete expired rows; returns how many."""
        now = now or utcnow()
        return self._delete_returning(dbsession, delete(TABLE).where(TABLE.c.expires_at <= now))


def _json_copy(data: dict[str, Any]) -> dict[str, Any]:
    # A deep copy that also proves the data is JSON (what the column can store).
    return json.loads(json.dumps(data))


@implementer(ISession)
class DBSession:
    """``request.session``: a dict-like view of one row of the ``sessions`` table.

    Besides Pyramid's ``ISession`` it offers :meth:`login` (id rotation, binds a user)
    and :attr:`user_id`.  Reads are recorded key by key so that a conflicting write can
    be merged when the keys this request depended on did not change.
    """

    def __init__(self, request: Request, store: SessionStore) -> None:
        self.request = request
        self.store = store
        self.cookie_id, self.cookie_sent = store.cookie_id(request)
        self._loaded = False
        #: The id of the live row this session was loaded from (None: no row).
        self.id: str | None = None
        #: The id a new row will be INSERTed under (a new or rotated session).
        self.new_id: str | None = None
        self._data: dict[str, Any] = {}
        self._original: dict[str, Any] = {}
        self._version = 0
        self._user_id: int | None = None
        self._last_seen: dt.datetime | None = None
        self.created = time.time()
        self._delete_ids: list[str] = []
        self._read_keys: set[str] = set()
        self._read_all = False
        self._flagged = False
        #: Set by the store when a concurrent logout deleted the row under this request.
        self.dropped = False
        # A cookie was sent but names no live row (logged out, expired, forged).  Such
        # a request may log in, but its other writes are dropped rather than starting
        # a new session behind the back of the logout that killed the old one.
        self._dead = False
        #: The cookie sent named no live row (the state when the request arrived).
        self.cookie_dead = False

    # -- loading ---------------------------------------------------------------------
    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.cookie_id is None:
            self._dead = self.cookie_dead = self.cookie_sent
            return
        row = self.store.load(self.request.dbsession, self.cookie_id)
        if row is None:
            self._dead = self.cookie_dead = True
            return
        self.id = self.cookie_id
        self._data = dict(row.data or {})
        self._original = copy.deepcopy(self._data)
        self._version = row.version
        self._user_id = row.user_id
        self._last_seen = row.last_seen
        self.created = row.created_at.timestamp()

    @property
    def new(self) -> bool:
        self._load()
        return self.id is None

    @property
    def user_id(self) -> int | None:
        """The user logged in with this session, or None."""
        self._load()
        return self._user_id

    @property
    def csrf_binding(self) -> str:
        """The session id the browser holds *after* this response ("" for none).

        New CSRF tokens are bound to it.  Computed without the database (it may be
        asked after the commit); tokens the request *sent* are checked against
        :attr:`cookie_id`, the id the browser sent.
        """
        if not self._loaded:
            return self.cookie_id or ""
        if self.dropped:
            return ""
        if self.id is not None:
            return self.id
        if self.new_id is not None and self._will_insert():
            return self.new_id
        return ""

    def _will_insert(self) -> bool:
        return not self._dead and bool(self._data or self._user_id is not None)

    # -- authentication ----------------------------------------------------------------
    def login(self, user_id: int) -> None:
        """Bind ``user_id`` to this session under a fresh id (session fixation defence).

        The old row is deleted.  Data survives a re-login of the same user and is
        dropped when another user logs in on this browser.
        """
        self._load()
        if self._user_id is not None and self._user_id != user_id:
            self._data = {}
        if self.id is not None:
            self._delete_ids.append(self.id)
            self.id = None
        self._original = {}
        self._user_id = user_id
        self.new_id = new_session_id()
        self._dead = False

    def invalidate(self) -> None:
        """Forget everything: the row is deleted; later writes start a new session."""
        self._load()
        if self.id is not None:
            self._delete_ids.append(self.id)
        self.id = None
        self.new_id = None
        self._data = {}
        self._original = {}
        self._user_id = None
        self._read_keys.clear()
        self._read_all = False
        self._dead = False

    def changed(self) -> None:
        """Mark the session changed (after mutating a nested value in place)."""
        self._flagged = True

    # -- reads (recorded for merging) --------------------------------------------------
    def _read(self, key: str) -> None:
        self._load()
        self._read_keys.add(key)

    def _read_everything(self) -> None:
        self._load()
        self._read_all = True

    def __getitem__(self, key: str) -> Any:
        self._read(key)
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        self._read(key)
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        self._read(str(key))
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        self._read_everything()
        return iter(list(self._data))

    def __len__(self) -> int:
        self._read_everything()
        return len(self._data)

    def keys(self) -> Any:
        self._read_everything()
        return self._data.keys()

    def values(self) -> Any:
        self._read_everything()
        return self._data.values()

    def items(self) -> Any:
        self._read_everything()
        return self._data.items()

    def copy(self) -> dict[str, Any]:
        self._read_everything()
        return dict(self._data)

    # -- writes ------------------------------------------------------------------------
    def _ensure_writable(self) -> None:
        self._load()
        if self.id is None and self.new_id is None:
            self.new_id = new_session_id()

    def __setitem__(self, key: str, value: Any) -> None:
        self._ensure_writable()
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        self._read(key)
        del self._data[key]

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._read(key)
        if key not in self._data:
            self[key] = default
        return self._data[key]

    def pop(self, key: str, *default: Any) -> Any:
        self._read(key)
        return self._data.pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        self._read_everything()
        return self._data.popitem()

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        self._read_everything()
        self._data.clear()

    # -- flash messages and CSRF (ISession) ----------------------------------------------
    def flash(self, msg: Any, queue: str = "", allow_duplicate: bool = True) -> None:
        key = "_f_" + queue
        messages = list(self.get(key, []))
        if allow_duplicate or msg not in messages:
            messages.append(msg)
            self[key] = messages

    def pop_flash(self, queue: str = "") -> list[Any]:
        return list(self.pop("_f_" + queue, []))

    def peek_flash(self, queue: str = "") -> list[Any]:
        return list(self.get("_f_" + queue, []))

    def new_csrf_token(self) -> str:
        # CSRF tokens live in a cookie bound to this session's id (see security.csrf);
        # the ISession methods delegate to the configured CSRF storage policy.
        from pyramid.csrf import new_csrf_token

        return new_csrf_token(self.request)

    def get_csrf_token(self) -> str:
        from pyramid.csrf import get_csrf_token

        return get_csrf_token(self.request)

    # -- persistence (called by the session tween, before commit) ----------------------
    def _writes(self) -> tuple[dict[str, Any], set[str]]:
        sets = {k: v for k, v in self._data.items() if self._original.get(k, _MISSING) != v}
        deletes = {k for k in self._original if k not in self._data}
        return sets, deletes

    def _reads_still_valid(self, current: dict[str, Any]) -> bool:
        if self._read_all or self._flagged:
            return current == self._original
        return all(
            current.get(key, _MISSING) == self._original.get(key, _MISSING)
            for key in self._read_keys
        )

    def persist(self, response: Response) -> None:
        """Write the session (if it changed) and set or clear the cookie on ``response``."""
        store = self.store
        if not self._loaded:
            # Never looked at: only a forged or malformed cookie needs an answer.
            if self.cookie_sent and self.cookie_id is None:
                store.clear_cookie(response)
            return
        dbsession: Session = self.request.dbsession
        for session_id in self._delete_ids:
            store.delete(dbsession, session_id)
        if self.id is None:
            if self.new_id is not None and self._will_insert():
                store.insert(dbsession, self.new_id, _json_copy(self._data), self._user_id)
                store.set_cookie(response, self.new_id)
            elif self.cookie_sent:
                # Logged out, expired, unknown or forged: the cookie names nothing.
                store.clear_cookie(response)
        elif self._flagged or self._data != self._original:
            self._write_changes(dbsession, response)
        elif self._touch_due():
            store.touch(dbsession, self.id)
            store.set_cookie(response, self.id)

    def persist_cookie_only(self, response: Response) -> None:
        """For error responses (their transaction is aborted): store nothing, but still
        clear a cookie that names no session, so the browser stops sending it."""
        if self.cookie_sent and (self.cookie_id is None or self.cookie_dead):
            self.store.clear_cookie(response)

    def _touch_due(self) -> bool:
        if self._last_seen is None:
            return False
        age = (utcnow() - self._last_seen).total_seconds()
        return age >= self.store.config.touch_interval

    def _write_changes(self, dbsession: Session, response: Response) -> None:
        assert self.id is not None
        store = self.store
        data = _json_copy(self._data)
        version = self._version
        for _ in range(MERGE_ATTEMPTS):
            if store.update(dbsession, self.id, version, data):
                self._version = version + 1
                return
            # Conflict: read the current row, locked, so the merged write below
            # cannot be overtaken by yet another writer.
            current = store.load(dbsession, self.id, lock=True)
            if current is None:
                # Deleted by a concurrent logout: never resurrect it; drop the write.
                self.dropped = True
                store.clear_cookie(response)
                return
            current_data = dict(current.data or {})
            if not self._reads_still_valid(current_data):
                raise StaleDataError(
                    f"session {self.id[:8]}... changed under a request that read it"
                )
            sets, deletes = self._writes()
            merged = {k: v for k, v in current_data.items() if k not in deletes}
            merged.update(sets)
            data = _json_copy(merged)
            version = current.version
        raise StaleDataError(f"session {self.id[:8]}... kept changing; retrying the request")


def session_factory_for(store: SessionStore) -> Any:
    """A Pyramid ``ISessionFactory``: ``factory(request) -> DBSession``."""

    def session_factory(request: Request) -> DBSession:
        return DBSession(request, store)

    return session_factory
