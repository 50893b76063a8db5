"""RbdClient: images of one RBD pool through the rbd, ceph and qemu-img CLIs (I/O)."""

import contextlib
import logging
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from kvmcloud.agent.host import commands
from kvmcloud.agent.host.commands import (
    CommandError,
    CommandFailedError,
    FeedCommand,
    ProcessFeed,
    RunCommand,
)
from kvmcloud.agent.rbd import cli
from kvmcloud.agent.rbd.cli import PoolCapacity, RbdAccess
from kvmcloud.agent.rbd.errors import (
    RbdError,
    RbdImageExistsError,
    RbdImageInUseError,
    RbdImageNotFoundError,
)

logger = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 120.0
# An import or conversion moves a whole image: allow for a slow cluster and a big image.
TRANSFER_TIMEOUT_S = 6 * 3600.0
# Images being written carry this prefix until they are complete, then are renamed: a
# half-written image never has its final name, and leftovers are easy to find.
PARTIAL_PREFIX = "kvmcloud-partial-"


class RbdClient:
    """One RBD pool, reached as ``access.user`` with the cephx ``key``.

    The key is written to a mode-0600 file in ``key_dir`` (a private temporary directory by
    default) for each call and removed afterwards: rbd, ceph and qemu-img read it from
    there (``--keyfile``, ``keyfile=``), so it never appears in a command line, where every
    user of the host could read it in /proc, nor in the logs.
    """

    def __init__(
        self,
        access: RbdAccess,
        key: str,
        *,
        run: RunCommand | None = None,
        feed: FeedCommand | None = None,
        key_dir: Path | None = None,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        if not key or any(char.isspace() for char in key):
            raise ValueError("the cephx key must be one non-empty word (base64)")
        self.access = access
        self._key = key
        # Looked up now, not at import: the test suite's guard replaces commands.run.
        self._run = run if run is not None else commands.run
        self._feed = feed if feed is not None else commands.feed
        self._key_dir = key_dir
        self._timeout_s = command_timeout_s

    # -- reading ---------------------------------------------------------------------------

    def images(self) -> list[str]:
        """Names of the pool's images."""
        out = self._rbd("ls", "--format", "json", self.access.pool, what="listing images")
        return cli.parse_image_names(out)

    def children(self, image: str, snapshot: str) -> list[str]:
        """``pool/image`` of every clone of ``image@snapshot``."""
        spec = self.access.spec(image, snapshot)
        out = self._rbd("children", "--format", "json", spec, what=f"listing clones of {spec}")
        return cli.parse_children(out)

    def snapshots(self, image: str) -> list[cli.Snapshot]:
        """The snapshots of ``image``, with whether each is protected."""
        spec = self.access.spec(image)
        out = self._rbd("snap", "ls", "--format", "json", spec, what=f"listing snapshots of {spec}")
        return cli.parse_snapshots(out)

    def image_size(self, image: str) -> int:
        """The provisioned size of ``image`` in bytes (``rbd info``).

        Raises:
            RbdImageNotFoundError: there is no such image.
        """
        spec = self.access.spec(image)
        out = self._rbd("info", "--format", "json", spec, what=f"inspecting {spec}")
        return cli.parse_image_size(out)

    def capacity(self) -> PoolCapacity:
        """Used and provisioned bytes (``rbd du``) and the capacity the cluster gives the pool.

        Capacity: used + ``ceph df``'s ``max_avail`` (needs a mgr, as every production
        cluster has), bounded by the pool quota from the OSD map; None with neither.
        """
        pool = self.access.pool
        usage = cli.parse_du(self._rbd("du", "--format", "json", "-p", pool, what="rbd du"))
        with self._keyfile() as keyfile:
            dump = self._call(cli.ceph_argv(self.access, keyfile, "osd", "dump"), "ceph osd dump")
            df = self._call(cli.ceph_argv(self.access, keyfile, "df"), "ceph df")
        return cli.pool_capacity(
            usage,
            quota_bytes=cli.parse_quota(dump, pool),
            available_bytes=cli.parse_df_available(df, pool),
        )

    # -- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def importing(
        self,
        image: str,
        *,
        timeout_s: float = TRANSFER_TIMEOUT_S,
        partial: str | None = None,
        before_publish: Callable[[], None] | None = None,
    ) -> Iterator[ProcessFeed]:
        """Yield the stdin of ``rbd import -`` for a raw image to become ``image``.

        ``before_publish`` runs once rbd has written the whole image and before the rename
        (a checksum check): if it raises, the image is removed and never published.

        The bytes go into a temporary image; only when the block ends normally and rbd
        succeeded is it renamed to ``image``. Any failure (an exception in the block, a
        failed import, a taken name) removes the temporary image: nothing is left behind.

        Raises:
            RbdImageExistsError: ``image`` exists already (checked first, and again by the
                rename).
            RbdError: rbd failed (the message has its stderr).
        """
        self._refuse_existing(image)
        partial = self._partial_name(partial)
        try:
            failure: BaseException | None = None
            with self._keyfile() as keyfile:
                argv = cli.rbd_argv(self.access, keyfile, *cli.import_args(self.access, partial))
                try:
                    with self._feed(argv, timeout_s=timeout_s) as process:
                        try:
                            yield process
                        except BaseException as exc:  # re-raised once rbd has exited
                            # End the import cleanly (EOF) rather than kill it: a killed
                            # rbd leaves a watch on the image that blocks its removal
                            # for about 30 s.
                            failure = exc
                except CommandError as exc:
                    if failure is not None:
                        raise failure from None
                    raise self._error(exc, f"importing {self.access.spec(image)}") from exc
            if failure is not None:
                raise failure
            if before_publish is not None:
                before_publish()
            self._rename(partial, image)
        except BaseException:
            self._remove_quietly(partial)
            raise

    def import_file(
        self,
        path: Path,
        source_format: str,
        image: str,
        *,
        timeout_s: float = TRANSFER_TIMEOUT_S,
        partial: str | None = None,
    ) -> None:
        """Convert the image file ``path`` (qcow2, raw…) into the raw RBD image ``image``.

        CloudStack's way (``qemu-img convert`` into ``rbd:``), kept for sources that are not
        raw. Written under a temporary name and renamed when complete, like :meth:`importing`.
        """
        cli.validate_name(source_format, what="source format")
        self._refuse_existing(image)
        partial = self._partial_name(partial)
        try:
            with self._keyfile() as keyfile:
                target = cli.qemu_rbd_target(self.access, partial, keyfile)
                argv = cli.convert_argv(path, source_format, target)
                self._call(
                    argv,
                    f"converting {path.name} into {self.access.spec(image)}",
                    timeout_s=timeout_s,
                )
            self._rename(partial, image)
        except BaseException:
            self._remove_quietly(partial)
            raise

    def protect_snapshot(self, image: str, snapshot: str) -> None:
        """Create ``image@snapshot`` and protect it, so clones can be made of it."""
        spec = self.access.spec(image, snapshot)
        self._rbd("snap", "create", spec, what=f"creating snapshot {spec}")
        self.protect(image, snapshot)

    def protect(self, image: str, snapshot: str) -> None:
        """Protect the existing ``image@snapshot``."""
        spec = self.access.spec(image, snapshot)
        self._rbd("snap", "protect", spec, what=f"protecting snapshot {spec}")

    def create(self, image: str, size_bytes: int) -> None:
        """Create the empty format-2 image ``image`` of ``size_bytes``."""
        spec = self.access.spec(image)
        self._rbd(
            "create", "--image-format", "2", "--size", f"{size_bytes}B", spec,
            what=f"creating {spec}",
        )  # fmt: skip

    def resize(self, image: str, size_bytes: int) -> None:
        """Grow ``image`` to ``size_bytes`` (never shrinks: rbd refuses without a flag)."""
        spec = self.access.spec(image)
        self._rbd(
            "resize", "--no-progress", "--size", f"{size_bytes}B", spec, what=f"resizing {spec}"
        )

    def clone(self, image: str, snapshot: str, child: str) -> None:
        """Make ``child`` a copy-on-write clone of the protected ``image@snapshot``."""
        parent = self.access.spec(image, snapshot)
        target = self.access.spec(child)
        self._rbd("clone", parent, target, what=f"cloning {parent} to {target}")

    def remove(self, image: str) -> None:
        """Remove ``image`` with its snapshots; refuse while any snapshot has clones.

        A template image is never removed from under the VM disks cloned from it: its
        snapshots are checked with ``rbd children`` first (rbd itself would also refuse
        to unprotect such a snapshot, but after removing the others).

        Raises:
            RbdImageNotFoundError: there is no such image.
            RbdImageInUseError: clones depend on it (``children`` lists them).
        """
        spec = self.access.spec(image)
        snapshots = self.snapshots(image)
        dependants = [
            child for snapshot in snapshots for child in self.children(image, snapshot.name)
        ]
        if dependants:
            raise RbdImageInUseError(
                f"{spec} is not removed: {len(dependants)} clone(s) depend on it "
                f"({', '.join(dependants[:5])})",
                dependants,
            )
        for snapshot in snapshots:
            snap_spec = self.access.spec(image, snapshot.name)
            if snapshot.protected:
                self._rbd("snap", "unprotect", snap_spec, what=f"unprotecting {snap_spec}")
            self._rbd("snap", "rm", "--no-progress", snap_spec, what=f"removing {snap_spec}")
        self._rbd("rm", "--no-progress", spec, what=f"removing {spec}")

    def remove_partials(self) -> list[str]:
        """Remove images left half-written by an earlier run (agent crash); return them."""
        removed = []
        for name in self.images():
            if name.startswith(PARTIAL_PREFIX):
                self._remove_quietly(name)
                removed.append(name)
        return removed

    # -- helpers ---------------------------------------------------------------------------

    def _refuse_existing(self, image: str) -> None:
        if image in self.images():
            raise RbdImageExistsError(f"{self.access.spec(image)} exists already")

    def _rename(self, source: str, target: str) -> None:
        self._rbd(
            "rename",
            self.access.spec(source),
            self.access.spec(target),
            what=f"publishing {self.access.spec(target)}",
        )

    def _remove_quietly(self, image: str) -> None:
        try:
            self._rbd("rm", "--no-progress", self.access.spec(image), what=f"removing {image}")
        except RbdImageNotFoundError:
            pass
        except RbdError as exc:
            logger.warning("could not remove the partial RBD image %s: %s", image, exc)

    def _partial_name(self, given: str | None = None) -> str:
        if given is not None:
            if not given.startswith(PARTIAL_PREFIX):
                raise ValueError(f"a partial image name must start with {PARTIAL_PREFIX}")
            return cli.validate_name(given, what="partial image")
        return f"{PARTIAL_PREFIX}{secrets.token_hex(8)}"

    def _rbd(self, *args: str, what: str) -> bytes:
        with self._keyfile() as keyfile:
            return self._call(cli.rbd_argv(self.access, keyfile, *args), what)

    def _call(self, argv: list[str], what: str, *, timeout_s: float | None = None) -> bytes:
        try:
            return self._run(argv, timeout_s=timeout_s or self._timeout_s).stdout
        except CommandError as exc:
            raise self._error(exc, what) from exc

    def _error(self, exc: CommandError, what: str) -> RbdError:
        if isinstance(exc, CommandFailedError):
            detail = cli.error_excerpt(exc.stderr or exc.stdout, [self._key])
            message = f"{what} failed: {detail}"
            if cli.is_not_found(exc.stderr):
                return RbdImageNotFoundError(message)
            if cli.is_exists(exc.stderr):
                return RbdImageExistsError(message)
            return RbdError(message)
        return RbdError(f"{what} failed: {str(exc).replace(self._key, '***')}")

    @contextlib.contextmanager
    def _keyfile(self) -> Iterator[Path]:
        # mkstemp creates the file with mode 0600, readable by this user only.
        fd, name = tempfile.mkstemp(prefix="kvmcloud-cephx-", dir=self._key_dir)
        path = Path(name)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(self._key)
            yield path
        finally:
            path.unlink(missing_ok=True)
