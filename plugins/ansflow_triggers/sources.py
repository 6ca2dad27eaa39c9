"""The four webhook sources: how each names its events and deliveries, signs its
body, and what its payloads mean.

Signatures (all checked in constant time with :func:`hmac.compare_digest`):

* GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>``;
* GitLab: the secret itself in ``X-Gitlab-Token``;
* Jenkins and generic: ``X-AnsFlow-Signature-256: sha256=<hex HMAC-SHA256(secret,
  raw body)>`` (GitHub's scheme under our header name, so any HMAC-capable sender -
  a Jenkins ``httpRequest`` step, a script with ``openssl dgst -sha256 -hmac`` - can
  produce it).

Delivery ids (replay protection): ``X-GitHub-Delivery``, ``X-Gitlab-Event-UUID``,
``X-Delivery-ID`` (Jenkins and generic).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ansflow_triggers.interfaces import RemoteRunRef

HMAC_HEADER = "X-AnsFlow-Signature-256"
HMAC_PREFIX = "sha256="
#: Longest value kept from a payload string (refs, names, commit ids).
MAX_FIELD = 255
#: A header value: visible ASCII, inner spaces allowed ("Push Hook").
HEADER_VALUE: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$",
}


@dataclass(frozen=True)
class StartRequest:
    """A delivery that may start pipelines: a push, a pull/merge request, a generic event."""

    event: str
    ref: str = ""
    commit: str = ""
    sender: str = ""
    #: The branch glob subject: the pushed branch, or a pull request's target branch.
    branch: str | None = None
    tag: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusReport:
    """A delivery telling that a remote run changed."""

    ref: RemoteRunRef


@dataclass(frozen=True)
class Ignored:
    """A delivery acknowledged without effect, and why."""

    reason: str


Meaning = StartRequest | StatusReport | Ignored


def _text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value).replace("\x00", "")[:MAX_FIELD]


def _dig(payload: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload


def _header(headers: Mapping[str, str], name: str) -> str:
    return (headers.get(name) or "").strip()


def hmac_sha256_matches(secret: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` (``sha256=<hex>``) is the HMAC-SHA256 of ``body``."""
    if not signature.startswith(HMAC_PREFIX):
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    given = signature[len(HMAC_PREFIX) :].strip().lower()
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace"))


def sign(secret: str, body: bytes) -> str:
    """The ``sha256=<hex>`` signature of ``body`` (what senders put in the header)."""
    return HMAC_PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def ref_subjects(ref: str) -> tuple[str | None, str | None]:
    """``(branch, tag)`` named by a git ref (``refs/heads/x`` or ``refs/tags/v1``)."""
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :], None
    if ref.startswith("refs/tags/"):
        return None, ref[len("refs/tags/") :]
    return (ref or None), None


def _push(event: str, ref: str, commit: str, sender: str) -> Meaning:
    if not ref:
        return Ignored("the push names no ref")
    if not commit or set(commit) == {"0"}:
        return Ignored("the push deleted its ref")
    branch, tag = ref_subjects(ref)
    return StartRequest(event, ref=ref, commit=commit, sender=sender, branch=branch, tag=tag)


class WebhookSource:
    """One source's conventions.  Subclasses fill in the class attributes and
    :meth:`interpret`."""

    name: str
    #: The header naming the delivery (replay protection).
    delivery_header: str
    #: The header carrying the signature or token.
    signature_header: str
    #: The events a trigger of this source may list (None: any name).
    trigger_events: tuple[str, ...] | None
    #: What a new trigger listens to when it lists no events.
    default_events: tuple[str, ...] = ()

    #: The header naming the event, when the source sends one it cannot do without.
    event_header: str | None = None

    def documented_headers(self) -> dict[str, dict[str, Any]]:
        """The headers every delivery carries, as JSON schemas (for the OpenAPI document)."""
        headers = {
            self.delivery_header: {**HEADER_VALUE, "maxLength": 200},
            self.signature_header: HEADER_VALUE,
        }
        if self.event_header:
            headers[self.event_header] = {**HEADER_VALUE, "maxLength": 100}
        return headers

    def event(self, headers: Mapping[str, str], payload: dict[str, Any]) -> str:
        raise NotImplementedError

    def repository(self, payload: dict[str, Any]) -> str:
        raise NotImplementedError

    def delivery_id(self, headers: Mapping[str, str]) -> str:
        return _header(headers, self.delivery_header)

    def signature(self, headers: Mapping[str, str]) -> str:
        return _header(headers, self.signature_header)

    def verify(self, secret: str, body: bytes, signature: str) -> bool:
        return hmac_sha256_matches(secret, body, signature)

    def interpret(self, event: str, payload: dict[str, Any]) -> Meaning:
        raise NotImplementedError


