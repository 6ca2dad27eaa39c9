"""Which requests a stream token may authenticate."""

from __future__ import annotations

import pytest
from ansflow_cicd.streams import stream_scope_of
from pyramid.request import Request


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/v1/cicd/executions/7/events/", "execution:7"),
        ("GET", "/api/v1/executions/7/events/", "execution:7"),
        ("GET", "/api/v1/pipelines/3/executions/7/events/", "execution:7"),
        ("GET", "/api/v1/cicd/events/", "events"),
        ("HEAD", "/api/v1/cicd/events", "events"),
        ("POST", "/api/v1/cicd/executions/7/events/", None),
        ("GET", "/api/v1/cicd/executions/7/", None),
        ("GET", "/api/v1/cicd/executions/7/logs/", None),
        ("GET", "/api/v1/cicd/executions/7/steps/3/events/", None),
        ("GET", "/api/v1/other/events/", None),
        ("GET", "/events/", None),
    ],
)
def test_only_stream_paths_have_a_scope(method, path, scope):
    assert stream_scope_of(Request.blank(path, method=method)) == scope
