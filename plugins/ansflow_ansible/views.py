"""Custom actions of the Ansible plugin (the paths of AnsFlow's client).

Views are thin: they validate the body, call a service with the request's session
and actor, and serialise.  Permissions: reading actions need ``view``; actions that
change stored objects need ``edit``; actions that run Ansible against machines need
``run`` (a reporter may read a project's Ansible objects but not run them).
"""

from __future__ import annotations

from typing import Any

from ansflow_cicd.executions import cancel_execution
from ansflow_cicd.logs import read_lines
from ansflow_cicd.models import Execution
from ansflow_cicd.secrets import get_secret_box
from ansflow_pipelines.resources import PipelineItem
from ansflow_projects.acl import (
    ProjectACLContext,
    actor_of,
    permission_denied,
    require_project,
    visible_project_ids,
)
from pydantic import ValidationError
from pyramid.request import Request
from sqlalchemy import func, or_, select

from ansflow_ansible import checks, services
from ansflow_ansible.models import (
    AnsibleExecution,
    Credential,
    Host,
    HostGroup,
    HostGroupMembership,
    InventoryGroup,
    InventoryHost,
    InventoryVersion,
    PlaybookVersion,
)
from ansflow_ansible.resources import (
    AnsibleCollection,
    AnsibleExecutionCollection,
    AnsibleExecutionItem,
    CredentialItem,
    HostCollection,
    HostGroupItem,
    HostItem,
    InventoryCollection,
    InventoryItem,
    InventoryMemberCollection,
    PlaybookCollection,
    PlaybookItem,
    check_reference,
)
from ansflow_ansible.schemas import (
    AddAnsibleStep,
    AnsibleParameters,
    BatchCheck,
    ConnectionTest,
    ContentCheck,
    ExecuteRequest,
    FromTemplate,
    GroupHostIds,
    HostOut,
    IdList,
    InventoryBatch,
    InventoryCreate,
    PlaybookCreate,
    PlaybookValidate,
    VersionCreate,
    VersionOut,
    VersionRestore,
)
from ansflow_pyramid.api import ValidationFailed, json_body, validate, validated_body
from ansflow_pyramid.execution import submit_after_commit

MAX_LOG_PAGE = 5000


def visible_rows(request: Request, model: Any, *where: Any) -> Any:
    """Rows of ``model`` (with a ``project_id``) the caller may see, global ones included."""
    query = select(model).where(*where)
    visible = visible_project_ids(request)
    if visible is None:
        return query
    return query.where(or_(model.project_id.is_(None), model.project_id.in_(visible)))


def _created(
    request: Request, payload: dict[str, Any], location: str | None = None
) -> dict[str, Any]:
    request.response.status = 201
    if location:
        request.response.headers["Location"] = location
    return payload


def _settings(request: Request) -> dict[str, Any]:
    return request.registry.settings


def _collection(context: Any, name: str) -> Any:
    return context.root["api"]["v1"]["ansible"][name]


def _versions(rows: list[Any]) -> list[dict[str, Any]]:
    return [VersionOut.model_validate(row).model_dump(mode="json") for row in rows]


def _uploaded(request: Request) -> dict[str, Any]:
    """An upload: multipart (``file`` + form fields) or a JSON body with ``content``."""
    if (request.content_type or "").startswith("multipart/form-data"):
        fields: dict[str, Any] = {k: v for k, v in request.POST.items() if isinstance(v, str)}
        upload = request.POST.get("file")
        if upload is None or isinstance(upload, str):
            raise ValidationFailed({"file": ["Send the file in a 'file' field."]})
        try:
            fields["content"] = upload.file.read(1_000_001).decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed({"file": ["The file is not UTF-8 text."]}) from None
        fields.setdefault("name", upload.filename or "uploaded")
        if "project" in fields:
            try:
                fields["project"] = int(fields["project"])
            except ValueError:
                raise ValidationFailed({"project": ["A whole number is required."]}) from None
        return fields
    return json_body(request)


# -- inventories ----------------------------------------------------------------------
def validate_inventory(context: InventoryItem, request: Request) -> dict[str, Any]:
    """Parse the stored inventory with ``ansible-inventory`` (400 with Ansible's message)."""
    summary = services.validate_inventory(request.dbsession, context.obj, _settings(request))
    return {
        "valid": True,
        "message": context.obj.validation_message,
        "hosts": summary.hosts,
        "groups": summary.groups,
    }


