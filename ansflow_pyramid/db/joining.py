"""Join every session of a factory to the transaction manager named in its ``info``.

zope.sqlalchemy's ``register(session, transaction_manager=...)`` installs seven event
listeners on each session it is given.  With pyramid_tm's explicit managers (one per
request) that means installing and tearing down listeners on every request, which
costs more than the queries of a typical read.  Instead the listeners are installed
once, on the session factory, and each session names its own manager in
``session.info[MANAGER_KEY]``; the zope.sqlalchemy functions that do the work
(``join_transaction``, ``mark_changed``) are the library's own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker
from zope.sqlalchemy.datamanager import (
    STATUS_ACTIVE,
    STATUS_CHANGED,
    join_transaction,
    mark_changed,
)

from ansflow_pyramid.fastpath.commit_reads import COMMIT_READS_KEY

#: The status of a transaction whose manager is committing it.  The transaction
#: package keeps its status names in a private module; they are plain strings.
COMMITTING = "Committing"
#: ``session.info`` key holding the transaction manager the session joins.
MANAGER_KEY = "ansflow.transaction_manager"


def _manager(session: Session) -> Any:
    return session.info[MANAGER_KEY]


def _join(session: Session, *_: Any) -> None:
    # zope.sqlalchemy rolls back sessions that wrote nothing; a session joined as
    # already changed is committed instead (see install_transaction_join).
    state = STATUS_CHANGED if session.info.get(COMMIT_READS_KEY) else STATUS_ACTIVE
    join_transaction(session, state, _manager(session))


def mark_session_changed(session: Session) -> None:
    """Tell the transaction that ``session`` wrote through a path its events do not
    see (Core statements on ``session.connection()``), so it commits, not rolls back."""
    mark_changed(session, _manager(session))


def _changed(session: Session, *_: Any) -> None:
    mark_session_changed(session)


def _bulk_changed(context: Any) -> None:
    _changed(context.session)


def _orm_execute(state: Any) -> None:
    # ORM-enabled INSERT/UPDATE/DELETE statements bypass the flush: mark them too.
    if state.is_orm_statement and (state.is_update or state.is_insert or state.is_delete):
        _changed(state.session)


def _before_commit(session: Session) -> None:
    # Committing the session directly would commit behind the transaction
    # manager's back (and half of a request's work); only the manager may.
    status = _manager(session).get().status
    assert session.in_nested_transaction() or status == COMMITTING, (
        "Transaction must be committed using the transaction manager"
    )


def install_transaction_join(factory: sessionmaker[Session]) -> None:
    """Make every session ``factory`` creates join its manager's transaction.

    Sessions whose ``info`` sets :data:`COMMIT_READS_KEY` end with COMMIT even when
    they wrote nothing (the transaction is still aborted on errors and vetoed
    responses).  On PostgreSQL that keeps the driver's prepared statements: psycopg
    forgets them all on every ROLLBACK, and without them each request plans its
    queries again (about 0.6 ms for the execution detail's joins).
    """
    event.listen(factory, "after_begin", _join)
    event.listen(factory, "after_attach", _join)
    event.listen(factory, "after_flush", _changed)
    event.listen(factory, "after_bulk_update", _bulk_changed)
    event.listen(factory, "after_bulk_delete", _bulk_changed)
    event.listen(factory, "before_commit", _before_commit)
    event.listen(factory, "do_orm_execute", _orm_execute)
