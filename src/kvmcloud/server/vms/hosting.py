"""Hosting a VM: its root volume, host and pool candidates, needs, pool endpoints, VmSpec."""

from pathlib import PurePosixPath

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.agent_client import AgentEndpoint
from kvmcloud.server.errors import InsufficientCapacityError, ResourceUnavailableError
from kvmcloud.server.infrastructure.host_states import HostStatus
from kvmcloud.server.infrastructure.models import Host, PoolType, StoragePool
from kvmcloud.server.infrastructure.pool_states import STARTABLE_DISK_POOL, PoolStatus
from kvmcloud.server.infrastructure.service import (
    endpoint_for,
    hosts_reaching_pool,
    pool_spec,
)
from kvmcloud.server.networks.models import Network
from kvmcloud.server.offerings.models import ServiceOffering
from kvmcloud.server.offerings.tags import tag_set
from kvmcloud.server.templates.models import ImageFormat, RefState, Template, TemplatePoolRef
from kvmcloud.server.vms.models import Nic, VirtualMachine, VmState, Volume, VolumeType
from kvmcloud.server.vms.placement import HostCandidate, Needs, PoolCandidate, iso_pool_for

MIB = 1024 * 1024
# States in which a VM holds memory on its host (placement counts it as used).
ACTIVE_STATES = (VmState.STARTING, VmState.RUNNING, VmState.STOPPING)


# --- placement inputs -----------------------------------------------------------------------


def root_volume(session: Session, vm: VirtualMachine) -> Volume:
    """Return the VM's root volume row."""
    volume = session.scalars(
        select(Volume).where(
            Volume.instance_id == vm.id,
            Volume.volume_type == VolumeType.ROOT,
            Volume.removed.is_(None),
        )
    ).first()
    if volume is None:
        raise ResourceUnavailableError(f"VM {vm.name} has no root volume")
    return volume


def host_candidates(session: Session, vm: VirtualMachine) -> list[HostCandidate]:
    """Up hosts of the VM's zone with the memory other active VMs already take."""
    used = dict(
        session.execute(
            select(VirtualMachine.host_id, func.sum(ServiceOffering.ram_size))
            .join(ServiceOffering, VirtualMachine.service_offering_id == ServiceOffering.id)
            .where(
                VirtualMachine.state.in_(ACTIVE_STATES),
                VirtualMachine.id != vm.id,
                VirtualMachine.host_id.is_not(None),
            )
            .group_by(VirtualMachine.host_id)
        ).all()
    )
    hosts = session.scalars(
        select(Host).where(
            Host.data_center_id == vm.data_center_id,
            Host.status == HostStatus.UP,
            Host.removed.is_(None),
            Host.resource_state == "Enabled",
        )
    )
    return [
        HostCandidate(
            host_id=h.id,
            name=h.name,
            cluster_id=h.cluster_id,
            cpus=h.cpus,
            memory_bytes=h.ram,
            used_memory_bytes=int(used.get(h.id) or 0) * MIB,
            tags=tag_set(h.host_tags),
        )
        for h in hosts
    ]


def pool_candidates(
    session: Session, vm: VirtualMachine, template_id: int, *, disk_pool_id: int | None = None
) -> list[PoolCandidate]:
    """Up pools of the zone, and whether each already holds the image Ready.

    ``disk_pool_id``, the pool of an existing root disk, counts even when Disabled: as in
    CloudStack, disabling a pool keeps new volumes off it, not its VMs from starting. A
    pool in (or entering) maintenance is never a candidate.
    """
    ready = set(
        session.scalars(
            select(TemplatePoolRef.pool_id).where(
                TemplatePoolRef.template_id == template_id, TemplatePoolRef.state == RefState.READY
            )
        )
    )
    pools = session.scalars(
        select(StoragePool).where(
            StoragePool.data_center_id == vm.data_center_id,
            StoragePool.removed.is_(None),
            (StoragePool.status == PoolStatus.UP)
            | (
                (StoragePool.id == disk_pool_id)
                & StoragePool.status.in_(tuple(STARTABLE_DISK_POOL))
            ),
        )
    )
    return [
        PoolCandidate(
            pool_id=p.id,
            name=p.name,
            scope=p.scope.value,
            cluster_id=p.cluster_id,
            host_id=p.host_id,
            available_bytes=p.available_bytes,
            has_image=p.id in ready,
            tags=tag_set(p.tags),
            holds_isos=p.pool_type != PoolType.RBD,
        )
        for p in pools
    ]


def iso_pool_id(session: Session, vm: VirtualMachine, iso: Template, disk_pool_id: int) -> int:
    """The pool an ISO inserted into the running ``vm`` goes to (see placement.iso_pool_for).

    Raises:
        InsufficientCapacityError: the VM's host reaches no pool that can take the ISO.
    """
    host = session.get(Host, vm.host_id)
    assert host is not None
    pools = pool_candidates(session, vm, iso.id, disk_pool_id=disk_pool_id)
    disk_pool = next((p for p in pools if p.pool_id == disk_pool_id), None)
    size = iso.physical_size or iso.size or 0
    chosen = None
    if disk_pool is not None:
        candidate = HostCandidate(
            host_id=host.id,
            name=host.name,
            cluster_id=host.cluster_id,
            cpus=0,
            memory_bytes=0,
            used_memory_bytes=0,
        )
        chosen = iso_pool_for(candidate, disk_pool, pools, size)
    if chosen is None:
        raise InsufficientCapacityError(
            f"No storage pool with room for ISO {iso.name} ({size} bytes) is reachable from "
            f"host {host.name}: RBD pools hold disk images only, so an ISO needs a "
            "NetworkFilesystem, SharedMountPoint or Filesystem pool"
        )
    return chosen


