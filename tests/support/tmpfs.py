"""TmpfsMount: a small tmpfs mounted on a directory, to play a storage pool that fills up.

Usage::

    from tests.support.tmpfs import tmpfs_or_skip

    with tmpfs_or_skip(workdir / "small-pool", size_bytes=512 * 1024) as mount:
        ...  # mount.path is a filesystem of that size; unmounted (and left empty) on exit

Mounting needs root (``mount -t tmpfs -o size=N tmpfs DIR``). Where it is not permitted the
test is skipped, and fails in CI (``tests/support/required.py``). Every command is bounded.
"""

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.required import required

COMMAND_TIMEOUT_S = 30.0


class TmpfsUnavailableError(RuntimeError):
    """tmpfs cannot be mounted here: not root, no mount program, or the kernel refused."""


class TmpfsMount:
    """Mount a tmpfs of ``size_bytes`` (rounded up to pages by the kernel) on ``path``."""

    def __init__(self, path: Path, *, size_bytes: int) -> None:
        self.path = path
        self.size_bytes = size_bytes
        self._mounted = False

    def start(self) -> None:
        """Create the directory and mount the tmpfs on it.

        Raises:
            TmpfsUnavailableError: not root, ``mount`` missing, or the mount failed.
        """
        mount = shutil.which("mount")
        if mount is None or shutil.which("umount") is None:
            raise TmpfsUnavailableError("mount/umount are not installed")
        if os.geteuid() != 0:
            raise TmpfsUnavailableError("mounting a tmpfs needs root")
        self.path.mkdir(parents=True, exist_ok=True)
        completed = subprocess.run(
            [mount, "-t", "tmpfs", "-o", f"size={self.size_bytes},mode=0755", "tmpfs", self.path],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if completed.returncode != 0:
            raise TmpfsUnavailableError(
                f"mount -t tmpfs on {self.path} failed: {completed.stderr.strip()}"
            )
        self._mounted = True

    def stop(self) -> None:
        """Unmount (lazily if busy); safe to call twice."""
        if not self._mounted:
            return
        umount = shutil.which("umount") or "umount"
        completed = subprocess.run(
            [umount, self.path],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if completed.returncode != 0:
            # Something still holds a file open: detach now, freed when it lets go.
            subprocess.run(
                [umount, "-l", self.path],
                capture_output=True,
                timeout=COMMAND_TIMEOUT_S,
                check=True,
            )
        self._mounted = False

    def available_bytes(self) -> int:
        """Bytes still free on the mounted filesystem."""
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize


@contextlib.contextmanager
def tmpfs_or_skip(path: Path, *, size_bytes: int) -> Iterator[TmpfsMount]:
    """Mount a tmpfs on ``path`` for the block; skip when not permitted, fail in CI."""
    with required(
        TmpfsMount(path, size_bytes=size_bytes),
        unavailable=TmpfsUnavailableError,
        what="a tmpfs mount",
    ) as mount:
        yield mount
