"""updateStoragePool and updateHost: names, tags and whether new work may land there."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError, OperationFailedError
from kvmcloud.server.events.catalog import CommandEvent, EventType, ResourceType
from kvmcloud.server.events.catalog import command_event_description as described
from kvmcloud.server.events.models import EventLevel
from kvmcloud.server.events.service import record_event
from kvmcloud.server.infrastructure.models import Host, StoragePool
from kvmcloud.server.infrastructure.pool_states import PoolStatus
from kvmcloud.server.infrastructure.records import (
    AllocatedBytes,
    HostRecord,
    PoolRecord,
    host_records,
    pool_records,
)
from kvmcloud.server.offerings.tags import clean_tags
from kvmcloud.server.queries import get_by_uuid

POOL_UP, POOL_DISABLED = PoolStatus.UP, PoolStatus.DISABLED
HOST_ENABLED, HOST_DISABLED = "Enabled", "Disabled"
# CloudStack's ResourceState events updateHost accepts, and the state each leads to.
ALLOCATION_EVENTS = {"enable": HOST_ENABLED, "disable": HOST_DISABLED}

_ENABLE_POOL = CommandEvent(
    EventType.ENABLE_PRIMARY_STORAGE, ResourceType.STORAGE_POOL, "enabling storage pool"
)
_DISABLE_POOL = CommandEvent(
    EventType.DISABLE_PRIMARY_STORAGE, ResourceType.STORAGE_POOL, "disabling storage pool"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolChanges:
    """What updateStoragePool asks to change; None keeps a value, empty tags clear them."""

    name: str | None = None
    tags: str | None = None
    enabled: bool | None = None
    capacity_bytes: int | None = None
    capacity_iops: int | None = None
    is_tag_a_rule: bool | None = None


def update_storage_pool(
    db: Database,
    uuid: str,
    changes: PoolChanges,
    caller: Caller,
    clock: Callable[[], datetime],
    *,
    command: str,
    allocated: AllocatedBytes | None = None,
) -> PoolRecord:
    """Rename, retag, enable or disable a pool, all in one transaction.

    A Disabled pool keeps its volumes and template copies, but placement gives it no new
    volume (it takes only Up pools), as CloudStack's allocators skip Disabled pools.
    Enabling or disabling records CloudStack's ENABLE.PS / DISABLE.PS event.

    Raises:
        NotFoundError: no live pool has this id.
        InvalidParameterError: enabling a pool that is not Disabled, disabling one that is
            not Up (CloudStack's texts), or a parameter kvmcloud cannot honour.
    """
    _refuse_unsupported(changes.capacity_bytes, changes.capacity_iops, changes.is_tag_a_rule)
    with db.transaction() as session:
        pool = get_by_uuid(session, StoragePool, uuid, command=command, param="id")
        if changes.name is not None and changes.name.strip():
            pool.name = changes.name
        if changes.tags is not None:
            pool.tags = clean_tags(changes.tags)
        if changes.enabled is not None:
            event = _switch_pool(pool, changes.enabled)
            record_event(
                session,
                type=event.type.value,
                level=EventLevel.INFO,
                description=described(event, f"{pool.name} ({pool.uuid})"),
                account_id=caller.account_id,
                user_id=caller.user_id,
                resource_type=event.resource_type.value,
                resource_uuid=pool.uuid,
                now=clock(),
            )
        session.flush()
        return pool_records(session, [pool], allocated)[0]


def _switch_pool(pool: StoragePool, enabled: bool) -> CommandEvent:
    wanted_from, verb = (POOL_DISABLED, "enabled") if enabled else (POOL_UP, "disabled")
    if pool.status != wanted_from:
        # CloudStack names the pool by its database id; kvmcloud shows only uuids. The
        # text names ``id`` (the pool in the wrong state), so it is shown as CloudStack's.
        raise InvalidParameterError(
            "id",
            f"Primary storage with id {pool.uuid} cannot be {verb}. Storage pool state : "
            f"{pool.status}",
        )
    pool.status = POOL_UP if enabled else POOL_DISABLED
    return _ENABLE_POOL if enabled else _DISABLE_POOL


def _refuse_unsupported(
    capacity_bytes: int | None, capacity_iops: int | None, is_tag_a_rule: bool | None
) -> None:
    if capacity_bytes is not None or capacity_iops is not None:
        name = "capacitybytes" if capacity_bytes is not None else "capacityiops"
        raise InvalidParameterError(
            name,
            f"kvmcloud does not take {name} for Filesystem or SharedMountPoint pools: their "
            "capacity is what the hosts' file systems report, and IOPS are not provisioned",
        )
    if is_tag_a_rule:
        raise InvalidParameterError(
            "istagarule", "kvmcloud does not evaluate tag rules: give plain tags"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HostChanges:
    """What updateHost asks to change; None keeps a value, empty host tags clear them."""

    name: str | None = None
    allocation_state: str | None = None
    host_tags: str | None = None
    is_tag_a_rule: bool | None = None


def update_host(db: Database, uuid: str, changes: HostChanges, *, command: str) -> HostRecord:
    """Rename or retag a host, or enable or disable it for new VMs.

    A Disabled host keeps its running VMs; placement puts no new VM there (it takes only
    Enabled hosts). New host tags apply to later placements only, as in CloudStack.

    Raises:
        NotFoundError: no live host has this id.
        InvalidParameterError: a tag rule (kvmcloud does not evaluate them).
        OperationFailedError: an allocation state other than Enable or Disable, as
            CloudStack's 530 "Failed to update host".
    """
    if changes.is_tag_a_rule:
        raise InvalidParameterError(
            "istagarule", "kvmcloud does not evaluate tag rules: give plain tags"
        )
    with db.transaction() as session:
        host = get_by_uuid(session, Host, uuid, command=command, param="id")
        if changes.allocation_state is not None and changes.allocation_state.strip():
            state = ALLOCATION_EVENTS.get(changes.allocation_state.strip().lower())
            if state is None:
                raise OperationFailedError(
                    f"Failed to update host: {host.name} with id {host.uuid}, Invalid "
                    f"allocation state: {changes.allocation_state}, only Enable/Disable are "
                    "allowed"
                )
            host.resource_state = state
        if changes.name is not None and changes.name.strip():
            host.name = changes.name
        if changes.host_tags is not None:
            host.host_tags = clean_tags(changes.host_tags)
        session.flush()
        return host_records(session, [host])[0]