class GitHubSource(WebhookSource):
    name = "github"
    delivery_header = "X-GitHub-Delivery"
    signature_header = "X-Hub-Signature-256"
    event_header = "X-GitHub-Event"
    trigger_events = ("push", "pull_request")
    default_events = ("push",)
    PULL_REQUEST_ACTIONS = ("opened", "synchronize", "reopened")

    def event(self, headers: Mapping[str, str], payload: dict[str, Any]) -> str:
        return _header(headers, "X-GitHub-Event")

    def repository(self, payload: dict[str, Any]) -> str:
        return _text(_dig(payload, "repository", "full_name"))

    def interpret(self, event: str, payload: dict[str, Any]) -> Meaning:
        sender = _text(_dig(payload, "sender", "login"))
        if event == "push":
            return _push("push", _text(payload.get("ref")), _text(payload.get("after")), sender)
        if event == "pull_request":
            action = _text(payload.get("action"))
            if action not in self.PULL_REQUEST_ACTIONS:
                return Ignored(f"pull_request action {action!r} starts nothing")
            number = payload.get("number")
            return StartRequest(
                "pull_request",
                ref=f"refs/pull/{_text(number)}/head",
                commit=_text(_dig(payload, "pull_request", "head", "sha")),
                sender=sender,
                branch=_text(_dig(payload, "pull_request", "base", "ref")),
                extra={
                    "pull_request": number if isinstance(number, int) else None,
                    "action": action,
                    "source_branch": _text(_dig(payload, "pull_request", "head", "ref")),
                    "target_branch": _text(_dig(payload, "pull_request", "base", "ref")),
                },
            )
        if event in ("workflow_run", "workflow_job"):
            key = "run_id" if event == "workflow_job" else "id"
            run_id = _dig(payload, event, key)
            if run_id is None:
                return Ignored(f"the {event} names no run")
            # The workflow file names the job a run belongs to (a run dispatched a
            # moment ago may not be known by its id yet).
            workflow = _text(_dig(payload, "workflow_run", "path")).rsplit("/", 1)[-1]
            return StatusReport(
                RemoteRunRef(
                    "github_actions",
                    (_text(run_id),),
                    repository=self.repository(payload),
                    status=_text(_dig(payload, event, "conclusion"))
                    or _text(_dig(payload, event, "status")),
                    job=workflow,
                )
            )
        return Ignored(f"event {event!r} is not handled")


