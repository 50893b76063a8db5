"""RbdStoragePool: an RBD pool as the agent's commands use it (check, list, delete, clean up).

Templates are images named by their install name, with a protected snapshot
``TEMPLATE_SNAPSHOT`` that VM disks are cloned from; volumes are images named by the
volume's path. Images being written are named ``kvmcloud-partial-<attempt id>``: the
attempt id carries the host tag (``pool_files``), so an agent restarting after a crash
removes its own leftovers and never another host's.

Every call is bounded by a subprocess timeout (``check_timeout_s`` for the calls a
heartbeat or a pool check makes): a dead monitor makes the pool unavailable, it never
blocks the agent.
"""

import logging
import tempfile
from pathlib import Path
from typing import BinaryIO

from kvmcloud.agent.errors import BadCommandError, PoolUnavailableError
from kvmcloud.agent.local_spool import LocalSpool
from kvmcloud.agent.pool_files import HOST_TAG, PublishedNames
from kvmcloud.agent.pools import PartialCleanup, validate_file_name
from kvmcloud.agent.rbd.cli import RbdAccess, RbdOutputError, parse_monitors
from kvmcloud.agent.rbd.client import PARTIAL_PREFIX, RbdClient
from kvmcloud.agent.rbd.errors import RbdError, RbdImageInUseError, RbdImageNotFoundError
from kvmcloud.protocol.agent_messages import PoolReport, PoolSpec, PoolType

logger = logging.getLogger(__name__)

# The snapshot of a template image its clones are made from (CloudStack names it
# "cloudstack-base-snap"; any fixed name does).
TEMPLATE_SNAPSHOT = "kvmcloud-base"
# A pool check, a listing or a capacity read: a live cluster answers in well under a
# second; a dead monitor must not hold a heartbeat for long.
CHECK_TIMEOUT_S = 20.0
VOLUME_TIMEOUT_S = 120.0
DEFAULT_SPOOL_DIR = Path(tempfile.gettempdir()) / "kvmcloud-rbd-spool"


def rbd_access(spec: PoolSpec) -> tuple[RbdAccess, str]:
    """Return where the RBD pool of ``spec`` is, and its cephx key.

    Raises:
        BadCommandError: the spec lacks a monitor, user or key, or one is malformed.
    """
    if spec.type != PoolType.RBD:
        raise BadCommandError(f"pool {spec.uuid} is {spec.type}, not RBD")
    if not spec.server or not spec.user or not spec.secret:
        raise BadCommandError(f"RBD pool {spec.uuid} comes without monitor, user or key")
    try:
        return RbdAccess(parse_monitors(spec.server), spec.path, spec.user), spec.secret
    except ValueError as exc:
        raise BadCommandError(f"RBD pool {spec.uuid}: {exc}") from exc


def partial_image_name(attempt_id: str) -> str:
    """The temporary image name of one transfer attempt (it carries the host tag)."""
    validate_file_name(attempt_id, what="attempt id")
    return f"{PARTIAL_PREFIX}{attempt_id}"


