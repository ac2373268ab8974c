"""Provisioning: give a gateway its identity (device, building) and its central server with an enrolment token.

Two ways in, one path through: a small `edge-gateway.toml` the installer writes onto the SD card's boot partition
(taken in on boot by edge-provision.service), or `edge provision --device-id ... --token ...` over SSH. Both are
validated, merged into /etc/edge-gateway/edge.toml (only the identity and [upstream] change; everything else an
installer has configured is kept) and written atomically. The file on the boot partition is then removed, so the
token does not stay on a card anyone can read. A refused request changes nothing and says why.
"""

from __future__ import annotations

import grp
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import Field, ValidationError, field_validator
from tomlkit.exceptions import TOMLKitError

from edge.clock import rfc3339
from edge.config import PLACEHOLDER_SECRETS, StrictModel, parse_config, parse_toml, tls_unless_local, toml_value
from edge.errors import ConfigError, ProvisionError
from edge.files import fsync_dir, write_atomic

BOOT_FILE = "edge-gateway.toml"
ERROR_FILE = "edge-gateway-error.txt"  # beside a refused boot file: the reasons, readable on the installer's laptop
DONE_FILE = "edge-gateway-provisioned.txt"  # replaces the boot file: what was done, without the token
LAST_ERROR = "provision-error.txt"  # in /etc/edge-gateway: the "not provisioned" screen shows it
SERVICE_GROUP = "edge"
MAX_REQUEST_BYTES = 64 * 1024  # a provisioning file is four lines


