"""MountedNfsPool: a NetworkFilesystem pool in mount mode, a directory pool on <base>/<uuid>.

The agent mounts the export itself (``mount -t nfs``) at the pool's mount point when a
command or check first needs it, then uses it as any directory pool. Every probe of the
mounted file system (the check, space, listing, cleanup, deletion, opening a file) runs
through ``run_bounded``: on a hung or stale mount those calls block in the kernel, so the
caller stops waiting after the probe timeout and the pool is reported unavailable, while
heartbeats and other commands go on. Writing a download's data is not bounded this way:
it runs in a command thread, under the download's own timeouts.
"""

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from kvmcloud.agent.bounded import CallTimedOutError, run_bounded
from kvmcloud.agent.errors import BadCommandError, PoolUnavailableError
from kvmcloud.agent.host.commands import CommandError, RunCommand
from kvmcloud.agent.host.commands import run as run_command
from kvmcloud.agent.nfs_modes import (
    MOUNT_TIMEOUT_S,
    NfsAccess,
    NfsMode,
    choose_mode,
    mount_command,
    mount_point,
    mount_source,
    mounted_source,
)
from kvmcloud.agent.pool_files import PublishedNames
from kvmcloud.agent.pools import PartialCleanup, StoragePool
from kvmcloud.protocol.agent_messages import PoolReport, PoolSpec

logger = logging.getLogger(__name__)

PROC_MOUNTS = Path("/proc/self/mounts")
PROC_FILESYSTEMS = Path("/proc/filesystems")
_MODPROBE_TIMEOUT_S = 10.0

T = TypeVar("T")


def detect_access(
    setting: NfsMode,
    *,
    mount_base: Path,
    probe_timeout_s: float,
    run: RunCommand = run_command,
) -> NfsAccess:
    """Look at this host's NFS client and return the access mode it uses (see ``choose_mode``)."""
    try:
        filesystems = PROC_FILESYSTEMS.read_text(encoding="utf-8")
    except OSError:
        filesystems = ""
    mount_helper = any(shutil.which(n) for n in ("mount.nfs", "/sbin/mount.nfs"))
    module_loadable = False
    if setting == NfsMode.AUTO and mount_helper and "nfs" not in filesystems:
        try:
            run(["modprobe", "-n", "nfs"], timeout_s=_MODPROBE_TIMEOUT_S)
            module_loadable = True
        except CommandError:
            module_loadable = False
    mode, reason = choose_mode(
        setting,
        proc_filesystems=filesystems,
        module_loadable=module_loadable,
        mount_helper=mount_helper,
    )
    return NfsAccess(
        mode=mode, reason=reason, mount_base=mount_base, probe_timeout_s=probe_timeout_s
    )