class GitLabSource(WebhookSource):
    name = "gitlab"
    delivery_header = "X-Gitlab-Event-UUID"
    signature_header = "X-Gitlab-Token"
    event_header = "X-Gitlab-Event"
    trigger_events = ("push", "merge_request")
    default_events = ("push",)
    MERGE_REQUEST_ACTIONS = ("open", "reopen", "update")

    def event(self, headers: Mapping[str, str], payload: dict[str, Any]) -> str:
        return _header(headers, "X-Gitlab-Event")

    def repository(self, payload: dict[str, Any]) -> str:
        return _text(_dig(payload, "project", "path_with_namespace"))

    def verify(self, secret: str, body: bytes, signature: str) -> bool:
        # GitLab sends the configured secret verbatim.
        return hmac.compare_digest(secret.encode("utf-8"), signature.encode("utf-8", "replace"))

    def interpret(self, event: str, payload: dict[str, Any]) -> Meaning:
        sender = _text(payload.get("user_username")) or _text(_dig(payload, "user", "username"))
        if event in ("Push Hook", "Tag Push Hook"):
            commit = _text(payload.get("checkout_sha")) or _text(payload.get("after"))
            return _push("push", _text(payload.get("ref")), commit, sender)
        if event == "Merge Request Hook":
            attributes = payload.get("object_attributes") or {}
            action = _text(_dig(payload, "object_attributes", "action"))
            # "update" also reports edits of the title or labels; only an update with
            # an old revision brought new commits.
            if action not in self.MERGE_REQUEST_ACTIONS or (
                action == "update" and not _dig(payload, "object_attributes", "oldrev")
            ):
                return Ignored(f"merge request action {action!r} starts nothing")
            iid = attributes.get("iid") if isinstance(attributes, dict) else None
            return StartRequest(
                "merge_request",
                ref=f"refs/merge-requests/{_text(iid)}/head",
                commit=_text(_dig(payload, "object_attributes", "last_commit", "id")),
                sender=sender,
                branch=_text(_dig(payload, "object_attributes", "target_branch")),
                extra={
                    "merge_request": iid if isinstance(iid, int) else None,
                    "action": action,
                    "source_branch": _text(_dig(payload, "object_attributes", "source_branch")),
                    "target_branch": _text(_dig(payload, "object_attributes", "target_branch")),
                },
            )
        if event in ("Pipeline Hook", "Job Hook"):
            if event == "Pipeline Hook":
                run_id = _dig(payload, "object_attributes", "id")
                status = _dig(payload, "object_attributes", "status")
            else:
                run_id = payload.get("pipeline_id")
                status = payload.get("build_status")
            if run_id is None:
                return Ignored(f"the {event} names no pipeline")
            return StatusReport(
                RemoteRunRef(
                    "gitlab_ci",
                    (_text(run_id),),
                    repository=self.repository(payload),
                    status=_text(status),
                )
            )
        return Ignored(f"event {event!r} is not handled")


class JenkinsSource(WebhookSource):
    """Build notifications (the Notification plugin's JSON: ``name``, ``build.number``,
    ``build.phase``, ``build.status``, ``build.full_url``); the trigger's repository
    is the job name."""

    name = "jenkins"
    delivery_header = "X-Delivery-ID"
    signature_header = HMAC_HEADER
    trigger_events = ()

    def event(self, headers: Mapping[str, str], payload: dict[str, Any]) -> str:
        return _header(headers, "X-Jenkins-Event") or "build"

    def repository(self, payload: dict[str, Any]) -> str:
        return _text(payload.get("name"))

    def interpret(self, event: str, payload: dict[str, Any]) -> Meaning:
        job = self.repository(payload)
        number = _dig(payload, "build", "number")
        if not job or number is None:
            return Ignored("the notification names no job and build number")
        run_ids = [f"{job}#{_text(number)}"]
        url = _text(_dig(payload, "build", "full_url"))
        if url:
            run_ids.append(url)
        return StatusReport(
            RemoteRunRef(
                "jenkins",
                tuple(run_ids),
                repository=job,
                job=job,
                status=_text(_dig(payload, "build", "status"))
                or _text(_dig(payload, "build", "phase")),
            )
        )


class GenericSource(WebhookSource):
    """Any sender: ``{"event", "repository", "ref", "commit", "sender"}`` (only
    ``event`` is needed; it may come from the ``X-AnsFlow-Event`` header instead)."""

    name = "generic"
    delivery_header = "X-Delivery-ID"
    signature_header = HMAC_HEADER
    trigger_events = None

    def event(self, headers: Mapping[str, str], payload: dict[str, Any]) -> str:
        return _header(headers, "X-AnsFlow-Event") or _text(payload.get("event"))

    def repository(self, payload: dict[str, Any]) -> str:
        return _text(payload.get("repository"))

    def interpret(self, event: str, payload: dict[str, Any]) -> Meaning:
        ref = _text(payload.get("ref"))
        branch, tag = ref_subjects(ref) if ref else (None, None)
        return StartRequest(
            event,
            ref=ref,
            commit=_text(payload.get("commit")),
            sender=_text(payload.get("sender")),
            branch=branch,
            tag=tag,
        )


SOURCES: dict[str, WebhookSource] = {
    source.name: source
    for source in (GitHubSource(), GitLabSource(), JenkinsSource(), GenericSource())
}
