"""The reports collection: project-scoped, filterable, reachable under a pipeline."""

from __future__ import annotations

from typing import Any

from ansflow_pipelines.models import Pipeline
from ansflow_projects.fields import does_not_exist
from ansflow_projects.resources import ProjectScopedCollection
from pydantic import BaseModel

from ansflow_pyramid.api import Filter, ValidationFailed
from ansflow_quality.models import CoverageReport
from ansflow_quality.schemas import ReportIn, ReportOut


class ReportCollection(ProjectScopedCollection):
    """``/api/v1/quality/reports/``; ``/api/v1/pipelines/{id}/quality-reports/`` too.

    Creating needs the ``add`` permission on the report's project: the base class
    checks it around ``create`` below, whatever ``create`` does.
    """

    model = CoverageReport
    project_column = CoverageReport.project_id
    read_schema = ReportOut
    create_schema = ReportIn
    item_methods = ("GET", "DELETE")
    filters = {
        "project": Filter(CoverageReport.project_id, python_type=int),
        # The alias captures {pipeline_id}: a filter of that name must exist (the
        # canonical URL of the alias is ``?pipeline_id=<id>``).
        "pipeline_id": Filter(CoverageReport.pipeline_id, python_type=int),
        "passed": Filter(CoverageReport.passed),
    }
    ordering_fields = {"id": CoverageReport.id, "created_at": CoverageReport.created_at}
    default_ordering = ("-created_at",)

    def create(self, data: BaseModel) -> Any:
        assert isinstance(data, ReportIn)
        values = data.model_dump(exclude={"project"})
        # Under the alias the pipeline comes from the path.
        path_pipeline = self.fixed_filters.get("pipeline_id")
        if path_pipeline is not None:
            if values["pipeline_id"] not in (None, path_pipeline):
                raise ValidationFailed({"pipeline_id": ["Does not match the path."]})
            values["pipeline_id"] = path_pipeline
        if values["pipeline_id"] is not None:
            check_pipeline(self.dbsession, data.project, values["pipeline_id"])
        return add_report(self.dbsession, data.project, **values)


def check_pipeline(dbsession: Any, project_id: int, pipeline_id: int) -> None:
    """The pipeline must exist in the report's project (a 400 naming the field, never
    a foreign-key error from the database).  The project was checked already, so a
    pipeline in it is one the caller may see."""
    pipeline = dbsession.get(Pipeline, pipeline_id)
    if pipeline is None or pipeline.project_id != project_id:
        raise ValidationFailed({"pipeline_id": does_not_exist(pipeline_id)})


def add_report(dbsession: Any, project_id: int, **values: Any) -> CoverageReport:
    """Store a report, deciding whether it passed its threshold."""
    values["passed"] = values["coverage_basis_points"] >= values["threshold_basis_points"]
    report = CoverageReport(project_id=project_id, **values)
    dbsession.add(report)
    dbsession.flush()
    return report
