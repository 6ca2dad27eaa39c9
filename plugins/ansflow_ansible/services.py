"""The Ansible plugin's domain logic.

Every function takes a database session and an :class:`~ansflow_ansible.interfaces.Actor`
(or nothing that belongs to a request) and raises the exceptions of
:mod:`ansflow_ansible.interfaces`.  Views check permissions through the resource
tree first; services enforce the rules that hold whoever calls them: objects used
together belong to the same project, versions are unique, secrets are stored only
encrypted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from ansflow_cicd.executions import sync_pipeline_status
from ansflow_cicd.models import Execution, StepExecution
from ansflow_cicd.secrets import SecretBox
from ansflow_pipelines.models import Pipeline, PipelineStep
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ansflow_ansible import checks
from ansflow_ansible.interfaces import Actor, VersionExists, WrongProject
from ansflow_ansible.models import (
    AnsibleExecution,
    Credential,
    Host,
    HostGroup,
    HostGroupMembership,
    Inventory,
    InventoryGroup,
    InventoryHost,
    InventoryVersion,
    Playbook,
    PlaybookVersion,
)
from ansflow_ansible.schemas import AnsibleParameters
from ansflow_ansible.toolchain import CredentialSecrets
from ansflow_pyramid.api import NotFound, ValidationFailed
from ansflow_pyramid.db import utcnow

#: The pipeline that standalone playbook runs of a project belong to (see README).
RUNS_PIPELINE_NAME = "Ansible playbook runs"
SECRET_COLUMNS = {
    "password": "password_encrypted",
    "ssh_private_key": "ssh_private_key_encrypted",
    "vault_password": "vault_password_encrypted",
    "sudo_password": "sudo_password_encrypted",
}


def checksum(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


# -- versions -------------------------------------------------------------------------
def _next_version(dbsession: Session, model: Any, column: Any, owner_id: int) -> str:
    count = dbsession.scalar(select(func.count()).select_from(model).where(column == owner_id))
    return str((count or 0) + 1)


def create_inventory_version(
    dbsession: Session, actor: Actor, inventory: Inventory, version: str | None, changelog: str
) -> InventoryVersion:
    """Snapshot the inventory's content as ``version`` (next number by default)."""
    label = version or _next_version(
        dbsession, InventoryVersion, InventoryVersion.inventory_id, inventory.id
    )
    taken = dbsession.scalar(
        select(InventoryVersion.id).where(
            InventoryVersion.inventory_id == inventory.id, InventoryVersion.version == label
        )
    )
    if taken is not None:
        raise VersionExists(label)
    snapshot = InventoryVersion(
        inventory_id=inventory.id,
        version=label,
        content=inventory.content,
        checksum=checksum(inventory.content),
        changelog=changelog,
        created_by_id=actor.user_id,
    )
    inventory.version = label
    dbsession.add(snapshot)
    dbsession.flush()
    return snapshot


def create_playbook_version(
    dbsession: Session,
    actor: Actor,
    playbook: Playbook,
    version: str | None,
    changelog: str,
    is_release: bool = False,
) -> PlaybookVersion:
    """Snapshot the playbook's content as ``version`` (next number by default)."""
    label = version or _next_version(
        dbsession, PlaybookVersion, PlaybookVersion.playbook_id, playbook.id
    )
    taken = dbsession.scalar(
        select(PlaybookVersion.id).where(
            PlaybookVersion.playbook_id == playbook.id, PlaybookVersion.version == label
        )
    )
    if taken is not None:
        raise VersionExists(label)
    snapshot = PlaybookVersion(
        playbook_id=playbook.id,
        version=label,
        content=playbook.content,
        checksum=checksum(playbook.content),
        changelog=changelog,
        is_release=is_release,
        created_by_id=actor.user_id,
    )
    playbook.version = label
    dbsession.add(snapshot)
    dbsession.flush()
    return snapshot


