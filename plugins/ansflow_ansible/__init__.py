"""The Ansible plugin: inventories, playbooks, credentials, hosts, host groups and
playbook runs under ``/api/v1/ansible/``, and the ``ansible`` pipeline step.

Shows how a whole resource family is built on the core and on other plugins:

* models on the shared ``Base`` with their own migration branch (``migrations/``);
* ``interfaces.py`` (the actor, domain exceptions rendered as JSON errors) and
  ``services.py`` (domain rules taking a db session and an actor) called by views and
  by the engine's runner alike;
* collections registered in the central traverser, owned by projects and inheriting
  their ACLs (``resources.py``), with custom actions (``views.py``);
* a step runner for the engine (``runner.py``): Ansible runs are executions, so they
  get the engine's dispatch, log store, Server-Sent Events, cancel and timeouts;
* Ansible itself driven as separate processes with a structured callback
  (``toolchain.py``, ``checks.py``, ``callback_plugins/``).

Settings (all optional):

``ansflow.ansible.private_root``
    where each run's private directory is made (default: the system's temporary
    directory); the directories are 0700 and removed after the run.
``ansflow.ansible.connect_timeout``
    seconds Ansible waits for an SSH connection (default 10).
``ansflow.ansible.check_timeout``
    seconds a validation or host check may take in all (default 60).
``ansflow.ansible.host_key_checking``
    check SSH host keys (default false, as hosts are added by address through the API).
"""

from __future__ import annotations

from ansflow_pipelines.resources import PipelineCollection
from pyramid.authorization import DENY_ALL, Allow
from pyramid.config import Configurator

from ansflow_ansible import views
from ansflow_ansible.resources import (
    AnsibleExecutionCollection,
    CredentialCollection,
    GroupMembershipCollection,
    HostCollection,
    HostGroupCollection,
    InventoryCollection,
    InventoryGroupCollection,
    InventoryHostCollection,
    PlaybookCollection,
)
from ansflow_ansible.runner import AnsibleStepRunner
from ansflow_ansible.schemas import (
    AnsibleExecutionOut,
    CheckOut,
    PlaybookOut,
    ValidationOut,
    VersionOut,
)
from ansflow_pyramid.identity import AUTHENTICATED

PREFIX = "/api/v1/ansible"


def _resources(config: Configurator) -> None:
    config.add_api_resource(
        "ansible.inventories",
        InventoryCollection,
        path=f"{PREFIX}/inventories",
        description="Ansible inventories (ini or yaml), with versions.",
    )
    config.add_api_resource(
        "ansible.playbooks",
        PlaybookCollection,
        path=f"{PREFIX}/playbooks",
        description="Ansible playbooks and templates, with versions.",
    )
    config.add_api_resource(
        "ansible.credentials",
        CredentialCollection,
        path=f"{PREFIX}/credentials",
        description="SSH keys, passwords and vault passwords (write-only, encrypted).",
    )
    config.add_api_resource(
        "ansible.executions",
        AnsibleExecutionCollection,
        path=f"{PREFIX}/executions",
        description="Playbook runs: steps of executions, with per-host results.",
    )
    config.add_api_resource(
        "ansible.hosts",
        HostCollection,
        path=f"{PREFIX}/hosts",
        description="Managed hosts, their connection settings and gathered facts.",
    )
    config.add_api_resource(
        "ansible.host_groups",
        HostGroupCollection,
        path=f"{PREFIX}/host-groups",
        description="Groups of hosts: a tree with variables.",
    )
    config.add_api_resource(
        "ansible.host_group_hosts",
        GroupMembershipCollection,
        path=f"{PREFIX}/host-groups/{{group_id}}/hosts",
        description="The hosts of a group, with the membership's variables.",
    )
    config.add_api_resource(
        "ansible.inventory_hosts",
        InventoryHostCollection,
        path=f"{PREFIX}/inventory-hosts",
        description="Hosts listed in inventories, with host variables.",
    )
    config.add_api_resource(
        "ansible.inventory_groups",
        InventoryGroupCollection,
        path=f"{PREFIX}/inventory-groups",
        description="Host groups listed in inventories, with group variables.",
    )
    overview = config.add_api_endpoint(
        "ansible.stats_overview",
        f"{PREFIX}/stats/overview",
        views.overview,
        permission="view",
        description="Counts of the Ansible objects and runs the caller can see.",
    )
    # Any signed-in user; the counts cover what they may see.
    overview.__acl__ = [(Allow, AUTHENTICATED, ("view",)), DENY_ALL]


