"""ansflow-quality: coverage reports per project and a ``quality_gate`` step type.

An example of a third-party plugin written against the documented kit only
(docs/PLUGINS.md in ansflow-pyramid): its own distribution announced through the
``ansflow.plugins`` entry point, its own migration depending on the projects and
pipelines plugins' tables, a project-scoped resource with a filtered alias and an item
action, and a step type with its runner.
"""

from __future__ import annotations

from pyramid.config import Configurator

from ansflow_quality.resources import ReportCollection
from ansflow_quality.runner import QualityGateRunner
from ansflow_quality.schemas import RecheckIn, ReportOut
from ansflow_quality.views import recheck

__all__ = ["QualityGateRunner", "ReportCollection", "includeme"]


def includeme(config: Configurator) -> None:
    # The plugins this one builds on: projects (roles, project-scoped resources) and
    # pipelines (step types).  Including them is harmless when they are loaded anyway.
    config.include("ansflow_projects")
    config.include("ansflow_pipelines")
    config.add_migrations("ansflow_quality:migrations")
    config.add_api_resource(
        "quality.reports",
        ReportCollection,
        path="/api/v1/quality/reports",
        aliases=["/api/v1/pipelines/{pipeline_id}/quality-reports"],
        description="Coverage reports of projects' pipelines, checked against a threshold.",
    )
    config.add_api_action(
        ReportCollection,
        "recheck",
        recheck,
        methods=["POST"],
        permission="run",
        request_schema=RecheckIn,
        response_schema=ReportOut,
        success_status=201,
    )
    config.add_step_type(
        "quality_gate",
        label="Quality gate",
        description="Fails the pipeline when the coverage file reports too little coverage.",
    )
    config.add_step_runner(["quality_gate"], QualityGateRunner)
