"""StoragePool: a pool directory's checks, space, temp files, install, reads, removal, listing."""

import errno
import itertools
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kvmcloud.agent.errors import BadCommandError, PoolFileMismatchError, PoolUnavailableError
from kvmcloud.agent.pool_files import (
    PARTIAL_SUFFIX,
    PublishedNames,
    is_own_partial,
    select_published,
)
from kvmcloud.protocol.agent_messages import PoolReport, PoolSpec

logger = logging.getLogger(__name__)

PARTIAL_DIR_NAME = ".kvmcloud-partial"
_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")
_MAX_NAME_CHARS = 200


def validate_file_name(name: str, *, what: str) -> str:
    """Return ``name`` if it is a safe single file name, else raise BadCommandError.

    Names come from the server, so they must never escape the pool: only letters, digits,
    ``.``, ``_`` and ``-``; no leading dot (hidden files and ``..``) and no ``..`` inside.

    Raises:
        BadCommandError: the name is empty, too long or has other characters.
    """
    if (
        not _SAFE_NAME.fullmatch(name)
        or name.startswith(".")
        or ".." in name
        or len(name) > _MAX_NAME_CHARS
    ):
        raise BadCommandError(
            f"{what} {name!r} is not allowed: use 1-{_MAX_NAME_CHARS} characters from "
            "A-Z a-z 0-9 . _ -, not starting with '.' and without '..'"
        )
    return name