def create_inventory_version(context: InventoryItem, request: Request) -> dict[str, Any]:
    data = validated_body(request, VersionCreate)
    version = services.create_inventory_version(
        request.dbsession, actor_of(request), context.obj, data.version, data.changelog
    )
    return _created(request, _versions([version])[0])


def inventory_versions(context: InventoryItem, request: Request) -> list[dict[str, Any]]:
    rows = request.dbsession.scalars(
        select(InventoryVersion)
        .where(InventoryVersion.inventory_id == context.obj.id)
        .order_by(InventoryVersion.id.desc())
    ).all()
    return _versions(list(rows))


def restore_inventory_version(context: InventoryItem, request: Request) -> dict[str, Any]:
    data = validated_body(request, VersionRestore)
    services.restore_inventory_version(
        request.dbsession, actor_of(request), context.obj, data.version_id, data.version
    )
    return context.serialize()


def inventory_hosts(context: InventoryItem, request: Request) -> list[dict[str, Any]]:
    rows = request.dbsession.execute(
        select(Host, InventoryHost)
        .join(InventoryHost, InventoryHost.host_id == Host.id)
        .where(InventoryHost.inventory_id == context.obj.id)
        .order_by(Host.hostname)
    ).all()
    return [
        {
            **HostOut.model_validate(host).model_dump(mode="json"),
            "host_variables": member.host_variables,
            "is_active": member.is_active,
        }
        for host, member in rows
    ]


def inventory_groups(context: InventoryItem, request: Request) -> list[dict[str, Any]]:
    rows = request.dbsession.execute(
        select(HostGroup, InventoryGroup)
        .join(InventoryGroup, InventoryGroup.group_id == HostGroup.id)
        .where(InventoryGroup.inventory_id == context.obj.id)
        .order_by(HostGroup.name)
    ).all()
    return [
        {
            "id": group.id,
            "name": group.name,
            "description": group.description,
            "parent": group.parent_id,
            "variables": group.variables,
            "group_variables": member.group_variables,
            "is_active": member.is_active,
        }
        for group, member in rows
    ]


def generate_inventory(context: InventoryItem, request: Request) -> dict[str, Any]:
    """The inventory text built from its hosts and groups (``?format=ini|yaml``)."""
    format_type = request.GET.get("format") or context.obj.format_type
    if format_type not in ("ini", "yaml"):
        raise ValidationFailed({"format": ["Use ini or yaml."]})
    document = services.inventory_document(request.dbsession, context.obj)
    return {
        "format_type": format_type,
        "content": services.render_inventory(document, format_type),
    }


def generate_dynamic_inventory(context: InventoryItem, request: Request) -> dict[str, Any]:
    """The inventory as Ansible's dynamic-inventory JSON (``--list`` shape)."""
    return services.inventory_document(request.dbsession, context.obj)


def _members(request: Request, context: InventoryItem, add: bool, kind: str) -> dict[str, Any]:
    data = validated_body(request, IdList)
    host_ids = data.host_ids if kind == "hosts" else []
    group_ids = data.group_ids if kind == "groups" else []
    if add:
        changed = services.add_inventory_members(
            request.dbsession, context.obj, host_ids, group_ids
        )
    else:
        changed = services.remove_inventory_members(
            request.dbsession, context.obj, host_ids, group_ids
        )
    return {"inventory": context.obj.id, "added" if add else "removed": changed[kind]}


def add_inventory_hosts(context: InventoryItem, request: Request) -> dict[str, Any]:
    return _members(request, context, True, "hosts")


def remove_inventory_hosts(context: InventoryItem, request: Request) -> dict[str, Any]:
    return _members(request, context, False, "hosts")


def add_inventory_groups(context: InventoryItem, request: Request) -> dict[str, Any]:
    return _members(request, context, True, "groups")


def remove_inventory_groups(context: InventoryItem, request: Request) -> dict[str, Any]:
    return _members(request, context, False, "groups")


def _create_from(
    collection: AnsibleCollection, request: Request, schema: Any, values: dict[str, Any]
) -> dict[str, Any]:
    data = validate(schema, values)
    obj = collection.create(data)
    return _created(
        request, collection.serialize(obj), request.resource_url(collection.item_for(obj))
    )


def upload_inventory(context: InventoryCollection, request: Request) -> dict[str, Any]:
    """Create an inventory from an uploaded file (multipart ``file``) or JSON."""
    values = _uploaded(request)
    if "format_type" not in values and str(values.get("name", "")).endswith((".yml", ".yaml")):
        values["format_type"] = "yaml"
    values.setdefault("source_type", "file")
    return _create_from(context, request, InventoryCreate, values)