class Provisioning(StrictModel):
    """What an installer gives: the boot partition's edge-gateway.toml has exactly these keys."""

    device_id: str = Field(description="unique per gateway, e.g. b07-gw1")
    building_id: str
    server: str = Field(description="the central server's API URL")
    token: str = Field(description="the enrolment token the central server issued for this gateway")

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9-]{3,40}", v):
            raise ValueError("3 to 40 lower-case letters, digits and '-', e.g. b07-gw1")
        return v

    @field_validator("building_id")
    @classmethod
    def _building_id(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", v):
            raise ValueError("1 to 40 letters, digits, '-' and '_', e.g. b07")
        return v

    @field_validator("server")
    @classmethod
    def _server(cls, v: str) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", v):
            raise ValueError("the central server's URL, e.g. https://central.example/api")
        return tls_unless_local(v.rstrip("/"))

    @field_validator("token")
    @classmethod
    def _real_token(cls, v: str) -> str:
        if v.strip().lower() in PLACEHOLDER_SECRETS or len(v.strip()) < 16 or any(c.isspace() for c in v):
            raise ValueError("the enrolment token from the central server (16 characters or more, no spaces)")
        if v.upper().startswith("REPLACE"):
            raise ValueError("the enrolment token from the central server, not the sample's placeholder")
        return v


@dataclass(frozen=True)
class Outcome:
    config_path: Path
    device_id: str
    building_id: str
    replaced: bool  # a configuration was there before (kept as edge.toml.previous)


def parse_request(raw: Mapping[str, Any], source: str, names: Mapping[str, str] | None = None) -> Provisioning:
    """Validate a request; `names` renames keys in the messages (e.g. device_id -> --device-id)."""
    try:
        return Provisioning.model_validate(raw)
    except ValidationError as e:
        raise ProvisionError([_describe(source, err, names or {}) for err in e.errors()]) from None


def provision(req: Provisioning, config_path: Path, *, now: datetime,
              environ: Mapping[str, str] = os.environ) -> Outcome:
    """Write the configuration for `req`, keeping the rest of an existing one. Nothing changes on refusal."""
    old = _read_existing(config_path)
    text = merged_config(old, req, now=now)
    try:
        parse_config(parse_toml(text, str(config_path)), str(config_path), environ)
    except ConfigError as e:
        raise ProvisionError(["the configuration would not be valid:", *e.problems]) from None
    _write_atomically(config_path, text, previous=old)
    (config_path.parent / LAST_ERROR).unlink(missing_ok=True)
    return Outcome(config_path, req.device_id, req.building_id, replaced=old is not None)


def provision_from_file(path: Path, config_path: Path, *, now: datetime,
                        environ: Mapping[str, str] = os.environ) -> Outcome:
    """The boot-partition flow: validate `path`, provision, then remove it (and its token) and leave a note.
    A refused file stays where it is, with the reasons written beside it and the old configuration untouched."""
    try:
        try:
            raw = parse_toml(_read_request(path), str(path))
        except ConfigError as e:
            raise ProvisionError(e.problems) from None
        old = _read_existing(config_path)
        outcome = provision(parse_request(raw, str(path)), config_path, now=now, environ=environ)
        try:
            path.unlink()
        except OSError as e:
            # left on the card, its token stays readable and it is applied again at every boot (over a later
            # `edge provision`): not applied at all, rather than half
            _put_back(config_path, old)
            raise ProvisionError([f"{path}: cannot take it off the card ({e.strerror or e}), so it was not "
                                  "applied; repair the card's boot partition on a computer, or remove the file "
                                  "and provision over SSH: sudo edge provision --device-id ..."]) from None
    except ProvisionError as e:
        _note_refusal(path, config_path, e.problems, now)
        raise
    fsync_dir(path.parent)
    (path.parent / ERROR_FILE).unlink(missing_ok=True)
    (path.parent / DONE_FILE).write_text(
        f"edge-gateway provisioned on {rfc3339(now)}: device {outcome.device_id}, building {outcome.building_id}.\n"
        f"The enrolment token has been removed from this card; the configuration is in {config_path}.\n"
    )
    return outcome


def _read_request(path: Path) -> str:
    """The text of a provisioning file: four lines, so a large one is the wrong file (and is not read whole)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_REQUEST_BYTES + 1)
    except OSError as e:
        sudo = " (run it as root: sudo edge provision ...)" if isinstance(e, PermissionError) else ""
        raise ProvisionError([f"{path}: cannot read: {e.strerror or e}{sudo}"]) from None
    if len(data) > MAX_REQUEST_BYTES:
        raise ProvisionError([f"{path}: larger than {MAX_REQUEST_BYTES // 1024} KB: not a provisioning file (four "
                              "lines: device_id, building_id, server, token)"])
    try:
        return data.decode("utf-8-sig")  # a laptop's editor may add a byte-order mark
    except UnicodeDecodeError as e:
        raise ProvisionError([f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at position {e.start}); save "
                              "it as UTF-8 (in Notepad: Save as, Encoding UTF-8)"]) from None


def _put_back(config_path: Path, old: str | None) -> None:
    """Undo a provisioning: the configuration as it was (none, or the old text)."""
    try:
        if old is None:
            config_path.unlink(missing_ok=True)
        else:
            _write_atomically(config_path, old, previous=None)
    except (OSError, ProvisionError):
        pass  # the refusal is still reported; a configuration that stayed is a whole one


def merged_config(old: str | None, req: Provisioning, *, now: datetime) -> str:
    """The new edge.toml: the existing one (comments kept) with the identity and [upstream] replaced, or a fresh
    one with a new API token. An existing file that is not TOML is replaced (and kept as .previous)."""
    doc = None
    if old is not None:
        try:
            doc = tomlkit.parse(old)
        except TOMLKitError:
            doc = None
    if doc is None:
        doc = tomlkit.parse(FRESH.format(ts=rfc3339(now), api_token=secrets.token_urlsafe(24)))
    doc["device_id"] = req.device_id
    doc["building_id"] = req.building_id
    upstream = doc.get("upstream")
    if not isinstance(upstream, dict):
        upstream = tomlkit.table()
        doc["upstream"] = upstream
    upstream["url"] = req.server
    upstream["token"] = req.token
    return tomlkit.dumps(doc)


FRESH = """\
# edge-gateway configuration, written by `edge provision` on {ts}. See the README for every key.
# `edge provision` again changes only device_id, building_id and [upstream]; the rest is yours to edit.
device_id = ""
building_id = ""

[storage]
path = "/var/lib/edge-gateway/edge.db"
max_mb = 512

[api]
host = "127.0.0.1"
port = 8080
token = "{api_token}"
"""


def _read_existing(config_path: Path) -> str | None:
    try:
        return config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except PermissionError:
        raise ProvisionError([f"{config_path}: cannot read the current configuration: permission denied "
                              "(run it as root: sudo edge provision ...)"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ProvisionError([f"{config_path}: cannot read the current configuration: {e}"]) from None


def _write_atomically(path: Path, text: str, *, previous: str | None) -> None:
    """Write beside, fsync, rename: a power cut leaves the old file or the new one, never half of one.
    Readable by root and the service's group only (it holds tokens), and so is the copy of the `previous` text:
    a hand-made edge.toml may have been world-readable, and its API token is still the live one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if previous is not None:
            write_atomic(path.with_name(path.name + ".previous"), previous, mode=0o640, prepare=_restrict)
        write_atomic(path, text, mode=0o640, prepare=_restrict)
    except OSError as e:
        raise ProvisionError([f"{path}: cannot write: {e.strerror or e} (run it as root: sudo edge provision ...)"]) \
            from None


def _restrict(fd: int) -> None:
    os.fchmod(fd, 0o640)  # the umask must not widen it
    _give_to_service_group(fd)


def _give_to_service_group(fd: int) -> None:
    """root:edge, so the service (user edge) can read it; only when we are root and the account exists."""
    if os.geteuid() != 0:
        return
    try:
        gid = grp.getgrnam(SERVICE_GROUP).gr_gid
    except KeyError:
        return
    os.fchown(fd, 0, gid)


def _note_refusal(path: Path, config_path: Path, problems: list[str], now: datetime) -> None:
    """Say why, where the installer will look: beside the file on the card, and for the kiosk screen."""
    text = f"edge-gateway refused {path.name} on {rfc3339(now)}:\n" + "\n".join(problems) + "\n"
    for target in (path.parent / ERROR_FILE, config_path.parent / LAST_ERROR):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.name == LAST_ERROR:
                # root:edge 0640 as edge.toml, so the gateway (user edge) can show it on the unprovisioned screen
                # (the unit's UMask=0027 would make it root's alone); a problem line may quote the file
                write_atomic(target, text, mode=0o640, prepare=_restrict)
            else:
                target.write_text(text)
        except OSError:
            pass  # the refusal itself is still reported on stderr (the journal)


def _describe(source: str, err: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """One line: file, key, what was found, what is allowed (the token itself is never printed)."""
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    name = names.get(key, f"key {key}")
    where = f"{source}: {name}" if source else name
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown key; allowed: {', '.join(Provisioning.model_fields)}"
    if err["type"] == "missing":
        return f"{where}: missing; it is required"
    found = "<the token>" if key == "token" and isinstance(err.get("input"), str) else toml_value(err.get("input"))
    return f"{where}: found {found}; allowed: {err['msg'].removeprefix('Value error, ')}"
