"""Pool states, which allow maintenance, deletion, starting; Up/Down from host checks (pure)."""

import threading
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum


class PoolStatus(StrEnum):
    """CloudStack's StoragePoolStatus values kvmcloud uses (storage_pool.status)."""

    UP = "Up"
    DISABLED = "Disabled"
    PREPARE_FOR_MAINTENANCE = "PrepareForMaintenance"
    MAINTENANCE = "Maintenance"
    ERROR_IN_MAINTENANCE = "ErrorInMaintenance"
    # kvmcloud: a host of the pool's scope fails its check (NFS server unreachable, mount
    # hung). Not one of CloudStack's StoragePoolStatus values; see docs/storage.md.
    DOWN = "Down"


# CloudStack prepares Up and ErrorInMaintenance pools; kvmcloud also takes a Disabled one
# (an operator disables a pool first, then takes it out of service).
MAY_ENTER_MAINTENANCE = frozenset(
    {PoolStatus.UP, PoolStatus.DISABLED, PoolStatus.ERROR_IN_MAINTENANCE, PoolStatus.DOWN}
)
# cancelStorageMaintenance brings these back Up.
MAY_CANCEL_MAINTENANCE = frozenset({PoolStatus.MAINTENANCE, PoolStatus.ERROR_IN_MAINTENANCE})
# A pool in these states is out of service: no new volume, no new template copy.
IN_MAINTENANCE = frozenset(
    {PoolStatus.PREPARE_FOR_MAINTENANCE, PoolStatus.MAINTENANCE, PoolStatus.ERROR_IN_MAINTENANCE}
)
# Stopped VMs whose root disk is on a pool in these states may still start there.
STARTABLE_DISK_POOL = frozenset({PoolStatus.UP, PoolStatus.DISABLED})


def may_enter_maintenance(status: str) -> bool:
    """Tell whether enableStorageMaintenance accepts a pool in ``status``."""
    return status in MAY_ENTER_MAINTENANCE


def may_cancel_maintenance(status: str) -> bool:
    """Tell whether cancelStorageMaintenance accepts a pool in ``status``."""
    return status in MAY_CANCEL_MAINTENANCE


def may_delete(status: str) -> bool:
    """Tell whether deleteStoragePool accepts a pool in ``status``: only in Maintenance."""
    return status == PoolStatus.MAINTENANCE


# A host's failed check counts this long unless the host reports the pool again: a host
# that went away must not keep a pool Down for ever.
FAILURE_MEMORY_S = 600.0


def status_after_checks(status: str, *, failing: bool) -> str:
    """Return the pool's status once its hosts' checks are known.

    Only Up and Down move: Up → Down while a host fails the check, Down → Up when none
    does. An operator's states (Disabled, maintenance) are left as they are.
    """
    if status == PoolStatus.UP and failing:
        return PoolStatus.DOWN
    if status == PoolStatus.DOWN and not failing:
        return PoolStatus.UP
    return status


class PoolFailures:
    """Which hosts last failed which pool's check, and when; kept in the server's memory.

    Thread-safe: heartbeats of several hosts arrive at once. Lost on a restart, which is
    safe: the next check of every host (a minute by default) rebuilds it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, dict[int, tuple[datetime, str]]] = {}
        self._access: dict[tuple[str, int], str] = {}

    def note_access(self, pool_uuid: str, host_id: int, access: str) -> bool:
        """Remember how a host reaches a pool; tell whether that is new or changed."""
        with self._lock:
            previous = self._access.get((pool_uuid, host_id))
            self._access[(pool_uuid, host_id)] = access
            return previous != access

    def record(self, pool_uuid: str, host_id: int, problem: str | None, now: datetime) -> None:
        """Record one host's check of one pool: a failure with its problem, or a pass."""
        with self._lock:
            hosts = self._failures.setdefault(pool_uuid, {})
            if problem is None:
                hosts.pop(host_id, None)
            else:
                hosts[host_id] = (now, problem)

    def failing(self, pool_uuid: str, now: datetime) -> Mapping[int, str]:
        """Return host id → problem for the hosts whose last check of the pool failed."""
        with self._lock:
            hosts = self._failures.get(pool_uuid, {})
            return {
                host_id: problem
                for host_id, (when, problem) in hosts.items()
                if (now - when).total_seconds() <= FAILURE_MEMORY_S
            }