# -- playbooks ------------------------------------------------------------------------
def validate_playbook(context: PlaybookItem, request: Request) -> dict[str, Any]:
    """``ansible-playbook --syntax-check`` on the stored playbook; recorded on success."""
    message = services.validate_playbook(request.dbsession, context.obj, _settings(request))
    return {"valid": True, "message": message}


def syntax_check(context: PlaybookItem, request: Request) -> dict[str, Any]:
    """The syntax check alone, changing nothing (400 with Ansible's message)."""
    message = checks.syntax_check(context.obj.content, _settings(request))
    return {"valid": True, "message": message or "Syntax check passed."}


def validate_content(context: PlaybookCollection, request: Request) -> dict[str, Any]:
    """Syntax-check a playbook given in the body (nothing is stored)."""
    data = validated_body(request, PlaybookValidate)
    message = checks.syntax_check(data.content, _settings(request))
    return {"valid": True, "message": message or "Syntax check passed."}


def validate_inventory_content(context: InventoryCollection, request: Request) -> dict[str, Any]:
    data = validated_body(request, ContentCheck)
    summary = checks.parse_inventory(data.content, data.format_type, _settings(request))
    return {"valid": True, "message": "ok", "hosts": summary.hosts, "groups": summary.groups}


def create_from_template(context: PlaybookItem, request: Request) -> dict[str, Any]:
    """A new playbook copied from this template (into the project given)."""
    template = context.obj
    data = validated_body(request, FromTemplate)
    if not template.is_template:
        raise ValidationFailed({"template": ["This playbook is not a template."]})
    values = PlaybookCreate.model_validate(template, from_attributes=True).model_dump()
    values.update(
        name=data.name,
        project=data.project,
        is_template=False,
        source_type="template",
        description=data.description if data.description is not None else template.description,
    )
    return _create_from(context.collection, request, PlaybookCreate, values)


def create_playbook_version(context: PlaybookItem, request: Request) -> dict[str, Any]:
    data = validated_body(request, VersionCreate)
    version = services.create_playbook_version(
        request.dbsession,
        actor_of(request),
        context.obj,
        data.version,
        data.changelog,
        data.is_release,
    )
    return _created(request, _versions([version])[0])


def playbook_versions(context: PlaybookItem, request: Request) -> list[dict[str, Any]]:
    rows = request.dbsession.scalars(
        select(PlaybookVersion)
        .where(PlaybookVersion.playbook_id == context.obj.id)
        .order_by(PlaybookVersion.id.desc())
    ).all()
    return _versions(list(rows))


def restore_playbook_version(context: PlaybookItem, request: Request) -> dict[str, Any]:
    data = validated_body(request, VersionRestore)
    services.restore_playbook_version(
        request.dbsession, actor_of(request), context.obj, data.version_id, data.version
    )
    return context.serialize()


def upload_playbook(context: PlaybookCollection, request: Request) -> dict[str, Any]:
    values = _uploaded(request)
    values.setdefault("source_type", "file")
    return _create_from(context, request, PlaybookCreate, values)


def _run_project(request: Request, context: Any, project_id: int | None) -> int:
    """The project a run belongs to: the playbook's, or for a global playbook the
    ``project`` of the body; the caller needs ``run`` there."""
    if project_id is None:
        raise ValidationFailed({"project": ["A global playbook runs in a project: give project."]})
    require_project(request, project_id, "run")
    return project_id


def _start(
    request: Request, project_id: int, parameters: AnsibleParameters, timeout: int
) -> dict[str, Any]:
    run = services.start_playbook_run(
        request.dbsession, actor_of(request), project_id, parameters, timeout
    )
    submit_after_commit(request, run.execution_id)
    request.dbsession.refresh(run)
    collection = _collection(request.context, "executions")
    return _created(
        request, collection.serialize(run), request.resource_url(collection.item_for(run))
    )


def _parameters(raw: dict[str, Any]) -> AnsibleParameters:
    try:
        return AnsibleParameters.model_validate(raw)
    except ValidationError as error:
        raise ValidationFailed(
            {".".join(map(str, e["loc"])) or "parameters": [e["msg"]] for e in error.errors()}
        ) from None


