"""create/list/update/delete for service offerings and for disk offerings."""

from dataclasses import dataclass

from kvmcloud.server.api.fields import SUCCESS
from kvmcloud.server.api.params import MAX_GIB, Entity, ListParams, Long, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import FlatResult, ListResult, ObjectResult
from kvmcloud.server.offerings import service
from kvmcloud.server.offerings.views import (
    DISK_OFFERING,
    SERVICE_OFFERING,
    disk_offering_response,
    offering_response,
)

commands = CommandSet()


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateServiceOfferingParams:
    """Parameters of createServiceOffering."""

    name: str = param("the name of the service offering")
    display_text: str | None = param(
        "the display text of the service offering", length=4096, default=None
    )
    # CloudStack's own floors; its ceiling is Integer.MAX_VALUE, the range of every int.
    cpu_number: int = param("the number of CPUs", minimum=1)
    cpu_speed: int = param("the CPU speed of the service offering in MHz", minimum=1)
    memory: int = param("the total memory of the service offering in MB", minimum=32)
    storage_type: str | None = param(
        "the storage type of the service offering: local or shared", default=None
    )
    tags: str | None = param(
        "the tags for this service offering (storage tags: the root disk's pool has them all)",
        length=4096,
        default=None,
    )
    host_tags: str | None = param(
        "the host tag for this service offering (the VM's host has them all)",
        length=4096,
        default=None,
    )
    offer_ha: bool | None = param("the HA for the service offering", default=None)
    limit_cpu_use: bool | None = param(
        "restrict the CPU usage to committed service offering", default=None
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ListServiceOfferingsParams(ListParams):
    """Parameters of listServiceOfferings."""

    id: Uuid | None = param(
        "ID of the service offering", entity=Entity.SERVICE_OFFERING, default=None
    )
    name: str | None = param("name of the service offering", default=None)


@commands.command(
    "createServiceOffering",
    CreateServiceOfferingParams,
    description="Creates a service offering.",
    response_key="serviceoffering",
    response=SERVICE_OFFERING,
)
def create_service_offering(ctx: ApiContext, params: CreateServiceOfferingParams) -> ObjectResult:
    """Create a service offering."""
    spec = service.ServiceOfferingSpec(
        name=params.name,
        display_text=params.display_text,
        cpu_number=params.cpu_number,
        cpu_speed=params.cpu_speed,
        memory_mb=params.memory,
        storage_type=params.storage_type,
        tags=params.tags,
        host_tags=params.host_tags,
        offer_ha=bool(params.offer_ha),
        limit_cpu_use=bool(params.limit_cpu_use),
    )
    offering = service.create_service_offering(ctx.db, spec, ctx.clock)
    return ObjectResult("serviceoffering", offering_response(offering))


@commands.command(
    "listServiceOfferings",
    ListServiceOfferingsParams,
    description="Lists all available service offerings.",
    response_key="serviceoffering",
    response=SERVICE_OFFERING,
)
def list_service_offerings(ctx: ApiContext, params: ListServiceOfferingsParams) -> ListResult:
    """List service offerings."""
    offerings, total = service.list_service_offerings(
        ctx.db, params, uuid=params.id, name=params.name, keyword=params.keyword
    )
    return ListResult("serviceoffering", [offering_response(o) for o in offerings], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateServiceOfferingParams:
    """Parameters of updateServiceOffering."""

    id: Uuid = param("the ID of the service offering to be updated", entity=Entity.SERVICE_OFFERING)
    name: str | None = param("the name of the service offering to be updated", default=None)
    display_text: str | None = param(
        "the display text of the service offering to be updated", length=4096, default=None
    )
    sort_key: int | None = param("sort key of the service offering, integer", default=None)
    host_tags: str | None = param(
        "comma-separated list of host tags for the service offering, tags should match with "
        "existing host tags",
        length=4096,
        keep_empty=True,
        default=None,
    )
    storage_tags: str | None = param(
        "comma-separated list of tags for the service offering, tags should match with "
        "existing storage pool tags",
        length=4096,
        keep_empty=True,
        default=None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteServiceOfferingParams:
    """Parameters of deleteServiceOffering."""

    id: Uuid = param("the ID of the service offering", entity=Entity.SERVICE_OFFERING)


@commands.command(
    "updateServiceOffering",
    UpdateServiceOfferingParams,
    description="Updates a service offering.",
    response_key="serviceoffering",
    response=SERVICE_OFFERING,
)
def update_service_offering(ctx: ApiContext, params: UpdateServiceOfferingParams) -> ObjectResult:
    """Rename a service offering, re-sort it or change its host and storage tags."""
    changes = service.OfferingChanges(
        name=params.name,
        display_text=params.display_text,
        sort_key=params.sort_key,
        host_tags=params.host_tags,
        storage_tags=params.storage_tags,
    )
    offering = service.update_service_offering(
        ctx.db,
        params.id,
        changes,
        command=ctx.command,
        volume_pools=ctx.hooks.offering_volume_pools,
        vm_hosts=ctx.hooks.offering_vm_hosts,
    )
    return ObjectResult("serviceoffering", offering_response(offering))


@commands.command(
    "deleteServiceOffering",
    DeleteServiceOfferingParams,
    description="Deletes a service offering.",
    response_key="success",
    response=SUCCESS,
)
def delete_service_offering(ctx: ApiContext, params: DeleteServiceOfferingParams) -> FlatResult:
    """Remove a service offering from the lists and from new deploys."""
    service.delete_service_offering(ctx.db, params.id, ctx.clock, command=ctx.command)
    return FlatResult({"success": True})


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateDiskOfferingParams:
    """Parameters of createDiskOffering."""

    name: str = param("name of the disk offering")
    display_text: str | None = param(
        "an alternate display text of the disk offering", length=4096, default=None
    )
    disk_size: Long = param(
        "size of the disk offering in GB (1GB = 1,073,741,824 bytes)", minimum=1, maximum=MAX_GIB
    )
    storage_type: str | None = param(
        "the storage type of the disk offering: local or shared", default=None
    )
    tags: str | None = param("tags for the storage pool", length=4096, default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListDiskOfferingsParams(ListParams):
    """Parameters of listDiskOfferings."""

    id: Uuid | None = param("ID of the disk offering", entity=Entity.DISK_OFFERING, default=None)
    name: str | None = param("name of the disk offering", default=None)


@commands.command(
    "createDiskOffering",
    CreateDiskOfferingParams,
    description="Creates a disk offering.",
    response_key="diskoffering",
    response=DISK_OFFERING,
)
def create_disk_offering(ctx: ApiContext, params: CreateDiskOfferingParams) -> ObjectResult:
    """Create a disk offering (the size of a blank disk)."""
    spec = service.DiskOfferingSpec(
        name=params.name,
        display_text=params.display_text,
        disk_size_gib=params.disk_size,
        storage_type=params.storage_type,
        tags=params.tags,
    )
    offering = service.create_disk_offering(ctx.db, spec, ctx.clock)
    return ObjectResult("diskoffering", disk_offering_response(offering))


@commands.command(
    "listDiskOfferings",
    ListDiskOfferingsParams,
    description="Lists all available disk offerings.",
    response_key="diskoffering",
    response=DISK_OFFERING,
)
def list_disk_offerings(ctx: ApiContext, params: ListDiskOfferingsParams) -> ListResult:
    """List disk offerings."""
    offerings, total = service.list_disk_offerings(
        ctx.db, params, uuid=params.id, name=params.name, keyword=params.keyword
    )
    return ListResult("diskoffering", [disk_offering_response(o) for o in offerings], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateDiskOfferingParams:
    """Parameters of updateDiskOffering."""

    id: Uuid = param("ID of the disk offering", entity=Entity.DISK_OFFERING)
    name: str | None = param("updates name of the disk offering with this value", default=None)
    display_text: str | None = param(
        "updates alternate display text of the disk offering with this value",
        length=4096,
        default=None,
    )
    sort_key: int | None = param("sort key of the disk offering, integer", default=None)
    tags: str | None = param(
        "comma-separated list of tags for the disk offering, tags should match with existing "
        "storage pool tags",
        length=4096,
        keep_empty=True,
        default=None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteDiskOfferingParams:
    """Parameters of deleteDiskOffering."""

    id: Uuid = param("ID of the disk offering", entity=Entity.DISK_OFFERING)


@commands.command(
    "updateDiskOffering",
    UpdateDiskOfferingParams,
    description="Updates a disk offering.",
    response_key="diskoffering",
    response=DISK_OFFERING,
)
def update_disk_offering(ctx: ApiContext, params: UpdateDiskOfferingParams) -> ObjectResult:
    """Rename a disk offering, re-sort it or change its storage tags."""
    changes = service.OfferingChanges(
        name=params.name,
        display_text=params.display_text,
        sort_key=params.sort_key,
        storage_tags=params.tags,
    )
    offering = service.update_disk_offering(
        ctx.db,
        params.id,
        changes,
        command=ctx.command,
        volume_pools=ctx.hooks.offering_volume_pools,
    )
    return ObjectResult("diskoffering", disk_offering_response(offering))


@commands.command(
    "deleteDiskOffering",
    DeleteDiskOfferingParams,
    # CloudStack's own description of this command, copy-paste slip included.
    description="Updates a disk offering.",
    response_key="success",
    response=SUCCESS,
)
def delete_disk_offering(ctx: ApiContext, params: DeleteDiskOfferingParams) -> FlatResult:
    """Remove a disk offering from the lists and from new deploys and volumes."""
    service.delete_disk_offering(ctx.db, params.id, ctx.clock, command=ctx.command)
    return FlatResult({"success": True})
