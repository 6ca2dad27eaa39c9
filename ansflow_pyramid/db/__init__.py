"""Database wiring: engine, ``request.dbsession`` joined to the request transaction.

Every request gets one SQLAlchemy session registered with ``request.tm`` through
zope.sqlalchemy, so pyramid_tm commits or aborts it together with everything else the
request did.  pyramid_retry re-runs the whole request when the transaction fails with a
retryable error (a version conflict, a serialization failure, a deadlock).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import transaction
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
from pyramid.request import Request
from sqlalchemy import Engine, engine_from_config, event
from sqlalchemy.orm import Session, sessionmaker

from ansflow_pyramid.db.base import Base, JSONDocument, TimestampMixin, UTCDateTime, utcnow
from ansflow_pyramid.db.joining import COMMIT_READS_KEY, MANAGER_KEY, install_transaction_join
from ansflow_pyramid.db.retryable import install_retry_marking

__all__ = [
    "Base",
    "JSONDocument",
    "TimestampMixin",
    "UTCDateTime",
    "get_engine",
    "get_session_factory",
    "get_tm_session",
    "session_scope",
    "utcnow",
]

DEFAULT_URL = "sqlite:///ansflow.sqlite"
#: Execution option: begin SQLite transactions with BEGIN IMMEDIATE (see below).
SQLITE_IMMEDIATE_OPTION = "ansflow_sqlite_immediate"
#: Request methods that should not write (their transactions begin as readers).
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Give SQLite write-ahead logging and a busy timeout on every connection.

    WAL lets readers proceed while one writer commits; the busy timeout makes a second
    writer wait for the lock instead of failing at once with "database is locked".
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The stdlib driver opens transactions lazily and would let a read-then-write
        # transaction deadlock; BEGIN IMMEDIATE on first write is emitted below instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # In WAL mode a deferred transaction that has read cannot upgrade to a writer
        # once another connection committed after its first read: SQLite then fails
        # at once with "database is locked" instead of waiting (the busy timeout does
        # not apply).  Request transactions read then write, while engine threads
        # commit log lines all the time, so they take the write lock up front.
        # Straight to the driver: this runs for every transaction, and SQLAlchemy's
        # statement machinery would cost more than SQLite spends on a BEGIN.
        immediate = connection.get_execution_options().get(SQLITE_IMMEDIATE_OPTION)
        statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        try:
            connection.connection.dbapi_connection.execute(statement)
        except connection.dialect.loaded_dbapi.Error:
            # Again through SQLAlchemy, which wraps and classifies the error (a closed
            # connection is invalidated, a lock is retryable) as the views expect.
            connection.exec_driver_sql(statement)


def get_engine(settings: dict[str, Any], prefix: str = "sqlalchemy.") -> Engine:
    """Build the engine described by ``sqlalchemy.*`` settings."""
    options = {k: v for k, v in settings.items() if k.startswith(prefix)}
    options.setdefault(prefix + "url", DEFAULT_URL)
    url = str(options[prefix + "url"])
    busy_timeout = int(options.pop(prefix + "busy_timeout_ms", 15000) or 15000)
    prepare_threshold = str(options.pop(prefix + "prepare_threshold", "") or "").strip()
    extra: dict[str, Any] = {}
    if url.startswith("postgresql") and prepare_threshold:
        # psycopg prepares a statement after this many executions on a connection;
        # "none" turns that off (for PgBouncer in transaction pooling mode).
        if prepare_threshold.lower() == "none":
            threshold = None
        elif prepare_threshold.isdigit():
            threshold = int(prepare_threshold)
        else:
            raise ConfigurationError(
                f"sqlalchemy.prepare_threshold must be a count or 'none', not {prepare_threshold!r}"
            )
        extra["connect_args"] = {"prepare_threshold": threshold}
    if url.startswith("postgresql"):
        # A database that does not answer must not hold a request (or a worker) for
        # the operating system's TCP timeout: connecting gives up after this long.
        connect_timeout = int(options.pop(prefix + "connect_timeout", 5) or 5)
        extra.setdefault("connect_args", {})["connect_timeout"] = connect_timeout
    if url.startswith("postgresql"):
        # No ping before every checkout (a round trip on every request): connections
        # are recycled before servers and proxies usually drop idle ones, and a request
        # that still meets a dead connection is retried on a fresh one (see
        # ansflow_pyramid.db.retryable).
        options.setdefault(prefix + "pool_recycle", "1800")
        options.setdefault(prefix + "pool_size", "10")
        options.setdefault(prefix + "max_overflow", "20")
    engine = engine_from_config(options, prefix=prefix, **extra)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, busy_timeout)
    install_retry_marking(engine)
    return engine


def get_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine`` (expire_on_commit off: views serialise after
    flush) whose sessions join the transaction manager they are created for."""
    # Read-only requests end with COMMIT on PostgreSQL, so that psycopg keeps its
    # prepared statements (see joining.install_transaction_join).
    commit_reads = engine.dialect.name == "postgresql"
    factory = sessionmaker(
        bind=engine, expire_on_commit=False, info={COMMIT_READS_KEY: commit_reads}
    )
    install_transaction_join(factory)
    return factory


def get_tm_session(
    session_factory: sessionmaker[Session], transaction_manager: Any, request: Request | None = None
) -> Session:
    """A session joined to ``transaction_manager``: committed or aborted with it."""
    return session_factory(info={"request": request, MANAGER_KEY: transaction_manager})


@contextmanager
def session_scope(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in its own transaction, for scripts, the CLI and workers.

    Commits when the block ends normally, aborts when it raises.
    """
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        yield get_tm_session(session_factory, manager)


def includeme(config: Configurator) -> None:
    """Configure the engine and expose ``request.dbsession``."""
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    # 4xx and 5xx responses abort the transaction: a rejected request stores nothing.
    settings.setdefault("tm.commit_veto", "pyramid_tm.default_commit_veto")
    settings.setdefault("retry.attempts", 3)

    config.include("pyramid_tm")

    engine = get_engine(settings)
    # Sessions (requests, scripts) read then write in one transaction: on SQLite they
    # begin IMMEDIATE (see _configure_sqlite); code that writes first can use the
    # engine directly.
    session_factory = get_session_factory(
        engine.execution_options(**{SQLITE_IMMEDIATE_OPTION: True})
        if engine.dialect.name == "sqlite"
        else engine
    )
    # Reads (GET, HEAD, OPTIONS) on SQLite begin deferred: in WAL mode they then take
    # no lock at all, so they neither wait for the engine's log writes nor queue up
    # behind each other for the write lock.  The rare read that writes (a session
    # touched on a GET) and meets a concurrent commit fails with "database is locked",
    # which is retryable (db/retryable.py); a retried request begins IMMEDIATE.
    read_session_factory = (
        get_session_factory(engine) if engine.dialect.name == "sqlite" else session_factory
    )
    config.registry["dbsession_factory"] = session_factory
    config.registry["db_engine"] = engine

    def dbsession(request: Request) -> Session:
        # A request that is already under a transaction (the usual case) joins it.
        # Requests created by scripts without pyramid_tm get a manager of their own.
        factory = session_factory
        if request.method in READ_METHODS and not request.environ.get("retry.attempt"):
            factory = read_session_factory
        return get_tm_session(factory, request.tm, request=request)

    config.add_request_method(dbsession, reify=True)