def _inventory_actions(config: Configurator) -> None:
    action = config.add_api_action
    action(
        InventoryCollection,
        "validate_inventory",
        views.validate_inventory,
        response_schema=ValidationOut,
    )
    action(
        InventoryCollection,
        "create_version",
        views.create_inventory_version,
        response_schema=VersionOut,
        success_status=201,
    )
    action(InventoryCollection, "versions", views.inventory_versions, methods=["GET"])
    action(InventoryCollection, "restore_version", views.restore_inventory_version)
    action(InventoryCollection, "hosts", views.inventory_hosts, methods=["GET"])
    action(InventoryCollection, "groups", views.inventory_groups, methods=["GET"])
    action(InventoryCollection, "generate_inventory", views.generate_inventory, methods=["GET"])
    action(
        InventoryCollection,
        "generate_dynamic_inventory",
        views.generate_dynamic_inventory,
        methods=["GET", "POST"],
        permission="view",
    )
    for name in ("add_hosts", "remove_hosts", "add_groups", "remove_groups"):
        action(
            InventoryCollection,
            name,
            getattr(views, f"{name.split('_')[0]}_inventory_{name.split('_')[1]}"),
        )
    action(
        InventoryCollection,
        "upload_inventory",
        views.upload_inventory,
        on="collection",
        permission="add",
        success_status=201,
    )
    action(
        InventoryCollection,
        "validate",
        views.validate_inventory_content,
        on="collection",
        permission="view",
        response_schema=ValidationOut,
    )


def _playbook_actions(config: Configurator) -> None:
    action = config.add_api_action
    action(
        PlaybookCollection,
        "validate_playbook",
        views.validate_playbook,
        response_schema=ValidationOut,
    )
    action(
        PlaybookCollection,
        "syntax_check",
        views.syntax_check,
        permission="view",
        response_schema=ValidationOut,
    )
    action(
        PlaybookCollection,
        "create_from_template",
        views.create_from_template,
        permission="view",
        response_schema=PlaybookOut,
        success_status=201,
    )
    action(
        PlaybookCollection,
        "create_version",
        views.create_playbook_version,
        response_schema=VersionOut,
        success_status=201,
    )
    action(PlaybookCollection, "versions", views.playbook_versions, methods=["GET"])
    action(
        PlaybookCollection,
        "restore_version",
        views.restore_playbook_version,
        response_schema=PlaybookOut,
    )
    action(
        PlaybookCollection,
        "execute",
        views.execute_playbook,
        permission="view",
        response_schema=AnsibleExecutionOut,
        success_status=201,
    )
    action(
        PlaybookCollection,
        "upload_playbook",
        views.upload_playbook,
        on="collection",
        permission="add",
        response_schema=PlaybookOut,
        success_status=201,
    )
    action(
        PlaybookCollection,
        "validate",
        views.validate_content,
        on="collection",
        permission="view",
        response_schema=ValidationOut,
    )


def _other_actions(config: Configurator) -> None:
    action = config.add_api_action
    action(
        CredentialCollection,
        "test_connection",
        views.test_credential,
        permission="run",
        response_schema=CheckOut,
    )
    action(
        HostCollection,
        "check_connectivity",
        views.check_connectivity,
        permission="run",
        response_schema=CheckOut,
    )
    action(
        HostCollection,
        "gather_facts",
        views.gather_facts,
        permission="run",
        response_schema=CheckOut,
    )
    action(
        HostCollection,
        "test_connection",
        views.test_host_connection,
        on="collection",
        permission="view",
        response_schema=CheckOut,
    )
    action(HostCollection, "batch_check", views.batch_check, on="collection", permission="view")
    action(HostGroupCollection, "add_hosts", views.add_group_hosts)
    action(HostGroupCollection, "remove_hosts", views.remove_group_hosts)
    for collection in (InventoryHostCollection, InventoryGroupCollection):
        action(collection, "batch_add", views.batch_add, on="collection", permission="add")
        action(collection, "batch_remove", views.batch_remove, on="collection", permission="add")
    runs = AnsibleExecutionCollection
    action(
        runs,
        "execute",
        views.execute_again,
        permission="view",
        response_schema=AnsibleExecutionOut,
        success_status=201,
    )
    action(runs, "cancel", views.cancel_run, permission="run", response_schema=AnsibleExecutionOut)
    action(runs, "logs", views.run_logs, methods=["GET"])
    action(runs, "pipeline_info", views.pipeline_info, methods=["GET"])
    action(runs, "stats", views.run_stats, methods=["GET"], on="collection")
    action(runs, "recent", views.recent_runs, methods=["GET"], on="collection")
    action(runs, "pipeline_executions", views.pipeline_runs, methods=["GET"], on="collection")
    action(
        PipelineCollection,
        "add_ansible_step",
        views.add_ansible_step,
        permission="edit",
        success_status=201,
    )
    action(
        PipelineCollection,
        "execute_ansible_steps",
        views.execute_ansible_steps,
        permission="run",
        success_status=201,
    )


def includeme(config: Configurator) -> None:
    config.include("ansflow_cicd")
    config.add_migrations("ansflow_ansible:migrations")
    _resources(config)
    _inventory_actions(config)
    _playbook_actions(config)
    _other_actions(config)
    # The "ansible" step type is declared by the pipelines plugin; this plugin runs it.
    registry = config.registry
    config.add_step_runner(["ansible"], lambda: AnsibleStepRunner(registry))
