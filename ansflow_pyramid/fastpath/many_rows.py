"""Many small rows in one value: :class:`ManyRows`.

Read as rows from SQLite, every row is one ``sqlite3_step()``, and Python's sqlite3
module releases and re-takes the GIL around each: under a threaded server every row
becomes a hand-off between threads (about 140 futex round trips were measured for the
5000 log lines of an execution's detail, more than everything else in the request).
On SQLite the rows therefore come back as one JSON array the database builds; psycopg
receives a result set whole, so on PostgreSQL the statement runs as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ansflow_pyramid.fastpath.prepared import DriverQuery


class ManyRows:
    """A ``select`` of many rows of plain values (integers, text, nulls), read as one
    JSON value on SQLite and as rows elsewhere.

    The values are what JSON holds: use it for columns that need no conversion
    (not datetimes stored as text, not booleans).  Rows come back sorted by their
    first column, which should be unique (an aggregate's order is not guaranteed).
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.rows_query = DriverQuery(statement)
        inner = statement.subquery()
        self.json_query = DriverQuery(
            select(func.json_group_array(func.json_array(*inner.c))).select_from(inner)
        )

    def rows(self, session: Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, as a tuple, sorted by the first column."""
        if session.connection().dialect.name == "sqlite":
            (document,) = self.json_query.rows(session, params)[0]
            return sorted(tuple(row) for row in orjson.loads(document)) if document else []
        return sorted(self.rows_query.rows(session, params))