def execute_playbook(context: PlaybookItem, request: Request) -> dict[str, Any]:
    """Run the playbook now: ``{inventory_id, credential_id, parameters}`` (201 with the run)."""
    data = validated_body(request, ExecuteRequest)
    project = json_body(request).get("project")
    project_id = _run_project(
        request, context, context.obj.project_id or (project if isinstance(project, int) else None)
    )
    parameters = _parameters(
        {
            **data.parameters,
            "playbook_id": context.obj.id,
            "inventory_id": data.inventory_id,
            "credential_id": data.credential_id,
        }
    )
    return _start(request, project_id, parameters, data.timeout_seconds)


# -- credentials and hosts --------------------------------------------------------------
def _require_run(request: Request, project_id: int | None) -> None:
    if project_id is None:
        if not request.has_permission("run", request.context):
            raise permission_denied()
        return
    if not request.has_permission("run", ProjectACLContext(request, project_id)):
        raise permission_denied()


def test_credential(context: CredentialItem, request: Request) -> dict[str, Any]:
    """Log in to a host with this credential (``host_id``, or ``hostname``/``port``)."""
    data = validated_body(request, ConnectionTest)
    host = _connection_host(request, data, context.obj.project_id)
    return services.check_host(
        request.dbsession,
        host,
        get_secret_box(request.registry),
        _settings(request),
        credential=context.obj,
    )


def _connection_host(request: Request, data: ConnectionTest, project_id: int | None) -> Host:
    if data.host_id is not None:
        host = request.dbsession.scalars(
            visible_rows(request, Host, Host.id == data.host_id)
        ).first()
        if host is None or host.project_id not in (None, project_id):
            raise ValidationFailed(
                {"host_id": [f'Invalid pk "{data.host_id}" - object does not exist.']}
            )
        return host
    if not data.hostname:
        raise ValidationFailed({"hostname": ["Give host_id or hostname."]})
    # A host described in the body is checked without being stored: a transient row.
    return Host(
        hostname=data.hostname,
        ip_address=data.ip_address,
        port=data.port,
        username=data.username,
        connection_type=data.connection_type,
        become_method="sudo",
        variables=data.variables,
        project_id=project_id,
    )


def check_connectivity(context: HostItem, request: Request) -> dict[str, Any]:
    """Ansible's ``ping`` through the host's connection; the outcome is stored."""
    return services.check_host(
        request.dbsession, context.obj, get_secret_box(request.registry), _settings(request)
    )


def gather_facts(context: HostItem, request: Request) -> dict[str, Any]:
    """Ansible's ``setup``: facts are stored on the host (``ansible_facts``, os_*)."""
    outcome = services.check_host(
        request.dbsession,
        context.obj,
        get_secret_box(request.registry),
        _settings(request),
        gather_facts=True,
    )
    return {**outcome, "host_id": context.obj.id}


def test_host_connection(context: HostCollection, request: Request) -> dict[str, Any]:
    """Check a host described in the body (or ``host_id``), storing nothing for a new one."""
    data = validated_body(request, ConnectionTest)
    credential = None
    project_id = None
    if data.credential_id is not None:
        credential = request.dbsession.scalars(
            visible_rows(request, Credential, Credential.id == data.credential_id)
        ).first()
        if credential is None:
            raise ValidationFailed(
                {"credential_id": [f'Invalid pk "{data.credential_id}" - object does not exist.']}
            )
        project_id = credential.project_id
    host = _connection_host(request, data, project_id)
    _require_run(request, host.project_id if host.project_id is not None else project_id)
    return services.check_host(
        request.dbsession,
        host,
        get_secret_box(request.registry),
        _settings(request),
        credential=credential,
    )


def batch_check(context: HostCollection, request: Request) -> dict[str, Any]:
    """Check several hosts (one after another, each bounded in time)."""
    data = validated_body(request, BatchCheck)
    hosts = request.dbsession.scalars(context.query().where(Host.id.in_(data.host_ids))).all()
    found = {host.id: host for host in hosts}
    missing = [i for i in data.host_ids if i not in found]
    if missing:
        raise ValidationFailed({"host_ids": [f"Unknown hosts: {missing}"]})
    box = get_secret_box(request.registry)
    results = []
    for host_id in data.host_ids:
        host = found[host_id]
        _require_run(request, host.project_id)
        outcome = services.check_host(
            request.dbsession, host, box, _settings(request), gather_facts=data.gather_facts
        )
        results.append({**outcome, "host_id": host_id})
    return {
        "results": results,
        "success_count": sum(1 for r in results if r["success"]),
        "failed_count": sum(1 for r in results if not r["success"]),
    }


