"""What ``PUT``/``PATCH /api/v1/cicd/executions/{id}/`` may change.

AnsFlow's client writes executions back with ``PUT``.  An execution is a record of what
ran, so almost nothing in it is the client's to change: only its ``parameters``, and
only while it is still ``pending`` (no engine has read them yet).  Its state changes
through the actions (``cancel/``, ``retry/``), never through a field write.

A body may carry the other fields of the document it read, unchanged (a client
writing back what it got): equal values are accepted and ignored.  Anything else - a
read-only field with another value, a field the document does not have, parameters
of an execution that has started - is a 400 naming each field, and nothing is
stored.
"""

from __future__ import annotations

from typing import Any

from ansflow_projects.fields import JSONObject
from pydantic import BaseModel, ConfigDict
from sqlalchemy import update
from sqlalchemy.orm import Session

from ansflow_cicd.models import Execution
from ansflow_pyramid.api import ValidationFailed
from ansflow_pyramid.db import utcnow

#: Fields a client may write, and the states in which it may.
WRITABLE_WHILE = {"parameters": ("pending",)}
STATE_MESSAGE = (
    "The status changes through the actions (POST cancel/ to stop the execution, "
    "retry/ to run it again), never by writing it."
)


class ExecutionUpdate(BaseModel):
    """The body of an execution write: ``parameters`` is validated as a JSON object;
    every other field is checked against the stored document (see the module)."""

    model_config = ConfigDict(extra="allow")

    parameters: JSONObject | None = None


def update_execution(
    dbsession: Session, execution: Execution, body: dict[str, Any], current: dict[str, Any]
) -> Execution:
    """Apply ``body`` to ``execution`` whose document is ``current``; raises
    :class:`ValidationFailed` (400) with every refused field."""
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name in WRITABLE_WHILE:
            if value is None:
                errors[name] = ["This field may not be null."]
            elif value != current.get(name):
                changes[name] = value
            continue
        if name not in current:
            errors[name] = ["Unknown field: executions have no such field."]
        elif value != current[name]:
            errors[name] = [STATE_MESSAGE if name == "status" else "This field is read-only."]
    for name in changes:
        allowed = WRITABLE_WHILE[name]
        if execution.status not in allowed:
            errors[name] = [
                f"{name} can change only while the execution is {' or '.join(allowed)}; "
                f"it is {execution.status}."
            ]
    if errors:
        raise ValidationFailed(errors, "This execution cannot be changed so.")
    if not changes:
        return execution
    # Conditional, so an engine claiming the execution meanwhile makes this a 400,
    # never a change to parameters that are already running.
    result = dbsession.execute(
        update(Execution)
        .where(Execution.id == execution.id, Execution.status.in_(WRITABLE_WHILE["parameters"]))
        .values(**changes, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        dbsession.refresh(execution)
        raise ValidationFailed(
            {name: [f"The execution is {execution.status} now."] for name in changes},
            "This execution cannot be changed so.",
        )
    dbsession.refresh(execution)
    return execution
