"""RBD command lines and outputs (pure): names, argv for rbd/ceph/qemu-img, JSON parsing."""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Ceph's defaults: monitors listen for the v1 protocol on 6789 (v2 on 3300). libvirt, QEMU
# and CloudStack's rbd:// URLs name the v1 address.
DEFAULT_MON_PORT = 6789
MOUNT_TIMEOUT_S = 15
# Pool, image and snapshot names come from the server: keep them to characters that mean
# nothing to rbd ("/" "@" separate pool, image and snapshot) or to QEMU's rbd: strings
# (":" and "\\" are separators there).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
_MESSAGE_CHARS = 500


class RbdOutputError(ValueError):
    """rbd or ceph printed something that is not the JSON we expect."""


def validate_name(name: str, *, what: str) -> str:
    """Return ``name`` if it is a safe pool, image or snapshot name, else raise ValueError."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{what} {name!r} is not allowed: use 1-128 characters from A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True, slots=True)
class Monitor:
    """One Ceph monitor's v1 address (host name or IPv4 address, and port)."""

    host: str
    port: int = DEFAULT_MON_PORT

    def __post_init__(self) -> None:
        if not _HOST.fullmatch(self.host) or ".." in self.host:
            raise ValueError(f"monitor host {self.host!r} is not a host name or IPv4 address")
        if not 0 < self.port < 65536:
            raise ValueError(f"monitor port {self.port} is out of range")

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class RbdAccess:
    """Where an RBD pool is and who uses it; the cephx key is kept apart (it is a secret)."""

    monitors: tuple[Monitor, ...]
    pool: str
    user: str

    def __post_init__(self) -> None:
        if not self.monitors:
            raise ValueError("an RBD pool needs at least one monitor")
        validate_name(self.pool, what="pool")
        if not _USER.fullmatch(self.user) or self.user.startswith("client."):
            raise ValueError(
                f"cephx user {self.user!r} is not allowed: give the id without 'client.' "
                "(A-Z a-z 0-9 . _ -)"
            )

    @property
    def mon_host(self) -> str:
        """The monitors as ``-m`` takes them: ``host:port,host:port``."""
        return ",".join(str(monitor) for monitor in self.monitors)

    def spec(self, image: str, snapshot: str | None = None) -> str:
        """``pool/image`` or ``pool/image@snapshot``, names checked."""
        spec = f"{self.pool}/{validate_name(image, what='image')}"
        if snapshot is not None:
            spec += f"@{validate_name(snapshot, what='snapshot')}"
        return spec


def parse_monitors(text: str) -> tuple[Monitor, ...]:
    """``host[:port],host[:port]`` (PoolSpec.server) → monitors; ValueError if malformed."""
    monitors = []
    for item in text.split(","):
        host, colon, port = item.strip().rpartition(":")
        if not colon:
            monitors.append(Monitor(item.strip()))
        elif not port.isdigit():
            raise ValueError(f"monitor {item.strip()!r} has no numeric port")
        else:
            monitors.append(Monitor(host, int(port)))
    return tuple(monitors)


def connection_args(access: RbdAccess, keyfile: Path) -> list[str]:
    """The options every rbd/ceph call takes: monitors, user, and the key by file.

    ``--conf /dev/null``: the pool's settings are all on the command line, so a host's
    /etc/ceph/ceph.conf (or its absence: the ``ceph`` CLI fails without one) changes
    nothing. The key is read from ``keyfile`` (mode 0600): never on the command line, where
    every user of the host could read it in /proc.
    """
    return [
        "--conf",
        "/dev/null",
        "-m",
        access.mon_host,
        "--id",
        access.user,
        "--keyfile",
        str(keyfile),
        # A dead or unreachable monitor: rbd and ceph give up and say so themselves
        # (librados waits 300 s by default), before the caller's subprocess time limit.
        "--client_mount_timeout",
        str(MOUNT_TIMEOUT_S),
    ]