# -- host groups ------------------------------------------------------------------------
def add_group_hosts(context: HostGroupItem, request: Request) -> dict[str, Any]:
    data = validated_body(request, GroupHostIds)
    for host_id in data.host_ids:
        check_reference(request.dbsession, Host, host_id, context.obj.project_id, "host_ids")
    added = 0
    for host_id in data.host_ids:
        exists = request.dbsession.scalar(
            select(HostGroupMembership.id).where(
                HostGroupMembership.group_id == context.obj.id,
                HostGroupMembership.host_id == host_id,
            )
        )
        if exists is None:
            request.dbsession.add(
                HostGroupMembership(
                    group_id=context.obj.id, host_id=host_id, variables=data.variables
                )
            )
            added += 1
    request.dbsession.flush()
    return {"group": context.obj.id, "added": added}


def remove_group_hosts(context: HostGroupItem, request: Request) -> dict[str, Any]:
    data = validated_body(request, GroupHostIds)
    removed = services.remove_group_hosts(request.dbsession, context.obj, data.host_ids)
    return {"group": context.obj.id, "removed": removed}


# -- inventory hosts and groups (collection actions) -----------------------------------
def batch_add(context: InventoryMemberCollection, request: Request) -> dict[str, Any]:
    data = validated_body(request, InventoryBatch)
    inventory = context.editable_inventory(data.inventory)
    ids = data.host_ids if context.member_field == "host" else data.group_ids
    kind = "hosts" if context.member_field == "host" else "groups"
    changed = services.add_inventory_members(
        request.dbsession,
        inventory,
        ids if kind == "hosts" else [],
        ids if kind == "groups" else [],
    )
    return {"inventory": inventory.id, "added": changed[kind]}


def batch_remove(context: InventoryMemberCollection, request: Request) -> dict[str, Any]:
    data = validated_body(request, InventoryBatch)
    inventory = context.editable_inventory(data.inventory)
    kind = "hosts" if context.member_field == "host" else "groups"
    changed = services.remove_inventory_members(
        request.dbsession,
        inventory,
        data.host_ids if kind == "hosts" else [],
        data.group_ids if kind == "groups" else [],
    )
    return {"inventory": inventory.id, "removed": changed[kind]}


# -- runs -----------------------------------------------------------------------------
def cancel_run(context: AnsibleExecutionItem, request: Request) -> dict[str, Any]:
    """Cancel the run (its whole execution); the engine stops it within seconds."""
    execution = request.dbsession.get(Execution, context.obj.execution_id)
    cancel_execution(request, execution)
    request.dbsession.refresh(context.obj)
    request.dbsession.refresh(context.obj.step_execution)
    return context.serialize()


def execute_again(context: AnsibleExecutionItem, request: Request) -> dict[str, Any]:
    """Run the same playbook with the same inventory, credential and parameters."""
    run = context.obj
    parameters = _parameters(run.parameters)
    require_project(request, run.project_id, "run")
    return _start(request, run.project_id, parameters, 3600)


def run_logs(context: AnsibleExecutionItem, request: Request) -> dict[str, Any]:
    """The run's lines by offset: ``?offset=`` (last line number read) ``&limit=``."""
    from ansflow_cicd.views import int_param

    offset = int_param(request, "offset", 0, 0, 2**62) or 0
    limit = int_param(request, "limit", 1000, 1, MAX_LOG_PAGE) or 1000
    run = context.obj
    lines = read_lines(
        request.dbsession, run.execution_id, offset, limit + 1, run.step_execution_id
    )
    has_more = len(lines) > limit
    lines = lines[:limit]
    return {
        "execution_id": run.id,
        "status": run.status,
        "offset": offset,
        "lines": [
            {
                "number": line.number,
                "stream": line.stream,
                "text": line.text,
                "timestamp": line.created_at,
            }
            for line in lines
        ],
        "stdout": "\n".join(line.text for line in lines if line.stream == "stdout"),
        "next_offset": lines[-1].number if lines else offset,
        "has_more": has_more,
        "complete": run.status in ("success", "failed", "cancelled", "timeout", "skipped")
        and not has_more,
        "stream_url": request.application_url
        + f"/api/v1/cicd/executions/{run.execution_id}/events/",
    }


def pipeline_info(context: AnsibleExecutionItem, request: Request) -> dict[str, Any]:
    run = context.obj
    execution = request.dbsession.get(Execution, run.execution_id)
    return {
        "execution": run.execution_id,
        "pipeline": run.pipeline_id,
        "pipeline_step": run.pipeline_step_id,
        "step_execution": run.step_execution_id,
        "execution_status": execution.status if execution is not None else None,
    }