def _find_version(
    dbsession: Session,
    model: Any,
    owner_column: Any,
    owner_id: int,
    version_id: int | None,
    label: str | None,
) -> Any:
    query = select(model).where(owner_column == owner_id)
    if version_id is not None:
        query = query.where(model.id == version_id)
    elif label is not None:
        query = query.where(model.version == label)
    else:
        raise ValidationFailed({"version_id": ["Give version_id or version."]})
    found = dbsession.scalars(query).first()
    if found is None:
        raise ValidationFailed({"version_id": ["No such version of this object."]})
    return found


def restore_inventory_version(
    dbsession: Session,
    actor: Actor,
    inventory: Inventory,
    version_id: int | None,
    label: str | None,
) -> Inventory:
    """Put a version's content back exactly, byte for byte."""
    snapshot = _find_version(
        dbsession, InventoryVersion, InventoryVersion.inventory_id, inventory.id, version_id, label
    )
    inventory.content = snapshot.content
    inventory.checksum = snapshot.checksum
    inventory.version = snapshot.version
    inventory.is_validated = False
    inventory.validation_message = ""
    dbsession.flush()
    return inventory


def restore_playbook_version(
    dbsession: Session, actor: Actor, playbook: Playbook, version_id: int | None, label: str | None
) -> Playbook:
    snapshot = _find_version(
        dbsession, PlaybookVersion, PlaybookVersion.playbook_id, playbook.id, version_id, label
    )
    playbook.content = snapshot.content
    playbook.checksum = snapshot.checksum
    playbook.version = snapshot.version
    playbook.is_validated = False
    playbook.syntax_check_passed = False
    playbook.validation_message = ""
    dbsession.flush()
    return playbook


# -- validation -----------------------------------------------------------------------
def validate_inventory(
    dbsession: Session, inventory: Inventory, settings: Mapping[str, Any]
) -> checks.InventorySummary:
    """Parse the inventory with Ansible; record that it is valid (a refusal raises
    :class:`~ansflow_ansible.interfaces.InvalidAnsibleContent`, storing nothing)."""
    summary = checks.parse_inventory(inventory.content, inventory.format_type, settings)
    inventory.is_validated = True
    inventory.validation_message = (
        f"Ansible parsed {len(summary.hosts)} hosts in {len(summary.groups)} groups."
    )
    inventory.checksum = checksum(inventory.content)
    dbsession.flush()
    return summary


def validate_playbook(dbsession: Session, playbook: Playbook, settings: Mapping[str, Any]) -> str:
    """Syntax-check the playbook with ``ansible-playbook --syntax-check``."""
    message = checks.syntax_check(playbook.content, settings)
    playbook.is_validated = True
    playbook.syntax_check_passed = True
    playbook.validation_message = message or "Syntax check passed."
    playbook.checksum = checksum(playbook.content)
    dbsession.flush()
    return playbook.validation_message


# -- credentials ----------------------------------------------------------------------
def set_credential_secrets(
    box: SecretBox, credential: Credential, values: Mapping[str, Any]
) -> None:
    """Store write-only secrets encrypted: None keeps a value, "" removes it."""
    for name, column in SECRET_COLUMNS.items():
        value = values.get(name)
        if value is None:
            continue
        setattr(credential, column, box.encrypt(value) if value else None)


def credential_secrets(box: SecretBox, credential: Credential | None) -> CredentialSecrets:
    """A credential's decrypted values (empty for no credential)."""
    if credential is None:
        return CredentialSecrets()
    values = {
        name: box.decrypt(getattr(credential, column)) if getattr(credential, column) else ""
        for name, column in SECRET_COLUMNS.items()
    }
    return CredentialSecrets(username=credential.username, **values)


# -- hosts ----------------------------------------------------------------------------
def host_variables(host: Host) -> dict[str, Any]:
    """A host's connection settings as inventory variables (its own variables win)."""
    variables: dict[str, Any] = {"ansible_connection": host.connection_type or "ssh"}
    if host.ip_address:
        variables["ansible_host"] = host.ip_address
    if host.connection_type != "local":
        variables["ansible_port"] = host.port
    if host.username:
        variables["ansible_user"] = host.username
    if host.become_method:
        variables["ansible_become_method"] = host.become_method
    variables.update(host.variables or {})
    return variables