def rbd_argv(access: RbdAccess, keyfile: Path, *args: str) -> list[str]:
    """``rbd <connection> <args>``."""
    return ["rbd", *connection_args(access, keyfile), *args]


def ceph_argv(access: RbdAccess, keyfile: Path, *args: str) -> list[str]:
    """``ceph <connection> <args> --format json``."""
    return ["ceph", *connection_args(access, keyfile), *args, "--format", "json"]


def import_args(access: RbdAccess, image: str) -> list[str]:
    """``rbd import`` reading a raw image from stdin into a new format-2 image."""
    return ["import", "--no-progress", "--image-format", "2", "-", access.spec(image)]


def qemu_rbd_target(access: RbdAccess, image: str, keyfile: Path) -> str:
    r"""QEMU's ``rbd:pool/image:mon_host=…:id=…:keyfile=…`` string (CloudStack's form).

    ``:`` separates options there and ``\:`` is a literal colon, as in ``host\:port``;
    several monitors are joined by ``;``. The key is given by file, never inline.
    """
    mons = ";".join(f"{m.host}\\:{m.port}" for m in access.monitors)
    keyfile_text = str(keyfile)
    if any(char in keyfile_text for char in ":\\"):
        raise ValueError(f"key file path {keyfile_text!r} must not contain ':' or '\\'")
    return (
        f"rbd:{access.spec(image)}:mon_host={mons}:id={access.user}"
        f":keyfile={keyfile_text}:conf=/dev/null"
    )


def convert_argv(source: Path, source_format: str, target: str) -> list[str]:
    """``qemu-img convert`` of a file into an existing-free RBD target, as raw."""
    return ["qemu-img", "convert", "-q", "-f", source_format, "-O", "raw", str(source), target]


