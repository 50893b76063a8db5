"""NfsStoragePool: a NetworkFilesystem pool in user-space mode (libnfs, no mount); open_pool.

The host has no mount of the export: every operation mounts it in user space through
``NfsExport`` (libnfs) for its duration. Files keep the same layout as directory pools
(published names at the top, ``.kvmcloud-partial/`` for work in progress), so
``pool_files`` rules (partial names, host tags, published names) apply unchanged.

Downloads are received into a local spool file first (``temp_path``), verified and
inspected there by the engine, then copied to ``.kvmcloud-partial/`` on the export and
renamed to the final name: a failed transfer never publishes anything. Streaming straight
into the export is left for later; the local copy costs one extra local write.

Every call that reaches the server is bounded: libnfs's RPC timeout bounds each call, and
``check`` runs in a worker thread the caller stops waiting for, so a dead or hung server
makes the pool unavailable, never blocks a heartbeat or command thread for long.
"""

import logging
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

from kvmcloud.agent.errors import BadCommandError, PoolUnavailableError
from kvmcloud.agent.host.commands import RunCommand
from kvmcloud.agent.host.commands import run as run_command
from kvmcloud.agent.local_spool import LocalSpool
from kvmcloud.agent.nfs_export import NfsExport, NfsExportError
from kvmcloud.agent.nfs_modes import USERSPACE_ACCESS, NfsAccess, NfsMode
from kvmcloud.agent.nfs_mount import MountedNfsPool
from kvmcloud.agent.pool_files import (
    PARTIAL_SUFFIX,
    PublishedNames,
    is_own_partial,
    select_published,
)
from kvmcloud.agent.pools import PARTIAL_DIR_NAME, PartialCleanup, StoragePool, validate_file_name
from kvmcloud.protocol.agent_messages import PoolReport, PoolSpec, PoolType

logger = logging.getLogger(__name__)

NFS_TIMEOUT_S = 10.0
COPY_CHUNK_BYTES = 4 * 1024 * 1024
DEFAULT_SPOOL_DIR = Path(tempfile.gettempdir()) / "kvmcloud-nfs-spool"
_PROBE_PREFIX = f"{PARTIAL_DIR_NAME}/probe-"

T = TypeVar("T")


def open_pool(
    spec: PoolSpec, access: NfsAccess = USERSPACE_ACCESS, *, run: RunCommand = run_command
) -> "StoragePool | NfsStoragePool":
    """Return the pool implementation for ``spec``'s type (and, for NFS, this host's mode).

    A NetworkFilesystem pool in mount mode is a directory pool on its mount point
    (``MountedNfsPool``); in user-space mode it is reached through libnfs.
    ``pool_kinds.open_pool`` opens any pool.

    Raises:
        BadCommandError: an RBD pool, which holds images, not files.
    """
    if spec.type == PoolType.RBD:
        raise BadCommandError(f"pool {spec.uuid} is an RBD pool, not a file pool")
    if spec.type == PoolType.NETWORK_FILESYSTEM:
        if access.mode == NfsMode.MOUNT:
            return MountedNfsPool(spec, access=access, run=run)
        return NfsStoragePool(spec)
    return StoragePool(spec)


