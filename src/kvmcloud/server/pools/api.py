"""deleteStoragePool, enableStorageMaintenance and cancelStorageMaintenance."""

from dataclasses import dataclass

from kvmcloud.server.api.fields import SUCCESS
from kvmcloud.server.api.params import Entity, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import AsyncResult, FlatResult
from kvmcloud.server.infrastructure.views import STORAGE_POOL
from kvmcloud.server.pools import service

commands = CommandSet()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteStoragePoolParams:
    """Parameters of deleteStoragePool."""

    id: Uuid = param("Storage pool id", entity=Entity.STORAGE_POOL)
    forced: bool | None = param(
        "Force destroy storage pool (force expunge volumes in Destroyed state as a part of "
        "pool removal)",
        default=None,
    )


@commands.command(
    "deleteStoragePool",
    DeleteStoragePoolParams,
    description="Deletes a storage pool.",
    response_key="success",
    response=SUCCESS,
)
def delete_storage_pool(ctx: ApiContext, params: DeleteStoragePoolParams) -> FlatResult:
    """Delete a pool in Maintenance with its template copies (forced: destroyed volumes too)."""
    service.delete_storage_pool(
        ctx.db,
        ctx.agents,
        params.id,
        forced=bool(params.forced),
        clock=ctx.clock,
        command=ctx.command,
    )
    return FlatResult({"success": True})


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageMaintenanceParams:
    """Parameters of enableStorageMaintenance and cancelStorageMaintenance."""

    id: Uuid = param("Primary storage ID", entity=Entity.STORAGE_POOL)


@commands.command(
    "enableStorageMaintenance",
    StorageMaintenanceParams,
    description="Puts storage pool into maintenance state",
    response_key="storagepool",
    response=STORAGE_POOL,
    is_async=True,
)
def enable_storage_maintenance(ctx: ApiContext, params: StorageMaintenanceParams) -> AsyncResult:
    """Take a pool out of service (refused while active VMs use it: kvmcloud stops none)."""
    job_id = service.queue_maintenance(
        ctx.db, params.id, caller=ctx.caller, clock=ctx.clock, command=ctx.command
    )
    return AsyncResult(job_id)


@commands.command(
    "cancelStorageMaintenance",
    StorageMaintenanceParams,
    description="Cancels maintenance for primary storage",
    response_key="storagepool",
    response=STORAGE_POOL,
    is_async=True,
)
def cancel_storage_maintenance(ctx: ApiContext, params: StorageMaintenanceParams) -> AsyncResult:
    """Bring a pool in Maintenance or ErrorInMaintenance back Up."""
    job_id = service.queue_cancel_maintenance(
        ctx.db, params.id, caller=ctx.caller, clock=ctx.clock, command=ctx.command
    )
    return AsyncResult(job_id)
