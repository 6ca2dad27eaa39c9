"""Pipelines on remote CI tools: the glue between the cicd plugin and the CI tool
plugins (``ansflow_jenkins``, ``ansflow_gitlab_ci``, ``ansflow_github_actions``).

It stores remote runs' observation state (:class:`~ansflow_remote.store.SqlRemoteRunStore`,
the core's ``RemoteRunStore``), and serves what is common to every CI tool:
``pipelines/{id}/sync_to_tool/``, ``trigger_external_build/``,
``pipelines/pipeline-mappings/``, ``cicd/pipelines/preview/`` and the tools'
``capabilities/`` and ``execute_pipeline/``.  The CI tool plugins include it; it
knows none of them by name (they register remote backends with the core).
"""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include("ansflow_cicd")
    config.set_remote_run_store("ansflow_remote.store.SqlRemoteRunStore")
    config.add_migrations("ansflow_remote:migrations")
    config.include("ansflow_remote.views")
