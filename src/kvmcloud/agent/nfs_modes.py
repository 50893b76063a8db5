"""NFS access modes: which one a host uses, where a pool is mounted, the mount command (pure)."""

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

DEFAULT_MOUNT_BASE = Path("/mnt")
# How long one probe of a mounted pool (stat, statvfs, a probe file, a listing) may take
# before the pool counts as unavailable: a hung NFS server blocks such calls forever.
DEFAULT_PROBE_TIMEOUT_S = 10.0
MOUNT_TIMEOUT_S = 60.0
# Pool uuids come from the server; they become a directory name under the mount base.
_POOL_UUID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_NFS_TYPES = frozenset({"nfs", "nfs4"})


class NfsMode(StrEnum):
    """How the agent reaches NetworkFilesystem pools (``KVMCLOUD_AGENT_NFS_MODE``)."""

    AUTO = "auto"
    MOUNT = "mount"
    USERSPACE = "userspace"


@dataclass(frozen=True, slots=True, kw_only=True)
class NfsAccess:
    """The mode this host uses (never AUTO once chosen), why, and where pools are mounted."""

    mode: NfsMode
    reason: str
    mount_base: Path = DEFAULT_MOUNT_BASE
    probe_timeout_s: float = DEFAULT_PROBE_TIMEOUT_S


USERSPACE_ACCESS = NfsAccess(mode=NfsMode.USERSPACE, reason="user-space mode by default")


def kernel_nfs_listed(proc_filesystems: str) -> bool:
    """Tell whether ``/proc/filesystems`` lists a kernel NFS client (``nfs`` or ``nfs4``)."""
    for line in proc_filesystems.splitlines():
        fields = line.split()
        if fields and fields[-1] in _NFS_TYPES:
            return True
    return False


def choose_mode(
    setting: NfsMode,
    *,
    proc_filesystems: str,
    module_loadable: bool,
    mount_helper: bool,
) -> tuple[NfsMode, str]:
    """Return the mode this host uses and a sentence saying why.

    ``auto`` takes mount mode when the kernel can mount NFS: the client is in
    ``/proc/filesystems`` or its module can be loaded (``modprobe -n nfs``), and
    ``mount.nfs`` (Debian nfs-common) is installed. Otherwise user space (libnfs).
    An explicit ``mount`` or ``userspace`` is taken as is: a forced mount mode on a host
    that cannot mount makes its NFS pools unavailable, saying why, rather than silently
    switching.
    """
    if setting == NfsMode.USERSPACE:
        return NfsMode.USERSPACE, "user-space mode set by KVMCLOUD_AGENT_NFS_MODE"
    if setting == NfsMode.MOUNT:
        return NfsMode.MOUNT, "mount mode set by KVMCLOUD_AGENT_NFS_MODE"
    kernel = kernel_nfs_listed(proc_filesystems) or module_loadable
    if kernel and mount_helper:
        return NfsMode.MOUNT, "the kernel NFS client and mount.nfs are available"
    if not kernel:
        return NfsMode.USERSPACE, "no kernel NFS client (nfs not in /proc/filesystems)"
    return NfsMode.USERSPACE, "mount.nfs is not installed (Debian package nfs-common)"


def mount_point(base: Path, pool_uuid: str) -> Path:
    """Where pool ``pool_uuid`` is mounted: ``<base>/<uuid>``, as CloudStack's ``/mnt/<uuid>``.

    Raises:
        ValueError: the uuid could name something outside ``base``.
    """
    if not _POOL_UUID.fullmatch(pool_uuid):
        raise ValueError(f"pool uuid {pool_uuid!r} cannot name a mount point")
    return base / pool_uuid


def mount_source(server: str, export: str) -> str:
    """The ``server:/export`` source as ``mount`` and ``/proc/self/mounts`` write it."""
    return f"{server}:{PurePosixPath(export)!s}"


def mount_command(server: str, export: str, target: Path) -> list[str]:
    """The argument list mounting ``server:export`` on ``target``.

    A hard mount (the default), as CloudStack's libvirt netfs pools: a soft mount can
    return I/O errors to a running VM's disk, which corrupts guests. Hangs are handled by
    probing with a timeout instead. ``nosuid,nodev,noexec``: the pool holds disk images.
    """
    return [
        "mount",
        "-t",
        "nfs",
        "-o",
        "nosuid,nodev,noexec",
        mount_source(server, export),
        str(target),
    ]


def mounted_source(proc_mounts: str, target: Path) -> str | None:
    """Return the NFS source mounted on ``target`` per ``/proc/self/mounts``, else None.

    The last matching line wins (a later mount hides earlier ones). A mount of another
    file system type on ``target`` comes back as ``"<type>:<source>"`` so the caller can
    say what is in the way.
    """
    found: str | None = None
    for line in proc_mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        source, where, fs_type = (_unescape(f) for f in fields[:3])
        if where != str(target):
            continue
        found = source.rstrip("/") if fs_type in _NFS_TYPES else f"{fs_type}:{source}"
    return found


def nfs_file_path(proc_mounts: str, base: Path, server: str, export: str, name: str) -> Path | None:
    """The local path of file ``name`` of export ``server:export`` mounted under ``base``."""
    wanted = mount_source(server, export).rstrip("/")
    path: Path | None = None
    for line in proc_mounts.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[2] not in _NFS_TYPES:
            continue
        source, where = _unescape(fields[0]).rstrip("/"), Path(_unescape(fields[1]))
        if source == wanted and where.parent == base:
            path = where / name
    return path


def _unescape(field: str) -> str:
    # /proc/self/mounts writes space, tab, newline and backslash as octal escapes.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)
