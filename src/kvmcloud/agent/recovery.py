"""PoolKeeper: the host tag, the pools this agent used, stale partials at start, pool inventories.

An agent killed mid-transfer leaves ``<pool>/.kvmcloud-partial/<name>.<attempt>.part``
behind. So that the next start can find those files, the agent remembers (in its state
directory) every pool a command named, and tags every attempt id with its host tag (see
``pool_files``). At start it removes its own leftovers from each remembered pool, never
another host's; its heartbeats then report what each pool holds so the server can notice
a copy it believes Ready that is gone.

State files, both replaced atomically and readable by the owner only:

* ``<state_dir>/host-tag``: 16 hex digits, made on first start, kept for good.
* ``<state_dir>/pools.json``: ``[{"uuid", "type", "path", ...}, ...]``, at most
  ``MAX_REMEMBERED_POOLS`` (the oldest is forgotten first). An RBD pool's entry holds its
  cephx key (needed to clean up and list the pool after a restart): the file is mode
  0600 in the agent's private state directory, like the agent's own key.
"""

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from kvmcloud.agent.bounded import CallTimedOutError, run_bounded
from kvmcloud.agent.enrollment import EnrollmentStateError, ensure_state_dir, write_private_file
from kvmcloud.agent.errors import AgentError, PoolUnavailableError
from kvmcloud.agent.nfs_modes import USERSPACE_ACCESS, NfsAccess, NfsMode
from kvmcloud.agent.pool_files import HOST_TAG, new_attempt_id, new_host_tag
from kvmcloud.agent.pool_kinds import open_pool
from kvmcloud.protocol.agent_messages import (
    MessageFormatError,
    PoolHealth,
    PoolInventory,
    PoolSpec,
    PoolType,
    from_plain,
    to_plain,
)

logger = logging.getLogger(__name__)

HOST_TAG_FILE_NAME = "host-tag"
POOLS_FILE_NAME = "pools.json"
MAX_REMEMBERED_POOLS = 256
# Bounds on each directory scan, so a pool with millions of entries cannot stall start-up
# or a heartbeat.
MAX_PARTIAL_ENTRIES = 10_000
MAX_INVENTORY_FILES = 10_000
MAX_INVENTORY_ENTRIES = 20_000


def load_or_create_host_tag(state_dir: Path) -> str:
    """Return this agent's host tag, generating and saving it on first use.

    Raises:
        EnrollmentStateError: the state directory is unusable, or the file holds no tag.
    """
    ensure_state_dir(state_dir)
    path = state_dir / HOST_TAG_FILE_NAME
    try:
        tag = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        tag = new_host_tag()
        write_private_file(path, tag + "\n")
        logger.info("host tag %s saved in %s", tag, path)
        return tag
    except (OSError, UnicodeDecodeError) as exc:
        raise EnrollmentStateError(f"cannot read {path}: {exc}") from exc
    if not HOST_TAG.fullmatch(tag):
        # Replacing it would orphan every partial file the old tag named: ask a person.
        raise EnrollmentStateError(
            f"{path} must hold 16 lowercase hex digits, not {tag[:40]!r}; remove it to get "
            "a new tag (partial files of the old one are then left for you to remove)"
        )
    return tag


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanupReport:
    """What the start-up cleanup did across every remembered pool."""

    removed: int
    failed_pools: int


