"""A shared pool's local spool: where a download is verified before it goes onto the pool."""

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kvmcloud.agent.errors import PoolUnavailableError
from kvmcloud.agent.pool_files import PARTIAL_SUFFIX, is_own_partial
from kvmcloud.agent.pools import validate_file_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpoolCleanup:
    """What removing an agent's own spool leftovers did."""

    removed: int
    failed: int


class LocalSpool:
    """One directory per pool on the host's own disk, holding attempts' partial files.

    NFS (user-space mode) and RBD pools verify and inspect a download here before copying
    or converting it onto the shared storage, which is never written unverified.
    """

    def __init__(self, root: Path, pool_uuid: str) -> None:
        self.directory = root / pool_uuid
        self._pool_uuid = pool_uuid

    def temp_path(self, install_name: str, attempt_id: str) -> Path:
        """Return the spool file of one download attempt, creating the directory (0700).

        Raises:
            BadCommandError: an unsafe install name or attempt id.
            PoolUnavailableError: the directory cannot be created.
        """
        validate_file_name(install_name, what="install name")
        validate_file_name(attempt_id, what="attempt id")
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise PoolUnavailableError(
                f"cannot create the local spool {self.directory} for pool {self._pool_uuid}: "
                f"{exc.strerror}"
            ) from exc
        return self.directory / f"{install_name}.{attempt_id}{PARTIAL_SUFFIX}"

    def remove_own_partials(self, host_tag: str, *, max_entries: int) -> SpoolCleanup:
        """Remove this agent's partial spool files (another agent's are not here, but are kept)."""
        removed = failed = 0
        for index, entry in enumerate(_scan(self.directory)):
            if index >= max_entries:
                break
            if is_own_partial(entry.name, host_tag):
                try:
                    os.unlink(entry.path)
                    removed += 1
                except OSError as exc:
                    failed += 1
                    logger.error("could not remove stale spool file %s: %s", entry.path, exc)
        return SpoolCleanup(removed=removed, failed=failed)


def _scan(directory: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as listing:
            yield from listing
    except FileNotFoundError:
        return