class NfsStoragePool:
    """One NetworkFilesystem pool: export ``spec.path`` on server ``spec.server``."""

    def __init__(
        self,
        spec: PoolSpec,
        *,
        timeout_s: float = NFS_TIMEOUT_S,
        spool_dir: Path = DEFAULT_SPOOL_DIR,
    ) -> None:
        if not spec.server:
            raise BadCommandError(f"NetworkFilesystem pool {spec.uuid} comes without a server")
        if not spec.path.startswith("/"):
            raise BadCommandError(f"NetworkFilesystem pool {spec.uuid}: export must be absolute")
        self.spec = spec
        self.server = spec.server
        self.path = Path(spec.path)
        self._timeout_s = timeout_s
        self._spool = LocalSpool(spool_dir, spec.uuid)

    def url(self, name: str) -> str:
        """The ``nfs://`` URL of published file ``name`` (what QEMU and libvirt open)."""
        return f"nfs://{self.server}{self.spec.path.rstrip('/')}/{name}"

    # --- checks and space ---------------------------------------------------------------

    def check(self) -> PoolReport:
        """Mount the export, prove it writable, report its space; bounded by the timeout.

        Raises:
            PoolUnavailableError: the server does not answer in time, refuses the mount,
                or the export is not writable.
        """
        # A name of its own: checks run at once, from commands, pool checks and other hosts,
        # and one removing a shared probe file under another's write fails it (NFS3ERR_STALE).
        probe_name = f"{_PROBE_PREFIX}{uuid.uuid4().hex}"

        def probe(nfs: NfsExport) -> PoolReport:
            nfs.mkdir(PARTIAL_DIR_NAME)
            nfs.write_new(probe_name, [b"kvmcloud"])
            nfs.unlink(probe_name)
            space = nfs.space()
            return PoolReport(
                uuid=self.spec.uuid,
                capacity_bytes=space.capacity_bytes,
                available_bytes=space.available_bytes,
            )

        return self._bounded(probe, "check")

    def usage(self) -> tuple[int, int]:
        """Return the export's capacity and available bytes; bounded by the timeout.

        Raises:
            PoolUnavailableError: the server did not answer in time or refused.
        """

        def read(nfs: NfsExport) -> tuple[int, int]:
            space = nfs.space()
            return space.capacity_bytes, space.available_bytes

        return self._bounded(read, "read the space of")

    def available_bytes(self) -> int:
        """Return the bytes an unprivileged writer may still use on the export."""
        return self._bounded(lambda nfs: nfs.space().available_bytes, "read the space of")

    # --- downloads ----------------------------------------------------------------------

    def temp_path(self, install_name: str, attempt_id: str) -> Path:
        """Return a local spool file for one download attempt, creating its directory."""
        return self._spool.temp_path(install_name, attempt_id)

    def publish_download(self, temp: Path, install_name: str) -> tuple[str, int]:
        """Copy the verified spool file ``temp`` to the export, atomically; return URL, size.

        The copy goes to ``.kvmcloud-partial/<temp's name>`` (it carries the attempt's
        host tag) and is renamed to ``install_name`` only once complete and fsynced.
        """
        validate_file_name(install_name, what="install name")
        partial = f"{PARTIAL_DIR_NAME}/{temp.name}"

        def chunks() -> Iterator[bytes]:
            with temp.open("rb") as source:
                while chunk := source.read(COPY_CHUNK_BYTES):
                    yield chunk

        try:
            with self._mounted() as nfs:
                nfs.mkdir(PARTIAL_DIR_NAME)
                size = nfs.publish(partial, install_name, chunks())
        except NfsExportError as exc:
            raise self._unavailable("publish a template in", exc) from exc
        logger.info("installed %s in pool %s", self.url(install_name), self.spec.uuid)
        return self.url(install_name), size

    # --- files --------------------------------------------------------------------------

    def stat_published(self, name: str) -> int | None:
        """Return the size of regular file ``name``, None if absent.

        Raises:
            BadCommandError: ``name`` is unsafe or names something other than a file.
        """
        validate_file_name(name, what="file name")
        try:
            with self._mounted() as nfs:
                stats = nfs.stat(name)
        except NfsExportError as exc:
            raise self._unavailable("stat a file in", exc) from exc
        if stats is None:
            return None
        if not stats.is_regular:
            raise BadCommandError(f"{self.url(name)} is not a regular file")
        return stats.size_bytes

    def rename_into_place(self, partial: str, name: str) -> bool:
        """Rename ``partial`` (a path in the export) to ``name`` unless ``name`` exists.

        Returns False, removing ``partial``, when ``name`` already exists: a concurrent
        request published it first.
        """
        validate_file_name(name, what="file name")
        try:
            with self._mounted() as nfs:
                if nfs.stat(name) is not None:
                    nfs.unlink(partial)
                    return False
                nfs.rename(partial, name)
        except NfsExportError as exc:
            raise self._unavailable("publish a file in", exc) from exc
        return True

    def remove_partial(self, partial: str) -> None:
        """Remove a work file of ``.kvmcloud-partial/``, logging (not raising) a failure."""
        try:
            with self._mounted() as nfs:
                nfs.unlink(partial)
        except (NfsExportError, PoolUnavailableError) as exc:
            logger.error("could not remove %s from pool %s: %s", partial, self.spec.uuid, exc)

    def delete_file(self, name: str) -> bool:
        """Delete published file ``name``; return whether it existed.

        Raises:
            BadCommandError: ``name`` is unsafe or a directory.
            PoolUnavailableError: the export cannot be reached or the file not removed.
        """
        validate_file_name(name, what="file name")
        try:
            with self._mounted() as nfs:
                stats = nfs.stat(name)
                if stats is None:
                    return False
                if stats.is_directory:
                    raise BadCommandError(f"{self.url(name)} is a directory, not a pool file")
                nfs.unlink(name)
        except NfsExportError as exc:
            raise self._unavailable("delete a file from", exc) from exc
        logger.info("deleted %s from pool %s", self.url(name), self.spec.uuid)
        return True

    def open_published(self, name: str, size_bytes: int) -> BinaryIO:
        """Not offered yet for NetworkFilesystem pools (template extraction reads files)."""
        raise PoolUnavailableError(
            f"reading files of NetworkFilesystem pool {self.spec.uuid} through the agent is "
            "not supported yet"
        )

    def published_files(self, *, limit: int, max_entries: int) -> PublishedNames:
        """List published files at the export's top level (see ``select_published``).

        Raises:
            PoolUnavailableError: unreachable, or not a kvmcloud pool (no partial directory).
        """

        def listing(nfs: NfsExport) -> PublishedNames:
            marker = nfs.stat(PARTIAL_DIR_NAME)
            if marker is None or not marker.is_directory:
                raise PoolUnavailableError(
                    f"pool {self.spec.uuid} at {self.url('')} has no {PARTIAL_DIR_NAME} "
                    "directory: nothing was ever downloaded to it"
                )
            entries = nfs.list_directory(max_entries=max_entries)
            published = select_published(iter(entries), limit=limit)
            if len(entries) >= max_entries and not published.truncated:
                return PublishedNames(published.names, truncated=True)
            return published

        return self._bounded(listing, "list")

    def remove_own_partials(self, host_tag: str, *, max_entries: int) -> PartialCleanup:
        """Remove the partial files tagged ``host_tag`` from the export and the local spool."""
        removed = foreign = failed = 0
        try:
            with self._mounted() as nfs:
                if nfs.stat(PARTIAL_DIR_NAME) is None:
                    entries: list[tuple[str, bool]] = []
                else:
                    entries = nfs.list_directory(PARTIAL_DIR_NAME, max_entries=max_entries)
                for name, is_regular in entries:
                    if not name.endswith(PARTIAL_SUFFIX):
                        continue
                    if not is_own_partial(name, host_tag):
                        foreign += 1
                        continue
                    if not is_regular:
                        continue
                    try:
                        nfs.unlink(f"{PARTIAL_DIR_NAME}/{name}")
                    except NfsExportError as exc:
                        failed += 1
                        logger.error("could not remove stale partial file %s: %s", name, exc)
                        continue
                    removed += 1
        except NfsExportError as exc:
            raise self._unavailable("clean", exc) from exc
        spooled = self._spool.remove_own_partials(host_tag, max_entries=max_entries)
        removed += spooled.removed
        failed += spooled.failed
        return PartialCleanup(removed=removed, foreign=foreign, failed=failed)

    # --- plumbing -----------------------------------------------------------------------

    def _mounted(self) -> NfsExport:
        return NfsExport(self.server, self.spec.path, timeout_s=self._timeout_s)

    def _unavailable(self, what: str, exc: Exception) -> PoolUnavailableError:
        return PoolUnavailableError(
            f"cannot {what} NetworkFilesystem pool {self.spec.uuid} "
            f"({self.server}:{self.spec.path}): {exc}"
        )

    def _bounded(self, work: Callable[[NfsExport], T], what: str) -> T:
        """Run ``work`` on a mounted export in a worker thread; give up after the timeout.

        A worker stuck on a hung server is left behind (a daemon thread, itself bounded by
        libnfs's RPC timeout), so the caller always gets an answer in time.
        """
        outcome: list[T] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with self._mounted() as nfs:
                    outcome.append(work(nfs))
            except BaseException as exc:  # handed to the waiting thread
                failure.append(exc)

        worker = threading.Thread(target=run, name=f"nfs-{what}-{self.spec.uuid}", daemon=True)
        worker.start()
        # Mount plus a few RPCs: allow each its timeout once, bounded overall.
        worker.join(self._timeout_s * 2)
        if worker.is_alive():
            raise PoolUnavailableError(
                f"NetworkFilesystem pool {self.spec.uuid} ({self.server}:{self.spec.path}) did "
                f"not answer within {self._timeout_s * 2:g} s"
            )
        if failure:
            exc = failure[0]
            if isinstance(exc, NfsExportError):
                raise self._unavailable(what, exc) from exc
            raise exc
        return outcome[0]