class PoolKeeper:
    """Remembers pools, tags attempts, cleans up after a crash and lists pools for heartbeats.

    Thread-safe: commands run on several threads and all remember their pools.
    """

    def __init__(
        self,
        state_dir: Path,
        host_tag: str,
        pools: list[PoolSpec],
        *,
        nfs: NfsAccess = USERSPACE_ACCESS,
    ) -> None:
        self.state_dir = state_dir
        # How this host reaches NetworkFilesystem pools (mount or user space).
        self.nfs = nfs
        self.host_tag = host_tag
        self._lock = threading.Lock()
        self._pools: dict[str, PoolSpec] = {p.uuid: p for p in pools[-MAX_REMEMBERED_POOLS:]}
        self._removed: dict[str, int] = {}
        self._save_problem: str | None = None

    @classmethod
    def open(cls, state_dir: Path, *, nfs: NfsAccess = USERSPACE_ACCESS) -> "PoolKeeper":
        """Load (or create) the host tag and the remembered pools from ``state_dir``.

        An unreadable pool list is logged and started afresh: losing it only means some
        stale partial files stay until removed by hand.

        Raises:
            EnrollmentStateError: the state directory or the host tag is unusable.
        """
        host_tag = load_or_create_host_tag(state_dir)
        return cls(state_dir, host_tag, _load_pools(state_dir / POOLS_FILE_NAME), nfs=nfs)

    def new_attempt_id(self) -> str:
        """Return a fresh attempt id carrying this agent's host tag."""
        return new_attempt_id(self.host_tag)

    def remembered(self) -> list[PoolSpec]:
        """Return the pools this agent was asked to use, oldest first."""
        with self._lock:
            return list(self._pools.values())

    def remember(self, spec: PoolSpec) -> None:
        """Record ``spec`` (saved at once when new or changed); failures are only logged.

        Runs before the command that names the pool, so a transfer killed half-way is in a
        pool the next start knows about. A pool list that cannot be saved must not fail
        the command: it is logged (once until saving works again) and retried next time.
        """
        if spec.type != PoolType.RBD and not Path(spec.path).is_absolute():
            return  # the command itself will be refused; nothing to find there later
        with self._lock:
            if self._pools.get(spec.uuid) == spec and self._save_problem is None:
                return
            self._pools.pop(spec.uuid, None)
            self._pools[spec.uuid] = spec
            # Bounded: one pass per pool over the limit, and at most one pool was added.
            while len(self._pools) > MAX_REMEMBERED_POOLS:
                forgotten = next(iter(self._pools))
                del self._pools[forgotten]
                logger.warning(
                    "remembering at most %d pools: forgot pool %s (its stale partial files "
                    "will no longer be removed at start)",
                    MAX_REMEMBERED_POOLS,
                    forgotten,
                )
            text = json.dumps([to_plain(p) for p in self._pools.values()])
            try:
                write_private_file(self.state_dir / POOLS_FILE_NAME, text)
            except EnrollmentStateError as exc:
                # Once per outage: the message names a random temp file, so it never repeats.
                if self._save_problem is None:
                    logger.error("cannot save the pools this agent uses: %s", exc)
                self._save_problem = str(exc)
                return
            if self._save_problem is not None:
                logger.info("pool list saved again")
            self._save_problem = None

    def remove_stale_partials(self) -> CleanupReport:
        """Remove this agent's partial files from every remembered pool; run before commands.

        Nothing of this agent can be writing at that point, so every partial file carrying
        its tag is a leftover of an attempt a crash or kill interrupted. Other hosts' files
        are left alone. A pool that cannot be read is logged and skipped.
        """
        removed_total = failed_pools = 0
        for spec in self.remembered():
            try:
                cleanup = open_pool(spec, self.nfs).remove_own_partials(
                    self.host_tag, max_entries=MAX_PARTIAL_ENTRIES
                )
            except PoolUnavailableError as exc:
                failed_pools += 1
                logger.error("stale partial files of pool %s not removed: %s", spec.uuid, exc)
                continue
            with self._lock:
                self._removed[spec.uuid] = self._removed.get(spec.uuid, 0) + cleanup.removed
            removed_total += cleanup.removed
            if cleanup.removed or cleanup.failed or cleanup.foreign:
                logger.info(
                    "pool %s at %s: removed %d stale partial files of this host (tag %s), "
                    "%d could not be removed, left %d of other hosts or older agents",
                    spec.uuid,
                    spec.path,
                    cleanup.removed,
                    self.host_tag,
                    cleanup.failed,
                    cleanup.foreign,
                )
        if removed_total:
            logger.warning(
                "removed %d stale partial files left by an interrupted run", removed_total
            )
        return CleanupReport(removed=removed_total, failed_pools=failed_pools)

    def health(self) -> list[PoolHealth]:
        """Check every remembered pool as ``CheckPool`` does, each within a time bound.

        Every check runs in a worker the keeper stops waiting for after the NFS probe
        timeout (twice it, for user-space NFS whose mount takes RPCs of its own): a
        directory pool on a hung mount blocks in the kernel, and must cost its own report
        only, not the others'.
        """
        results = []
        bound_s = self.nfs.probe_timeout_s * 2 + 5
        for spec in self.remembered():
            access = "directory"
            if spec.type == PoolType.NETWORK_FILESYSTEM:
                access = "mount" if self.nfs.mode == NfsMode.MOUNT else "userspace"
            elif spec.type == PoolType.RBD:
                access = "rbd"
            problem: str | None = None
            try:
                pool = open_pool(spec, self.nfs)
                run_bounded(pool.check, timeout_s=bound_s, name=f"pool-check-{spec.uuid}")
            except CallTimedOutError:
                problem = f"pool {spec.uuid} did not answer its check within {bound_s:g} s"
            except AgentError as exc:
                problem = str(exc)
            if problem is not None:
                logger.warning("pool %s failed its check: %s", spec.uuid, problem)
            results.append(PoolHealth(uuid=spec.uuid, problem=problem, access=access))
        return results

    def inventory(self) -> list[PoolInventory]:
        """List every remembered pool this host can read; the others are logged and left out.

        A pool left out says nothing to the server, which is the safe direction: an
        unmounted shared pool must not look like a pool whose files were all deleted.
        """
        inventories = []
        for spec in self.remembered():
            pool = open_pool(spec, self.nfs)
            try:
                published = pool.published_files(
                    limit=MAX_INVENTORY_FILES, max_entries=MAX_INVENTORY_ENTRIES
                )
                capacity_bytes, available_bytes = pool.usage()
            except PoolUnavailableError as exc:
                logger.info("pool %s not in this inventory: %s", spec.uuid, exc)
                continue
            with self._lock:
                removed = self._removed.get(spec.uuid, 0)
            inventories.append(
                PoolInventory(
                    uuid=spec.uuid,
                    path=spec.path,
                    files=published.names,
                    truncated=published.truncated,
                    stale_partials_removed=removed,
                    capacity_bytes=capacity_bytes,
                    available_bytes=available_bytes,
                )
            )
        return inventories


def _load_pools(path: Path) -> list[PoolSpec]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise MessageFormatError("the pool list must be a JSON array")
        return [from_plain(PoolSpec, item) for item in data]
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        # ValueError covers bad JSON, bad encoding and MessageFormatError.
        logger.error("ignoring the saved pool list %s: %s", path, exc)
        return []