class MountedNfsPool(StoragePool):
    """One NetworkFilesystem pool reached through a kernel NFS mount on this host."""

    def __init__(
        self,
        spec: PoolSpec,
        *,
        access: NfsAccess,
        run: RunCommand,
        mounts_file: Path = PROC_MOUNTS,
    ) -> None:
        if not spec.server:
            raise BadCommandError(f"NetworkFilesystem pool {spec.uuid} comes without a server")
        if not spec.path.startswith("/"):
            raise BadCommandError(f"NetworkFilesystem pool {spec.uuid}: export must be absolute")
        super().__init__(spec)
        try:
            self.path = mount_point(access.mount_base, spec.uuid)
        except ValueError as exc:
            raise BadCommandError(str(exc)) from exc
        self.server = spec.server
        self._source = mount_source(spec.server, spec.path)
        self._timeout_s = access.probe_timeout_s
        self._run = run
        self._mounts_file = mounts_file

    # --- mounting -----------------------------------------------------------------------

    def ensure_mounted(self) -> None:
        """Mount the export on the pool's mount point unless it is mounted there already.

        Raises:
            PoolUnavailableError: something else is mounted there, or the mount failed or
                did not finish in time.
        """
        current = mounted_source(self._mounts_file.read_text(encoding="utf-8"), self.path)
        if current is not None:
            if current.rstrip("/") != self._source.rstrip("/"):
                raise PoolUnavailableError(
                    f"{self.path} holds {current}, not {self._source} of pool {self.spec.uuid}"
                )
            return
        argv = mount_command(self.server, self.spec.path, self.path)

        def mount() -> None:
            self.path.mkdir(mode=0o755, parents=True, exist_ok=True)
            self._run(argv, timeout_s=MOUNT_TIMEOUT_S)

        try:
            # mount(8) itself can sit in the kernel on a dead server: bound the wait too.
            run_bounded(mount, timeout_s=MOUNT_TIMEOUT_S + 5, name=f"mount-{self.spec.uuid}")
        except (CommandError, OSError, CallTimedOutError) as exc:
            raise PoolUnavailableError(
                f"cannot mount {self._source} on {self.path} for pool {self.spec.uuid}: {exc}"
            ) from exc
        logger.info("mounted %s on %s for pool %s", self._source, self.path, self.spec.uuid)

    def url(self, name: str) -> str:
        """The ``nfs://`` URL of published file ``name``, as user-space mode names it."""
        return f"nfs://{self.server}{self.spec.path.rstrip('/')}/{name}"

    def publish_download(self, temp: Path, install_name: str) -> tuple[str, int]:
        """Install a verified download on the mount; return its ``nfs://`` URL and size.

        The copy is recorded once for the pool, whatever host made it: the URL names it the
        same for every host and mode, where the mount point path is this host's own.
        """
        _local, size = super().publish_download(temp, install_name)
        return self.url(install_name), size

    # --- bounded probes -----------------------------------------------------------------

    def check(self) -> PoolReport:
        """Mount if needed, then check the directory as any pool, within the probe timeout."""
        report = self._probe(super().check, "check")
        return report

    def usage(self) -> tuple[int, int]:
        """Capacity and available bytes of the mounted export, within the probe timeout."""
        return self._probe(super().usage, "read the space of")

    def available_bytes(self) -> int:
        """Bytes still available on the mounted export, within the probe timeout."""
        return self._probe(super().available_bytes, "read the space of")

    def temp_path(self, install_name: str, attempt_id: str) -> Path:
        """A work file in the pool's partial directory (created within the probe timeout)."""
        parent = super().temp_path
        return self._probe(lambda: parent(install_name, attempt_id), "prepare a file in")

    def delete_file(self, name: str) -> bool:
        """Delete a published file, within the probe timeout (see ``StoragePool``)."""
        parent = super().delete_file
        return self._probe(lambda: parent(name), "delete a file from")

    def open_published(self, name: str, size_bytes: int) -> BinaryIO:
        """Open a published file for reading, within the probe timeout."""
        parent = super().open_published
        return self._probe(lambda: parent(name, size_bytes), "open a file in")

    def published_files(self, *, limit: int, max_entries: int) -> PublishedNames:
        """List published files (see ``StoragePool``), within the probe timeout."""
        parent = super().published_files
        return self._probe(lambda: parent(limit=limit, max_entries=max_entries), "list")

    def remove_own_partials(self, host_tag: str, *, max_entries: int) -> PartialCleanup:
        """Remove this host's stale partial files, within the probe timeout."""
        parent = super().remove_own_partials
        return self._probe(lambda: parent(host_tag, max_entries=max_entries), "clean")

    def _probe(self, work: Callable[[], T], what: str) -> T:
        self.ensure_mounted()
        try:
            return run_bounded(work, timeout_s=self._timeout_s, name=f"nfs-{self.spec.uuid}")
        except CallTimedOutError:
            raise PoolUnavailableError(
                f"cannot {what} NetworkFilesystem pool {self.spec.uuid}: {self._source} "
                f"mounted on {self.path} did not answer within {self._timeout_s:g} s "
                "(server down or mount hung)"
            ) from None