class RbdStoragePool:
    """One RBD pool; ``client`` runs the rbd/ceph/qemu-img calls (made from the spec)."""

    def __init__(
        self,
        spec: PoolSpec,
        *,
        check_timeout_s: float = CHECK_TIMEOUT_S,
        spool_dir: Path = DEFAULT_SPOOL_DIR,
    ) -> None:
        access, key = rbd_access(spec)
        self.spec = spec
        self.access = access
        # What the download engine's messages name as the pool's location.
        self.path = f"rbd://{access.mon_host}/{access.pool}"
        self.client = RbdClient(access, key, command_timeout_s=VOLUME_TIMEOUT_S)
        self._quick = RbdClient(access, key, command_timeout_s=check_timeout_s)
        self._spool = LocalSpool(spool_dir, spec.uuid)

    # --- checks and space ---------------------------------------------------------------

    def check(self) -> PoolReport:
        """List the pool and read its capacity, bounded; the figures as a PoolReport.

        Raises:
            PoolUnavailableError: the cluster does not answer in time, refuses the user,
                or cannot say how big the pool is.
        """
        capacity, available = self.usage()
        return PoolReport(uuid=self.spec.uuid, capacity_bytes=capacity, available_bytes=available)

    def usage(self) -> tuple[int, int]:
        """Return the pool's capacity and available bytes as the cluster reports them.

        Raises:
            PoolUnavailableError: unreachable, or capacity unknown (no mgr and no quota).
        """
        try:
            self._quick.images()
            figures = self._quick.capacity()
        except (RbdError, RbdOutputError) as exc:
            raise self._unavailable("read", exc) from exc
        if figures.capacity_bytes is None:
            raise PoolUnavailableError(
                f"RBD pool {self.access.pool} ({self.access.mon_host}) has no known capacity: "
                "the cluster runs no ceph-mgr (ceph df) and the pool has no quota "
                f"(ceph osd pool set-quota {self.access.pool} max_bytes N)"
            )
        available = max(0, figures.capacity_bytes - figures.used_bytes)
        return figures.capacity_bytes, available

    def available_bytes(self) -> int:
        """Return the bytes the pool can still take."""
        return self.usage()[1]

    # --- downloads ----------------------------------------------------------------------

    def temp_path(self, install_name: str, attempt_id: str) -> Path:
        """Return a local spool file for a source that must be converted (not raw)."""
        return self._spool.temp_path(install_name, attempt_id)

    def protect_template(self, image: str) -> None:
        """Make the template base snapshot of ``image`` (kept if it is there already)."""
        try:
            snapshots = {s.name: s.protected for s in self.client.snapshots(image)}
            if TEMPLATE_SNAPSHOT not in snapshots:
                self.client.protect_snapshot(image, TEMPLATE_SNAPSHOT)
            elif not snapshots[TEMPLATE_SNAPSHOT]:
                self.client.protect(image, TEMPLATE_SNAPSHOT)
        except RbdError as exc:
            raise self._unavailable(f"protect a snapshot of {image} in", exc) from exc

    # --- images -------------------------------------------------------------------------

    def stat_published(self, name: str) -> int | None:
        """Return the provisioned size of image ``name``, None if absent."""
        validate_file_name(name, what="image name")
        try:
            return self.client.image_size(name)
        except RbdImageNotFoundError:
            return None
        except RbdError as exc:
            raise self._unavailable("inspect", exc) from exc

    def delete_file(self, name: str) -> bool:
        """Remove image ``name`` with its snapshots; refuse while clones depend on it.

        Raises:
            BadCommandError: ``name`` is unsafe, or VM disks are still cloned from it.
            PoolUnavailableError: the cluster cannot be reached or refused.
        """
        validate_file_name(name, what="image name")
        try:
            self.client.remove(name)
        except RbdImageNotFoundError:
            return False
        except RbdImageInUseError as exc:
            raise BadCommandError(
                f"image {self.access.spec(name)} is the base of {len(exc.children)} VM disk(s) "
                f"({', '.join(exc.children[:5])}): remove them first"
            ) from exc
        except RbdError as exc:
            raise self._unavailable(f"remove {name} from", exc) from exc
        logger.info("removed image %s", self.access.spec(name))
        return True

    def open_published(self, name: str, size_bytes: int) -> BinaryIO:
        """Not offered for RBD pools (template extraction reads files)."""
        raise PoolUnavailableError(
            f"reading images of RBD pool {self.spec.uuid} through the agent is not supported"
        )

    def published_files(self, *, limit: int, max_entries: int) -> PublishedNames:
        """The pool's image names, without temporary ones (at most ``limit``)."""
        try:
            names = self._quick.images()
        except (RbdError, RbdOutputError) as exc:
            raise self._unavailable("list", exc) from exc
        published = sorted(n for n in names[:max_entries] if not n.startswith(PARTIAL_PREFIX))
        truncated = len(published) > limit or len(names) > max_entries
        return PublishedNames(published[:limit], truncated)

    def remove_own_partials(self, host_tag: str, *, max_entries: int) -> PartialCleanup:
        """Remove the temporary images of this host's interrupted transfers, and its spool."""
        if not HOST_TAG.fullmatch(host_tag):
            raise ValueError(f"host tag {host_tag!r} is not 16 lowercase hex digits")
        own = f"{PARTIAL_PREFIX}{host_tag}-"
        removed = foreign = failed = 0
        try:
            names = self._quick.images()[:max_entries]
        except (RbdError, RbdOutputError) as exc:
            raise self._unavailable("clean", exc) from exc
        for name in names:
            if not name.startswith(PARTIAL_PREFIX):
                continue
            if not name.startswith(own):
                foreign += 1
                continue
            try:
                self.client.remove(name)
                removed += 1
            except RbdImageNotFoundError:
                pass
            except RbdError as exc:
                failed += 1
                logger.error("could not remove stale image %s: %s", name, exc)
        spooled = self._spool.remove_own_partials(host_tag, max_entries=max_entries)
        removed += spooled.removed
        failed += spooled.failed
        return PartialCleanup(removed=removed, foreign=foreign, failed=failed)

    def _unavailable(self, what: str, exc: Exception) -> PoolUnavailableError:
        return PoolUnavailableError(
            f"cannot {what} RBD pool {self.access.pool} ({self.access.mon_host}): {exc}"
        )
