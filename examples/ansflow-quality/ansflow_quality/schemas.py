"""Request and response schemas; field types from ansflow_projects.fields keep
database-hostile input (NUL characters, oversized integers) out."""

from __future__ import annotations

import datetime as dt

from ansflow_projects.fields import BoundedInt, Id, Text
from pydantic import BaseModel, ConfigDict

BasisPoints = BoundedInt(0, 10_000)


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: Id
    pipeline_id: Id | None = None
    branch: Text(200, min_length=1) = "main"
    coverage_basis_points: BasisPoints
    threshold_basis_points: BasisPoints = 8000


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    pipeline_id: int | None
    branch: str
    coverage_basis_points: int
    threshold_basis_points: int
    passed: bool
    created_at: dt.datetime


class RecheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold_basis_points: BasisPoints