def _json(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RbdOutputError(f"{what} did not print JSON: {exc}") from exc


def parse_children(text: str | bytes) -> list[str]:
    """``rbd children --format json`` → ``["pool/image", …]`` (namespaced as ``pool/ns/image``)."""
    data = _json(text, "rbd children")
    if not isinstance(data, list):
        raise RbdOutputError("rbd children printed JSON that is not a list")
    children = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
            raise RbdOutputError(f"rbd children printed an entry without an image: {entry!r}")
        namespace = entry.get("pool_namespace") or ""
        parts = [str(entry.get("pool", "")), namespace, entry["image"]]
        children.append("/".join(part for part in parts if part))
    return children


def parse_image_names(text: str | bytes) -> list[str]:
    """``rbd ls --format json`` → image names."""
    data = _json(text, "rbd ls")
    if not isinstance(data, list) or not all(isinstance(name, str) for name in data):
        raise RbdOutputError("rbd ls printed JSON that is not a list of names")
    return list(data)


def parse_image_size(text: str | bytes) -> int:
    """``rbd info --format json`` → the image's provisioned size in bytes."""
    data = _json(text, "rbd info")
    size = data.get("size") if isinstance(data, dict) else None
    if not _is_size(size):
        raise RbdOutputError("rbd info printed no valid size")
    assert isinstance(size, int)
    return size


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """``rbd du`` of a whole pool: bytes written, and bytes promised to images."""

    used_bytes: int
    provisioned_bytes: int


def parse_du(text: str | bytes) -> PoolUsage:
    """``rbd du --format json -p POOL`` → totals (snapshots included, as Ceph counts them)."""
    data = _json(text, "rbd du")
    if not isinstance(data, dict):
        raise RbdOutputError("rbd du printed JSON that is not an object")
    used = data.get("total_used_size", 0)
    provisioned = data.get("total_provisioned_size", 0)
    if not _is_size(used) or not _is_size(provisioned):
        raise RbdOutputError("rbd du output has no valid totals")
    return PoolUsage(used_bytes=used, provisioned_bytes=provisioned)


def parse_quota(text: str | bytes, pool: str) -> int | None:
    """``ceph osd dump --format json`` → the pool's ``quota_max_bytes`` (None: no quota).

    Read from the OSD map, which the monitors serve: ``ceph osd pool get-quota`` needs a
    mgr (it answers "no stats for pool" without one).
    """
    data = _json(text, "ceph osd dump")
    pools = data.get("pools") if isinstance(data, dict) else None
    if not isinstance(pools, list):
        raise RbdOutputError("ceph osd dump output has no pools")
    for entry in pools:
        if isinstance(entry, dict) and entry.get("pool_name") == pool:
            quota = entry.get("quota_max_bytes", 0)
            if not _is_size(quota):
                raise RbdOutputError(f"ceph osd dump has no valid quota for pool {pool}")
            return quota or None
    raise RbdOutputError(f"ceph osd dump does not list pool {pool}")


def parse_df_available(text: str | bytes, pool: str) -> int | None:
    """``ceph df --format json`` → bytes the pool can still take (None: no mgr reports it).

    ``max_avail`` accounts for replication and the fullest OSD. Without a mgr every figure
    is 0 and the pool is not listed: None then.
    """
    data = _json(text, "ceph df")
    if not isinstance(data, dict):
        raise RbdOutputError("ceph df printed JSON that is not an object")
    for entry in data.get("pools") or []:
        if isinstance(entry, dict) and entry.get("name") == pool:
            stats = entry.get("stats")
            available = stats.get("max_avail") if isinstance(stats, dict) else None
            if not _is_size(available):
                raise RbdOutputError(f"ceph df has no max_avail for pool {pool}")
            total = data.get("stats", {}).get("total_bytes", 0)
            return available if total else None
    return None


@dataclass(frozen=True, slots=True)
class PoolCapacity:
    """What the agent reports for an RBD pool; ``capacity_bytes`` None when unknown."""

    capacity_bytes: int | None
    used_bytes: int
    allocated_bytes: int


def pool_capacity(
    usage: PoolUsage, *, quota_bytes: int | None, available_bytes: int | None
) -> PoolCapacity:
    """Combine ``rbd du``, the pool quota and ``ceph df``'s ``max_avail`` into one figure.

    Capacity is what is used plus what the cluster can still give the pool, bounded by the
    pool's quota; with no mgr (no ``max_avail``) the quota alone, and None without either.
    """
    candidates = []
    if available_bytes is not None:
        candidates.append(usage.used_bytes + available_bytes)
    if quota_bytes is not None:
        candidates.append(quota_bytes)
    return PoolCapacity(
        capacity_bytes=min(candidates) if candidates else None,
        used_bytes=usage.used_bytes,
        allocated_bytes=usage.provisioned_bytes,
    )


def error_excerpt(stderr: bytes, secrets: Sequence[str] = ()) -> str:
    """The useful end of rbd/ceph stderr, one line, with any secret blanked out."""
    text = " ".join(stderr.decode("utf-8", "replace").split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[-_MESSAGE_CHARS:] or "no message"


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One line of ``rbd snap ls``."""

    name: str
    protected: bool


def parse_snapshots(text: str | bytes) -> list[Snapshot]:
    """``rbd snap ls --format json`` → snapshots (``protected`` is the string "true")."""
    data = _json(text, "rbd snap ls")
    if not isinstance(data, list):
        raise RbdOutputError("rbd snap ls printed JSON that is not a list")
    snapshots = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise RbdOutputError(f"rbd snap ls printed an entry without a name: {entry!r}")
        protected = entry.get("protected")
        snapshots.append(Snapshot(entry["name"], protected is True or protected == "true"))
    return snapshots


def is_not_found(stderr: bytes) -> bool:
    """Tell whether rbd's stderr says the image or snapshot does not exist (ENOENT)."""
    text = stderr.decode("utf-8", "replace")
    return "(2) No such file or directory" in text or "does not exist" in text


def is_exists(stderr: bytes) -> bool:
    """Tell whether rbd's stderr says the target name is taken (EEXIST)."""
    return "(17) File exists" in stderr.decode("utf-8", "replace")
