"""Who local shell steps run as, and the refusal to run them as the server itself.

A step is code a project member wrote; the server is the control plane, with the
database credentials and signing keys in its environment and its ini file.  Steps
therefore run as another OS user, named by ``ansflow.step_user`` (and optionally
``ansflow.step_group``; default: that user's primary group), with no supplementary
groups, ``HOME``/``USER``/``LOGNAME`` of that user and the clean environment the engine
builds (never the server's own).  Another user cannot read ``/proc/<server>/environ``,
nor the ini and database files when those are readable by the server's user only
(``chmod 600``; the ``ansflow`` user owns them).

Switching users needs privileges: run the worker as root, or give it the capabilities
``CAP_SETUID``, ``CAP_SETGID``, ``CAP_CHOWN`` (the workspace is handed to the step
user) and ``CAP_KILL`` (to stop the step's processes), e.g. with systemd's
``AmbientCapabilities=``.  Create the user once: ``useradd --system --create-home
ansflow-step``.

Without ``ansflow.step_user`` steps would run as the server's own user.  With
``ansflow.environment = production`` every local shell step is then *refused* (it
fails with the reason) unless ``ansflow.allow_steps_as_server_user = true`` says that
this is intended (a single-tenant machine, a container per worker); other
environments run them and log a warning at startup.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansflow_pyramid.settings import as_bool

log = logging.getLogger(__name__)

STEP_USER_SETTING = "ansflow.step_user"
STEP_GROUP_SETTING = "ansflow.step_group"
ALLOW_SERVER_USER_SETTING = "ansflow.allow_steps_as_server_user"


class StepIsolationError(RuntimeError):
    """Local shell steps cannot run as configured (the message says why and what to set)."""


@dataclass(frozen=True)
class StepIdentity:
    """The OS account a step runs as."""

    name: str
    uid: int
    gid: int
    home: str


def _production(settings: Mapping[str, Any]) -> bool:
    return str(settings.get("ansflow.environment") or "").strip().lower() == "production"


def _lookup_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError:
        raise StepIsolationError(
            f"{STEP_USER_SETTING} = {name}: no such user on this machine "
            f"(create it: useradd --system --create-home {name})"
        ) from None


def _lookup_group(name: str) -> int:
    try:
        return grp.getgrgid(int(name)).gr_gid if name.isdigit() else grp.getgrnam(name).gr_gid
    except KeyError:
        raise StepIsolationError(f"{STEP_GROUP_SETTING} = {name}: no such group") from None


def step_identity(settings: Mapping[str, Any]) -> StepIdentity | None:
    """The account steps run as, or None to run them as this process's user (when
    that is allowed).  Raises :class:`StepIsolationError` when steps must not run."""
    name = str(settings.get(STEP_USER_SETTING) or "").strip()
    identity = None
    if name:
        entry = _lookup_user(name)
        group = str(settings.get(STEP_GROUP_SETTING) or "").strip()
        gid = _lookup_group(group) if group else entry.pw_gid
        identity = StepIdentity(entry.pw_name, entry.pw_uid, gid, entry.pw_dir or "/")
        if identity.uid != os.geteuid():
            return identity
    if _production(settings) and not as_bool(settings.get(ALLOW_SERVER_USER_SETTING)):
        raise StepIsolationError(
            "refusing to run a local shell step as the server's own user "
            f"(uid {os.geteuid()}): set {STEP_USER_SETTING} to another OS user, or "
            f"{ALLOW_SERVER_USER_SETTING} = true if this is intended"
        )
    return None


def warn_at_startup(settings: Mapping[str, Any]) -> None:
    """Say at startup how steps will run, loudly when it is not isolated."""
    try:
        identity = step_identity(settings)
    except StepIsolationError as error:
        log.error("local shell steps will fail: %s", error)
        return
    if identity is not None:
        log.info("local shell steps run as %s (uid %d)", identity.name, identity.uid)
    elif not as_bool(settings.get(ALLOW_SERVER_USER_SETTING)):
        log.warning(
            "local shell steps run as this server's own user (uid %d) and can read what "
            "it can read; set %s for anything but development",
            os.geteuid(),
            STEP_USER_SETTING,
        )