def _status_counts(request: Request, query: Any) -> dict[str, int]:
    from ansflow_cicd.models import StepExecution

    sub = query.subquery()
    rows = request.dbsession.execute(
        select(StepExecution.status, func.count())
        .join(sub, sub.c.step_execution_id == StepExecution.id)
        .group_by(StepExecution.status)
    ).all()
    counts = {
        status: 0 for status in ("pending", "running", "success", "failed", "cancelled", "timeout")
    }
    counts.update({status: count for status, count in rows})
    return counts


def run_stats(context: AnsibleExecutionCollection, request: Request) -> dict[str, Any]:
    counts = _status_counts(request, context.list_query())
    total = sum(counts.values())
    finished = counts["success"] + counts["failed"] + counts["cancelled"] + counts["timeout"]
    return {
        "total": total,
        "by_status": counts,
        "success_rate": round(100 * counts["success"] / finished, 1) if finished else 0.0,
    }


def recent_runs(context: AnsibleExecutionCollection, request: Request) -> list[dict[str, Any]]:
    rows = request.dbsession.scalars(
        context.query().order_by(AnsibleExecution.id.desc()).limit(10)
    ).all()
    return [context.serialize(row) for row in rows]


def pipeline_runs(context: AnsibleExecutionCollection, request: Request) -> list[dict[str, Any]]:
    """Runs that belong to pipelines (``?pipeline_id=`` narrows to one)."""
    query = context.query().where(AnsibleExecution.pipeline_id.is_not(None))
    raw = request.GET.get("pipeline_id") or request.GET.get("pipeline")
    if raw:
        if not raw.isdigit():
            raise ValidationFailed({"pipeline_id": ["A whole number is required."]})
        query = query.where(AnsibleExecution.pipeline_id == int(raw))
    rows = request.dbsession.scalars(query.order_by(AnsibleExecution.id.desc()).limit(100)).all()
    return [context.serialize(row) for row in rows]


def overview(context: Any, request: Request) -> dict[str, Any]:
    """Counts of the Ansible objects and runs the caller can see."""
    root = context.root["api"]["v1"]["ansible"]
    db = request.dbsession

    def count(name: str) -> int:
        collection = root[name]
        return db.scalar(select(func.count()).select_from(collection.query().subquery())) or 0

    runs = _status_counts(request, root["executions"].query())
    host_ids = root["hosts"].query().with_only_columns(Host.id)
    host_status = dict(
        db.execute(
            select(Host.status, func.count()).where(Host.id.in_(host_ids)).group_by(Host.status)
        ).all()
    )
    return {
        "playbooks": count("playbooks"),
        "inventories": count("inventories"),
        "credentials": count("credentials"),
        "hosts": count("hosts"),
        "host_groups": count("host-groups"),
        "executions": sum(runs.values()),
        "executions_by_status": runs,
        "hosts_by_status": host_status,
    }


# -- pipelines --------------------------------------------------------------------------
def add_ansible_step(context: PipelineItem, request: Request) -> dict[str, Any]:
    """Append an ``ansible`` step: ``{name, order?, ansible_parameters}`` (or the
    parameters at the top level, as AnsFlow's client sends them)."""
    body = json_body(request)
    if "ansible_parameters" not in body:
        known = {"name", "order", "timeout_seconds"}
        body = {
            **{k: v for k, v in body.items() if k in known},
            "ansible_parameters": {k: v for k, v in body.items() if k not in known},
        }
    data = validate(AddAnsibleStep, body)
    pipeline = context.obj
    require_project(request, pipeline.project_id, "edit")
    step = services.add_ansible_step(
        request.dbsession,
        actor_of(request),
        pipeline,
        data.name,
        data.ansible_parameters,
        data.order,
        data.timeout_seconds,
    )
    return _created(request, {**context.serialize(), "added_step": step.id})


def execute_ansible_steps(context: PipelineItem, request: Request) -> dict[str, Any]:
    """Run the pipeline (all its steps, its ansible steps among them) now."""
    from ansflow_cicd.executions import create_execution
    from ansflow_cicd.resources import execution_detail

    pipeline = context.obj
    if not any(step.step_type == "ansible" for step in pipeline.steps):
        raise ValidationFailed({"steps": ["The pipeline has no ansible step."]})
    body = json_body(request)
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    execution = create_execution(
        request, pipeline, tool_id=None, trigger_type="manual", parameters=parameters
    )
    request.response.status = 201
    return execution_detail(request.dbsession, execution)
