"""The fast paths of the hottest reads, behind one door.

Most resources need none of this: the generic collections and SQLAlchemy are fast
enough.  For a document clients poll (the cicd plugin's execution detail is the
example) these are the tools, and the only place that knows the drivers' and the
frameworks' details:

* :class:`PreparedQuery` (``DriverQuery``): a Core ``select`` compiled once per dialect
  and run on the DBAPI cursor of the session's own connection, inside its transaction,
  with SQLAlchemy's own value conversions; rows as tuples (``rows``) or dicts
  (``first``, ``dicts``).  It skips SQLAlchemy's per-statement and per-row
  bookkeeping, not the transaction.
* :class:`ManyRows`: many small rows of plain values read as one JSON value on SQLite
  (a thread hand-off per row otherwise), as rows on PostgreSQL.
* :func:`bake_request_class`: the request properties plugins register are built into
  one request class once the configuration is committed, instead of a new class per
  request.
* Commit-on-read (:data:`COMMIT_READS_KEY`, decided by :func:`commits_reads`): on
  PostgreSQL a request that wrote nothing still ends with COMMIT, which keeps psycopg's
  prepared statements (a ROLLBACK discards them all).

Domain code uses these names from here, never the modules behind them.
"""

from __future__ import annotations

from ansflow_pyramid.fastpath.commit_reads import COMMIT_READS_KEY, commits_reads
from ansflow_pyramid.fastpath.many_rows import ManyRows
from ansflow_pyramid.fastpath.prepared import DriverQuery
from ansflow_pyramid.fastpath.request_class import bake_request_class

#: The name plugins use; ``DriverQuery`` is the same class.
PreparedQuery = DriverQuery


__all__ = [
    "COMMIT_READS_KEY",
    "DriverQuery",
    "ManyRows",
    "PreparedQuery",
    "bake_request_class",
    "commits_reads",
]
