"""Prebuilt SELECTs run straight on the driver's cursor, for the hottest reads.

Running a cached Core statement through SQLAlchemy still costs tens of microseconds of
bookkeeping per execution and per fetched ``Row``; on the requests clients poll (the
execution detail, the identity check of every authenticated request) that is more than
the database spends on the query.  :class:`DriverQuery` compiles a Core ``select`` once
per dialect, runs it on the DBAPI cursor of the session's own connection (so inside
the request's transaction), and converts the values with the same result processors
SQLAlchemy would apply (datetimes stored as text on SQLite, booleans stored as
integers, JSON documents, ``TypeDecorator``s): the rows hold exactly what a
``connection.execute(statement)`` would have returned, as plain tuples.

Connection events (``before_cursor_execute``) do not see these statements; driver
errors are wrapped as SQLAlchemy wraps them, and a lost connection is invalidated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ansflow_pyramid.db.retryable import mark_if_retryable

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: Parameter names in order, for positional paramstyles (SQLite's qmark).
    order: tuple[str, ...] | None
    defaults: dict[str, Any]
    required: frozenset[str]
    #: Conversions of parameter values on the way in (the column types' own).
    bind_processors: dict[str, Processor]
    processors: tuple[Processor | None, ...]
    converts: bool


def _wrapped(
    connection: Connection, cursor: Any, sql: str, arguments: Any, error: Exception
) -> DBAPIError:
    """The driver's ``error`` as SQLAlchemy would have raised it: wrapped in the
    matching ``DBAPIError`` subclass (what the retry policy and the error views
    recognise), the connection invalidated when the error means it is gone."""
    dialect = connection.dialect
    disconnected = dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
    if disconnected:
        connection.invalidate(error)
    wrapped: DBAPIError = DBAPIError.instance(  # type: ignore[assignment]
        sql,
        arguments,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=disconnected,
        dialect=dialect,
    )
    mark_if_retryable(wrapped)
    return wrapped


class DriverQuery:
    """A Core ``select`` compiled once per dialect and run on the DBAPI cursor."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        #: The names of the selected columns (labels where given), in order.
        self.keys: tuple[str, ...] = tuple(statement.selected_columns.keys())
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        # IN lists given as values (``column.in_(CONSTANTS)``) are expanded into the
        # SQL with the values they have now, so the statement must not expect others.
        # Expanding needs every parameter to have a value: the ones to be given at run
        # time get a placeholder here, and rows() insists on receiving them.
        compiled = self.statement.compile(dialect=dialect)
        required = frozenset(name for name, bind in compiled.binds.items() if bind.required)
        expanded = compiled.construct_expanded_state({name: None for name in required})
        processors = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self.statement.selected_columns
        )
        entry = _Compiled(
            sql=expanded.statement,
            order=tuple(expanded.positiontup) if expanded.positiontup is not None else None,
            defaults={k: v for k, v in expanded.parameters.items() if k not in required},
            required=required,
            bind_processors=dict(expanded.processors),
            processors=processors,
            converts=any(p is not None for p in processors),
        )
        self._compiled[dialect.name] = entry
        return entry

    def rows(self, session: Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement in ``session``'s transaction; every row, as a tuple."""
        connection = session.connection()
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        missing = compiled.required.difference(params)
        if missing:
            raise KeyError(f"no value for the parameters {sorted(missing)}")
        values = {**compiled.defaults, **params}
        for name, process in compiled.bind_processors.items():
            if name in params:
                values[name] = process(values[name])
        arguments: Any = (
            tuple(values[name] for name in compiled.order) if compiled.order is not None else values
        )
        cursor = connection.connection.cursor()
        try:
            cursor.execute(compiled.sql, arguments)
            rows = cursor.fetchall()
        except dialect.loaded_dbapi.Error as error:
            raise _wrapped(connection, cursor, compiled.sql, arguments, error) from error
        finally:
            cursor.close()
        if not compiled.converts:
            return list(rows)
        processors = compiled.processors
        return [
            tuple(
                value if process is None else process(value)
                for process, value in zip(processors, row, strict=True)
            )
            for row in rows
        ]

    def first(self, session: Session, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row as a dict keyed by :attr:`keys`, or None."""
        rows = self.rows(session, params)
        return dict(zip(self.keys, rows[0], strict=True)) if rows else None

    def dicts(self, session: Session, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every row as a dict keyed by :attr:`keys`."""
        keys = self.keys
        return [dict(zip(keys, row, strict=True)) for row in self.rows(session, params)]
