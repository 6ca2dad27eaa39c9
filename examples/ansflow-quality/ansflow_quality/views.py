"""The ``recheck/`` item action."""

from __future__ import annotations

from typing import Any

from pyramid.request import Request

from ansflow_pyramid.api import ModelItem, validated_body
from ansflow_quality.resources import add_report
from ansflow_quality.schemas import RecheckIn


def recheck(context: ModelItem, request: Request) -> dict[str, Any]:
    """Judge a report's coverage again against another threshold, as a new report.

    ``POST /api/v1/quality/reports/{id}/recheck/`` answers 201 with the new report and
    its canonical ``Location`` (``item_for`` gives the new row's item resource).
    """
    data = validated_body(request, RecheckIn)
    old = context.obj
    new = add_report(
        request.dbsession,
        old.project_id,
        pipeline_id=old.pipeline_id,
        branch=old.branch,
        coverage_basis_points=old.coverage_basis_points,
        threshold_basis_points=data.threshold_basis_points,
    )
    request.response.status = 201
    request.response.headers["Location"] = request.resource_url(context.collection.item_for(new))
    return context.collection.serialize(new)
