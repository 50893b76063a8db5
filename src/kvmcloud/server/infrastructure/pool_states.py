"""Pool states and which of them allow maintenance, its cancelling, deletion, starting (pure)."""

from enum import StrEnum


class PoolStatus(StrEnum):
    """CloudStack's StoragePoolStatus values kvmcloud uses (storage_pool.status)."""

    UP = "Up"
    DISABLED = "Disabled"
    PREPARE_FOR_MAINTENANCE = "PrepareForMaintenance"
    MAINTENANCE = "Maintenance"
    ERROR_IN_MAINTENANCE = "ErrorInMaintenance"


# CloudStack prepares Up and ErrorInMaintenance pools; kvmcloud also takes a Disabled one
# (an operator disables a pool first, then takes it out of service).
MAY_ENTER_MAINTENANCE = frozenset(
    {PoolStatus.UP, PoolStatus.DISABLED, PoolStatus.ERROR_IN_MAINTENANCE}
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