def down_pool_names(session: Session, vm: VirtualMachine) -> list[str]:
    """Names of the zone's pools that are Down (a host fails their check)."""
    return list(
        session.scalars(
            select(StoragePool.name).where(
                StoragePool.data_center_id == vm.data_center_id,
                StoragePool.removed.is_(None),
                StoragePool.status == PoolStatus.DOWN,
            )
        )
    )


def needs_of(session: Session, vm: VirtualMachine, template: Template) -> Needs:
    """What the VM's offering and image ask of a host and a pool."""
    offering = session.get(ServiceOffering, vm.service_offering_id)
    assert offering is not None
    iso = template if vm.iso_id == template.id else None
    if vm.iso_id is not None and iso is None:
        iso = session.get(Template, vm.iso_id)
    return Needs(
        cpus=offering.cpu,
        memory_bytes=offering.ram_size * MIB,
        download_bytes=template.physical_size or template.size or 0,
        local_storage=offering.storage_type == "local",
        host_id=vm.host_id,
        host_tags=tag_set(offering.host_tags),
        storage_tags=tag_set(offering.tags),
        iso_bytes=None if iso is None else (iso.physical_size or iso.size or 0),
    )


def endpoints_for_pool(
    session: Session, pool: StoragePool, preferred_host_id: int | None
) -> list[tuple[int, AgentEndpoint]]:
    """Up hosts reaching ``pool`` (the preferred one first), for volume commands."""
    hosts = sorted(
        hosts_reaching_pool(session, pool), key=lambda h: (h.id != preferred_host_id, h.id)
    )
    if not hosts:
        raise ResourceUnavailableError(f"No Up KVM host can reach pool {pool.name}")
    return [(h.id, endpoint_for(h)) for h in hosts]


# --- specs for the agent ----------------------------------------------------------------


def pool_path(pool: StoragePool, name: str) -> str:
    """The absolute path of a file in a pool; for an NFS pool its ``nfs://`` URL.

    NetworkFilesystem pools are used in user space (no mount on the host): QEMU opens the
    file through its libnfs driver, so the agent gets the server too.
    """
    if pool.pool_type == PoolType.NETWORK_FILESYSTEM:
        return f"nfs://{pool.host_address}{PurePosixPath(pool.path) / name}"
    return str(PurePosixPath(pool.path) / name)


def vm_spec(session: Session, vm: VirtualMachine, iso_path: str | None) -> msg.VmSpec:
    """Describe the VM to the agent: CPUs, memory, root disk, CD-ROM, NIC, boot order."""
    offering = session.get(ServiceOffering, vm.service_offering_id)
    assert offering is not None
    root = root_volume(session, vm)
    pool = session.get(StoragePool, root.pool_id) if root.pool_id else None
    if pool is None:
        raise ResourceUnavailableError(f"The root volume of VM {vm.name} is on no pool")
    if pool.pool_type == PoolType.RBD:
        # An RBD disk is the image named by the volume's path, a raw clone, which QEMU
        # opens with the pool's monitors, user and key (a libvirt secret on the host).
        disks = [msg.DiskSpec(path=root.path, format="raw", pool=pool_spec(pool))]
    else:
        disks = [msg.DiskSpec(path=pool_path(pool, root.path), format="qcow2")]
    disks.append(msg.DiskSpec(path=iso_path or "", format="raw", device="cdrom"))
    nics = list(session.scalars(select(Nic).where(Nic.instance_id == vm.id).order_by(Nic.id)))
    # The default NIC's MAC also goes alone, for agents that predate NicSpec.
    default = next((n for n in nics if n.is_default), nics[0] if nics else None)
    template = session.get(Template, vm.template_id)
    # A VM deployed from an ISO boots from it until its disk is installed; others from disk.
    boot = (
        ["cdrom", "hd"]
        if template is not None and template.format == ImageFormat.ISO
        else ["hd", "cdrom"]
    )
    return msg.VmSpec(
        name=vm.instance_name,
        uuid=vm.uuid,
        vcpus=offering.cpu,
        memory_mib=offering.ram_size,
        disks=disks,
        mac_address=default.mac_address if default else None,
        boot_devices=boot,
        nics=nic_specs(session, nics),
    )


def nic_specs(session: Session, nics: list[Nic]) -> list[msg.NicSpec]:
    """The NICs on guest networks, default first; none for a VM on the zone's range."""
    specs: list[msg.NicSpec] = []
    for nic in sorted(nics, key=lambda n: (not n.is_default, n.id)):
        if nic.network_id is None:
            continue
        network = session.get(Network, nic.network_id)
        assert network is not None
        specs.append(
            msg.NicSpec(
                mac_address=nic.mac_address,
                network_uuid=network.uuid,
                guest_type=network.guest_type.value,
                ip_address=nic.ip4_address,
                netmask=nic.netmask,
                gateway=nic.gateway,
            )
        )
    return specs