class StoragePool:
    """One primary storage pool: a directory on this host.

    Downloads are written under ``<pool>/.kvmcloud-partial/`` so the final rename stays on
    one filesystem (atomic), and half-written files never carry a final name.
    """

    def __init__(self, spec: PoolSpec) -> None:
        self.spec = spec
        self.path = Path(spec.path)

    def check(self) -> PoolReport:
        """Check the pool is usable and report its capacity.

        Raises:
            PoolUnavailableError: the path is relative, missing, not a directory, or not
                writable; the message says which.
        """
        where = f"pool {self.spec.uuid} path {str(self.path)!r}"
        if not self.path.is_absolute():
            raise PoolUnavailableError(f"{where} is not an absolute path")
        if not self.path.exists():
            raise PoolUnavailableError(f"{where} does not exist on this host")
        if not self.path.is_dir():
            raise PoolUnavailableError(f"{where} is not a directory")
        # os.access() says yes to root even on a read-only mount, so really create a file.
        try:
            with tempfile.TemporaryFile(dir=self.path, prefix=".kvmcloud-probe-"):
                pass
        except OSError as exc:
            raise PoolUnavailableError(f"{where} is not writable: {exc.strerror}") from exc
        capacity_bytes, available_bytes = self._statvfs()
        return PoolReport(
            uuid=self.spec.uuid, capacity_bytes=capacity_bytes, available_bytes=available_bytes
        )

    def usage(self) -> tuple[int, int]:
        """Return the pool's capacity and the bytes still available to it.

        Raises:
            PoolUnavailableError: the file system could not be asked.
        """
        return self._statvfs()

    def available_bytes(self) -> int:
        """Return the bytes an unprivileged writer may still use in the pool."""
        return self._statvfs()[1]

    def final_path(self, install_name: str) -> Path:
        """Return where ``install_name`` lives once published."""
        return self.path / validate_file_name(install_name, what="install name")

    def temp_path(self, install_name: str, attempt_id: str) -> Path:
        """Return a per-attempt temp file path in the pool, creating its directory.

        Raises:
            BadCommandError: ``install_name`` or ``attempt_id`` is not a safe file name.
            PoolUnavailableError: the partial directory cannot be created.
        """
        validate_file_name(install_name, what="install name")
        validate_file_name(attempt_id, what="attempt id")
        partial_dir = self.path / PARTIAL_DIR_NAME
        try:
            partial_dir.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise PoolUnavailableError(
                f"cannot create {partial_dir} in pool {self.spec.uuid}: {exc.strerror}"
            ) from exc
        return partial_dir / f"{install_name}.{attempt_id}{PARTIAL_SUFFIX}"

    def install(self, temp: Path, install_name: str, *, overwrite: bool = True) -> Path:
        """Publish ``temp`` as ``<pool>/<install_name>`` atomically and durably.

        The data is flushed before the rename and the directory after it, so after a crash
        the final name holds either nothing or the complete file. With ``overwrite=False``
        an existing file is kept and FileExistsError raised (``temp`` is left in place).
        """
        final = self.final_path(install_name)
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(temp, final)
        else:
            # link() fails if the name exists, where rename() would silently replace it.
            os.link(temp, final)
            os.unlink(temp)
        _fsync_directory(self.path)
        logger.info("installed %s in pool %s", final, self.spec.uuid)
        return final

    def publish_download(self, temp: Path, install_name: str) -> tuple[str, int]:
        """Install a verified download (see ``install``); return its path and size."""
        final = self.install(temp, install_name)
        return str(final), final.stat().st_size

    def delete_file(self, name: str) -> bool:
        """Delete ``<pool>/<name>``; return whether there was such a file.

        The pool itself is checked first, so an unmounted pool is reported as unavailable
        rather than as a file that was already gone.

        Raises:
            BadCommandError: ``name`` is not a safe file name, or names a directory.
            PoolUnavailableError: the pool is unusable or the file cannot be removed.
        """
        path = self.path / validate_file_name(name, what="file name")
        self.check()
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except IsADirectoryError:
            raise BadCommandError(f"{path} is a directory, not a pool file") from None
        except OSError as exc:
            raise PoolUnavailableError(
                f"cannot delete {path} from pool {self.spec.uuid}: {exc.strerror}"
            ) from exc
        _fsync_directory(self.path)
        logger.info("deleted %s from pool %s", path, self.spec.uuid)
        return True

    def open_published(self, name: str, size_bytes: int) -> BinaryIO:
        """Open ``<pool>/<name>`` for reading, if it is a regular file of ``size_bytes``.

        A symbolic link is refused (it could point outside the pool), and so is a file whose
        size differs from the one the server recorded when it verified the copy.

        Raises:
            BadCommandError: ``name`` is not a safe file name.
            PoolFileMismatchError: no such regular file, or it has another size.
            PoolUnavailableError: the file cannot be opened.
        """
        path = self.path / validate_file_name(name, what="file name")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise PoolFileMismatchError(f"{name} is not in pool {self.spec.uuid}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PoolFileMismatchError(f"{name} in pool {self.spec.uuid} is a link") from None
            raise PoolUnavailableError(
                f"cannot open {name} in pool {self.spec.uuid}: {exc.strerror}"
            ) from exc
        stats = os.fstat(fd)
        if not stat.S_ISREG(stats.st_mode) or stats.st_size != size_bytes:
            os.close(fd)
            raise PoolFileMismatchError(
                f"{name} in pool {self.spec.uuid} is not the {size_bytes}-byte file recorded"
            )
        return os.fdopen(fd, "rb", buffering=0)

    def remove_own_partials(self, host_tag: str, *, max_entries: int) -> "PartialCleanup":
        """Remove the partial files the agent tagged ``host_tag`` left in this pool.

        Only names carrying ``host_tag`` are touched: on a shared pool the other partial
        files may be another host's transfers, still running. At most ``max_entries``
        entries of the partial directory are looked at. A file that cannot be removed is
        logged and counted in ``failed``; the others are still removed.

        Raises:
            PoolUnavailableError: the partial directory exists but cannot be listed.
        """
        partial_dir = self.path / PARTIAL_DIR_NAME
        removed = foreign = failed = 0
        try:
            with os.scandir(partial_dir) as listing:
                for entry in itertools.islice(listing, max_entries):
                    if not entry.name.endswith(PARTIAL_SUFFIX):
                        continue
                    if not is_own_partial(entry.name, host_tag):
                        foreign += 1
                        continue
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    try:
                        os.unlink(entry.path)
                    except FileNotFoundError:
                        continue
                    except OSError as exc:
                        failed += 1
                        logger.error("could not remove stale partial file %s: %s", entry.path, exc)
                        continue
                    removed += 1
                    logger.info(
                        "removed stale partial file %s of pool %s", entry.path, self.spec.uuid
                    )
        except FileNotFoundError:
            return PartialCleanup(removed=0, foreign=0, failed=0)
        except OSError as exc:
            raise PoolUnavailableError(
                f"cannot list {partial_dir} of pool {self.spec.uuid}: {exc.strerror}"
            ) from exc
        return PartialCleanup(removed=removed, foreign=foreign, failed=failed)

    def published_files(self, *, limit: int, max_entries: int) -> PublishedNames:
        """List the published files at the pool's top level (see ``select_published``).

        Only a directory holding the partial directory is listed: every pool a template was
        downloaded to has one, while an empty mount point (the shared file system is not
        mounted) has none, and listing it would claim every file gone. At most
        ``max_entries`` entries are looked at; stopping there counts as truncated.

        Raises:
            PoolUnavailableError: the pool is missing, not a kvmcloud pool, or unreadable.
        """
        where = f"pool {self.spec.uuid} at {str(self.path)!r}"
        if not self.path.is_absolute():
            raise PoolUnavailableError(f"{where} is not an absolute path")
        if not (self.path / PARTIAL_DIR_NAME).is_dir():
            raise PoolUnavailableError(
                f"{where} has no {PARTIAL_DIR_NAME} directory: not mounted, or nothing was "
                "ever downloaded to it"
            )
        seen = 0

        def entries(listing: Iterator[os.DirEntry[str]]) -> Iterator[tuple[str, bool]]:
            nonlocal seen
            for entry in itertools.islice(listing, max_entries):
                seen += 1
                yield entry.name, _is_regular_file(entry)

        try:
            with os.scandir(self.path) as listing:
                published = select_published(entries(listing), limit=limit)
        except OSError as exc:
            raise PoolUnavailableError(f"cannot list {where}: {exc.strerror}") from exc
        if seen >= max_entries and not published.truncated:
            # The scan stopped before the end of the directory: later names are unknown.
            return PublishedNames(published.names, truncated=True)
        return published

    def _statvfs(self) -> tuple[int, int]:
        try:
            stats = os.statvfs(self.path)
        except OSError as exc:
            raise PoolUnavailableError(
                f"cannot read the capacity of pool {self.spec.uuid} at {self.path}: {exc.strerror}"
            ) from exc
        return stats.f_blocks * stats.f_frsize, stats.f_bavail * stats.f_frsize


@dataclass(frozen=True, slots=True, kw_only=True)
class PartialCleanup:
    """What one pass over a partial directory did."""

    removed: int
    # Partial files of other hosts (or of untagged, older attempts): left alone.
    foreign: int
    failed: int


def _is_regular_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        # A file that cannot even be stat'ed is not one a VM could use.
        return False


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
