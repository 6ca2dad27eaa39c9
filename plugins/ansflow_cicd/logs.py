"""The log line store: an execution's output as numbered lines.

Shows: output stored append-only as rows ``(execution_id, number)`` so that clients
can read it incrementally by offset: "give me the lines after number N" is an index
range scan however long the log is, and a client that lost its connection resumes
exactly where it stopped.  Numbers start at 1 and increase by one per execution
across all its steps; the engine writes lines in batches (:func:`append_lines`).

These functions only need a SQLAlchemy session: they serve the API views here and
can serve the execution engine's store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Integer, bindparam, func, insert, select
from sqlalchemy.orm import Session

from ansflow_cicd.models import ExecutionLogLine
from ansflow_pyramid.db import utcnow
from ansflow_pyramid.fastpath import ManyRows

#: Lines embedded in an execution's detail at most; the rest is read through logs/.
DETAIL_MAX_LINES = 5000
#: Lines in one merged ``logs`` text at most.
MERGED_MAX_LINES = 50_000


@dataclass(frozen=True)
class Line:
    number: int
    step_execution_id: int | None
    stream: str
    text: str
    created_at: dt.datetime


def last_number(dbsession: Session, execution_id: int) -> int:
    """The number of the execution's last line (0 when it has none)."""
    value = dbsession.scalar(
        select(func.max(ExecutionLogLine.number)).where(
            ExecutionLogLine.execution_id == execution_id
        )
    )
    return int(value or 0)


def append_lines(
    dbsession: Session,
    execution_id: int,
    texts: Iterable[str],
    step_execution_id: int | None = None,
    stream: str = "stdout",
) -> int:
    """Append lines after the last stored one; returns the last number written.

    One writer per execution at a time (the engine running it): two concurrent
    writers would pick the same numbers and the second insert would fail on the
    primary key instead of interleaving silently.
    """
    number = last_number(dbsession, execution_id)
    now = utcnow()
    rows = []
    for text in texts:
        number += 1
        rows.append(
            {
                "execution_id": execution_id,
                "number": number,
                "step_execution_id": step_execution_id,
                "stream": stream,
                "text": text.replace("\x00", ""),
                "created_at": now,
            }
        )
    if rows:
        dbsession.execute(insert(ExecutionLogLine), rows)
    return number


def read_lines(
    dbsession: Session,
    execution_id: int,
    after: int = 0,
    limit: int = 1000,
    step_execution_id: int | None = None,
) -> list[Line]:
    """Lines numbered above ``after``, in order, at most ``limit``."""
    query = (
        select(
            ExecutionLogLine.number,
            ExecutionLogLine.step_execution_id,
            ExecutionLogLine.stream,
            ExecutionLogLine.text,
            ExecutionLogLine.created_at,
        )
        .where(ExecutionLogLine.execution_id == execution_id, ExecutionLogLine.number > after)
        .order_by(ExecutionLogLine.number)
        .limit(limit)
    )
    if step_execution_id is not None:
        query = query.where(ExecutionLogLine.step_execution_id == step_execution_id)
    return [Line(*row) for row in dbsession.execute(query)]


# The detail embeds up to DETAIL_MAX_LINES lines: many small rows, which the fast path
# reads as one value where that is cheaper (SQLite).
_FIRST_LINES = ManyRows(
    select(ExecutionLogLine.number, ExecutionLogLine.step_execution_id, ExecutionLogLine.text)
    .where(ExecutionLogLine.execution_id == bindparam("execution_id"))
    .order_by(ExecutionLogLine.number)
    .limit(bindparam("max_lines", type_=Integer))
)


def first_lines(
    dbsession: Session, execution_id: int, max_lines: int = DETAIL_MAX_LINES
) -> tuple[list[tuple[int | None, str]], bool]:
    """The execution's first ``max_lines`` lines as ``(step execution id, text)``
    (``None``: the execution's own lines), and whether lines were left out."""
    params = {"execution_id": execution_id, "max_lines": max_lines + 1}
    rows = _FIRST_LINES.rows(dbsession, params)
    lines = [(step_id, text) for _, step_id, text in rows[:max_lines]]
    return lines, len(rows) > max_lines


def merged_text(lines: Sequence[Line] | Sequence[str]) -> str:
    """Lines joined into one text, as the ``logs`` field of AnsFlow's clients shows it."""
    return "\n".join(line if isinstance(line, str) else line.text for line in lines)