def check_host(
    dbsession: Session,
    host: Host,
    box: SecretBox,
    settings: Mapping[str, Any],
    gather_facts: bool = False,
    credential: Credential | None = None,
) -> dict[str, Any]:
    """Ping the host (or gather its facts) through Ansible and store the outcome.

    An unreachable host or a refused login is an answer (``status: unreachable``),
    not an error of the API."""
    credential = credential or (
        dbsession.get(Credential, host.credential_id) if host.credential_id else None
    )
    result = checks.run_module(
        host.hostname,
        host_variables(host),
        "setup" if gather_facts else "ping",
        credential_secrets(box, credential),
        settings,
        gather_facts=gather_facts,
    )
    outcome = describe_check(host.hostname, result)
    host.last_check = utcnow()
    host.status = "active" if outcome["success"] else "failed"
    host.check_message = outcome["message"][:4000]
    facts = result.report.facts.get(host.hostname)
    if gather_facts and facts:
        host.ansible_facts = facts
        host.os_family = str(facts.get("ansible_os_family") or "")[:100]
        host.os_distribution = str(facts.get("ansible_distribution") or "")[:100]
        host.os_version = str(facts.get("ansible_distribution_version") or "")[:100]
        outcome["facts_count"] = len(facts)
    dbsession.flush()
    return outcome


def describe_check(host: str, result: checks.AdHocResult) -> dict[str, Any]:
    report = result.report
    if result.timed_out:
        status, message = "timeout", "Ansible did not finish in time."
    elif host in report.unreachable:
        status, message = "unreachable", report.unreachable[host] or "The host is unreachable."
    elif report.failure:
        status, message = "failed", report.failure
    elif result.returncode == 0:
        status, message = "success", "ok"
    else:
        status, message = "failed", result.output or f"ansible exited with code {result.returncode}"
    return {
        "success": status == "success",
        "status": status,
        "message": message,
        "host": host,
        "host_stats": report.host_stats,
    }


def set_host_groups(dbsession: Session, host: Host, group_ids: Iterable[int]) -> None:
    for group_id in group_ids:
        if (
            dbsession.scalar(
                select(HostGroupMembership.id).where(
                    HostGroupMembership.host_id == host.id, HostGroupMembership.group_id == group_id
                )
            )
            is None
        ):
            dbsession.add(HostGroupMembership(host_id=host.id, group_id=group_id))
    dbsession.flush()


def remove_group_hosts(dbsession: Session, group: HostGroup, host_ids: Iterable[int]) -> int:
    result = dbsession.execute(
        delete(HostGroupMembership)
        .where(
            HostGroupMembership.group_id == group.id,
            HostGroupMembership.host_id.in_(list(host_ids)),
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def check_group_parent(dbsession: Session, group: HostGroup | None, parent_id: int | None) -> None:
    """A group's parent may not be the group itself or one of its descendants."""
    seen: set[int] = set()
    current = parent_id
    while current is not None:
        if group is not None and current == group.id:
            raise ValidationFailed({"parent": ["A group cannot be its own ancestor."]})
        if current in seen:
            break
        seen.add(current)
        current = dbsession.scalar(select(HostGroup.parent_id).where(HostGroup.id == current))


# -- inventory generation -----------------------------------------------------------------
def inventory_document(dbsession: Session, inventory: Inventory) -> dict[str, Any]:
    """The inventory built from its hosts and groups, in ``ansible-inventory --list``'s
    JSON shape (hosts' variables under ``_meta.hostvars``)."""
    hosts = dbsession.execute(
        select(Host, InventoryHost.host_variables)
        .join(InventoryHost, InventoryHost.host_id == Host.id)
        .where(InventoryHost.inventory_id == inventory.id, InventoryHost.is_active.is_(True))
        .order_by(Host.hostname)
    ).all()
    groups = dbsession.execute(
        select(HostGroup, InventoryGroup.group_variables)
        .join(InventoryGroup, InventoryGroup.group_id == HostGroup.id)
        .where(InventoryGroup.inventory_id == inventory.id, InventoryGroup.is_active.is_(True))
        .order_by(HostGroup.name)
    ).all()
    hostvars = {host.hostname: {**host_variables(host), **(extra or {})} for host, extra in hosts}
    document: dict[str, Any] = {"_meta": {"hostvars": hostvars}}
    all_children: list[str] = []
    listed = {host.hostname for host, _ in hosts}
    for group, extra in groups:
        members = dbsession.execute(
            select(Host, HostGroupMembership.variables)
            .join(HostGroupMembership, HostGroupMembership.host_id == Host.id)
            .where(HostGroupMembership.group_id == group.id)
            .order_by(Host.hostname)
        ).all()
        for host, variables in members:
            hostvars.setdefault(host.hostname, host_variables(host)).update(variables or {})
            listed.add(host.hostname)
        document[group.name] = {
            "hosts": [host.hostname for host, _ in members],
            "vars": {**(group.variables or {}), **(extra or {})},
        }
        all_children.append(group.name)
    ungrouped = sorted(listed - {h for g in all_children for h in document[g]["hosts"]})
    document["all"] = {"children": [*all_children, "ungrouped"]}
    document["ungrouped"] = {"hosts": ungrouped}
    return document


def render_inventory(document: Mapping[str, Any], format_type: str) -> str:
    """An inventory document as INI or YAML text."""
    hostvars: dict[str, Any] = document["_meta"]["hostvars"]
    groups = [name for name in document if name not in ("_meta", "all", "ungrouped")]
    if format_type == "yaml":
        children: dict[str, Any] = {}
        for name in groups:
            entry: dict[str, Any] = {
                "hosts": {h: hostvars.get(h, {}) for h in document[name]["hosts"]}
            }
            if document[name]["vars"]:
                entry["vars"] = document[name]["vars"]
            children[name] = entry
        ungrouped = {h: hostvars.get(h, {}) for h in document["ungrouped"]["hosts"]}
        tree: dict[str, Any] = {"all": {}}
        if ungrouped:
            tree["all"]["hosts"] = ungrouped
        if children:
            tree["all"]["children"] = children
        return yaml.safe_dump(tree, sort_keys=False, default_flow_style=False)

    def host_line(name: str) -> str:
        pairs = " ".join(f"{k}={_ini_value(v)}" for k, v in sorted(hostvars.get(name, {}).items()))
        return f"{name} {pairs}".rstrip()

    lines = [host_line(h) for h in document["ungrouped"]["hosts"]]
    for name in groups:
        lines += ["", f"[{name}]", *(host_line(h) for h in document[name]["hosts"])]
        if document[name]["vars"]:
            lines += ["", f"[{name}:vars]"]
            lines += [f"{k}={_ini_value(v)}" for k, v in sorted(document[name]["vars"].items())]
    return "\n".join(lines).strip() + "\n"


def _ini_value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() for c in value):
        return value
    import json

    return json.dumps(value)


def add_inventory_members(
    dbsession: Session, inventory: Inventory, host_ids: Iterable[int], group_ids: Iterable[int]
) -> dict[str, int]:
    added = {"hosts": 0, "groups": 0}
    for host_id in host_ids:
        host = dbsession.get(Host, host_id)
        if host is None:
            raise ValidationFailed({"host_ids": [f"Host {host_id} does not exist."]})
        require_same_project(inventory.project_id, host.project_id, "host_ids", "host")
        if (
            dbsession.scalar(
                select(InventoryHost.id).where(
                    InventoryHost.inventory_id == inventory.id, InventoryHost.host_id == host_id
                )
            )
            is None
        ):
            dbsession.add(InventoryHost(inventory_id=inventory.id, host_id=host_id))
            added["hosts"] += 1
    for group_id in group_ids:
        group = dbsession.get(HostGroup, group_id)
        if group is None:
            raise ValidationFailed({"group_ids": [f"Group {group_id} does not exist."]})
        require_same_project(inventory.project_id, group.project_id, "group_ids", "group")
        if (
            dbsession.scalar(
                select(InventoryGroup.id).where(
                    InventoryGroup.inventory_id == inventory.id, InventoryGroup.group_id == group_id
                )
            )
            is None
        ):
            dbsession.add(InventoryGroup(inventory_id=inventory.id, group_id=group_id))
            added["groups"] += 1
    dbsession.flush()
    return added


def remove_inventory_members(
    dbsession: Session, inventory: Inventory, host_ids: Iterable[int], group_ids: Iterable[int]
) -> dict[str, int]:
    hosts = dbsession.execute(
        delete(InventoryHost)
        .where(
            InventoryHost.inventory_id == inventory.id, InventoryHost.host_id.in_(list(host_ids))
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    groups = dbsession.execute(
        delete(InventoryGroup)
        .where(
            InventoryGroup.inventory_id == inventory.id,
            InventoryGroup.group_id.in_(list(group_ids)),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return {"hosts": hosts or 0, "groups": groups or 0}


# -- runs -----------------------------------------------------------------------------------
def require_same_project(owner: int | None, used: int | None, field: str, what: str) -> None:
    """Objects of one project may use global objects and their project's own only."""
    if used is not None and used != owner:
        raise WrongProject(field, what)


def resolve_run_objects(
    dbsession: Session, project_id: int, parameters: AnsibleParameters
) -> tuple[Playbook, Inventory, Credential | None]:
    """The playbook, inventory and credential of a run in ``project_id``; each must
    exist and belong to that project (or, for playbooks and inventories, be global)."""
    playbook = dbsession.get(Playbook, parameters.playbook_id)
    inventory = dbsession.get(Inventory, parameters.inventory_id)
    credential = (
        dbsession.get(Credential, parameters.credential_id) if parameters.credential_id else None
    )
    errors: dict[str, list[str]] = {}
    if playbook is None or playbook.project_id not in (None, project_id):
        errors["playbook_id"] = [
            f"Playbook {parameters.playbook_id} does not exist in this project."
        ]
    if inventory is None or inventory.project_id not in (None, project_id):
        errors["inventory_id"] = [
            f"Inventory {parameters.inventory_id} does not exist in this project."
        ]
    if parameters.credential_id and (credential is None or credential.project_id != project_id):
        # Credentials are never shared across projects: using one means holding its secrets.
        errors["credential_id"] = [
            f"Credential {parameters.credential_id} does not exist in this project."
        ]
    if errors:
        raise ValidationFailed(errors)
    assert playbook is not None and inventory is not None
    return playbook, inventory, credential


def runs_pipeline(dbsession: Session, actor: Actor, project_id: int) -> Pipeline:
    """The project's pipeline that standalone playbook runs are executions of."""
    pipeline = dbsession.scalars(
        select(Pipeline)
        .where(Pipeline.project_id == project_id, Pipeline.name == RUNS_PIPELINE_NAME)
        .order_by(Pipeline.id)
    ).first()
    if pipeline is None:
        pipeline = Pipeline(
            project_id=project_id,
            name=RUNS_PIPELINE_NAME,
            description="Runs of playbooks started from the Ansible API (playbooks/{id}/execute/).",
            created_by_id=actor.user_id,
            config={"managed_by": "ansflow_ansible"},
        )
        dbsession.add(pipeline)
        dbsession.flush()
    return pipeline


def start_playbook_run(
    dbsession: Session,
    actor: Actor,
    project_id: int,
    parameters: AnsibleParameters,
    timeout_seconds: int = 3600,
) -> AnsibleExecution:
    """A pending one-step execution that runs the playbook; the caller dispatches
    ``result.execution_id`` once the transaction commits."""
    playbook, inventory, credential = resolve_run_objects(dbsession, project_id, parameters)
    pipeline = runs_pipeline(dbsession, actor, project_id)
    stored_parameters = parameters.model_dump(mode="json")
    step = {
        "id": None,
        "name": f"ansible-playbook {playbook.name}"[:200],
        "description": "",
        "step_type": "ansible",
        "command": "",
        "environment_vars": {},
        "timeout_seconds": timeout_seconds,
        "order": 1,
        "parallel_group": "",
        "dependencies": [],
        "conditions": {},
        "retry_policy": {},
        "ansible_parameters": stored_parameters,
    }
    definition = {
        "version": 1,
        "snapshot_at": utcnow().isoformat(),
        "pipeline": {"id": pipeline.id, "name": pipeline.name, "project": project_id},
        "tool": None,
        "steps": [step],
    }
    execution = Execution(
        project_id=project_id,
        pipeline_id=pipeline.id,
        status="pending",
        trigger_type="manual",
        triggered_by_id=actor.user_id,
        definition=definition,
        parameters={},
        trigger_data={"ansible_playbook": playbook.id},
    )
    execution.step_executions = [StepExecution(order=1, status="pending")]
    dbsession.add(execution)
    dbsession.flush()
    sync_pipeline_status(dbsession, execution)
    run = AnsibleExecution(
        project_id=project_id,
        execution_id=execution.id,
        step_execution_id=execution.step_executions[0].id,
        playbook_id=playbook.id,
        inventory_id=inventory.id,
        credential_id=credential.id if credential is not None else None,
        parameters=stored_parameters,
        created_by_id=actor.user_id,
    )
    dbsession.add(run)
    dbsession.flush()
    return run


def record_step_run(
    dbsession: Session,
    step_execution_id: int,
    parameters: AnsibleParameters,
) -> tuple[AnsibleExecution, Playbook, Inventory, Credential | None]:
    """The run record of an ``ansible`` step (created for pipeline steps), and the
    objects it uses, checked against the execution's project."""
    step = dbsession.get(StepExecution, step_execution_id)
    if step is None:
        raise NotFound("The step execution is gone.")
    execution = dbsession.get(Execution, step.execution_id)
    assert execution is not None
    playbook, inventory, credential = resolve_run_objects(
        dbsession, execution.project_id, parameters
    )
    run = dbsession.scalars(
        select(AnsibleExecution).where(AnsibleExecution.step_execution_id == step_execution_id)
    ).first()
    if run is None:
        run = AnsibleExecution(
            project_id=execution.project_id,
            execution_id=execution.id,
            step_execution_id=step_execution_id,
            playbook_id=playbook.id,
            inventory_id=inventory.id,
            credential_id=credential.id if credential is not None else None,
            pipeline_id=execution.pipeline_id,
            pipeline_step_id=step.pipeline_step_id,
            parameters=parameters.model_dump(mode="json"),
            created_by_id=execution.triggered_by_id,
        )
        dbsession.add(run)
    playbook.execution_count += 1
    playbook.last_executed = utcnow()
    dbsession.flush()
    return run, playbook, inventory, credential


def record_results(
    dbsession: Session,
    step_execution_id: int,
    host_stats: dict[str, Any],
    task_results: list[Any],
    failed_task: str,
    return_code: int | None,
    succeeded: bool,
) -> None:
    run = dbsession.scalars(
        select(AnsibleExecution).where(AnsibleExecution.step_execution_id == step_execution_id)
    ).first()
    if run is None:
        return
    run.host_stats = host_stats
    run.task_results = task_results
    run.failed_task = failed_task
    run.return_code = return_code
    if succeeded and run.playbook_id is not None:
        playbook = dbsession.get(Playbook, run.playbook_id)
        if playbook is not None:
            playbook.success_count += 1
    dbsession.flush()


def add_ansible_step(
    dbsession: Session,
    actor: Actor,
    pipeline: Pipeline,
    name: str,
    parameters: AnsibleParameters,
    order: int | None,
    timeout_seconds: int,
) -> PipelineStep:
    """Append (or insert at ``order``) an ``ansible`` step to ``pipeline``."""
    resolve_run_objects(dbsession, pipeline.project_id, parameters)
    orders = [step.order for step in pipeline.steps]
    if order is None:
        order = max(orders, default=0) + 1
    elif order in orders:
        raise ValidationFailed({"order": [f"The pipeline has a step with order {order} already."]})
    step = PipelineStep(
        pipeline_id=pipeline.id,
        name=name,
        step_type="ansible",
        order=order,
        timeout_seconds=timeout_seconds,
        ansible_parameters=parameters.model_dump(mode="json"),
    )
    pipeline.steps.append(step)
    dbsession.flush()
    return step
