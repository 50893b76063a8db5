"""Zone, Pod, Cluster, Host and StoragePool tables, under CloudStack's table names."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kvmcloud.server.db import Base, StrEnumType, UtcDateTime, new_uuid
from kvmcloud.server.infrastructure.host_states import HostStatus


class PoolType(StrEnum):
    """Primary storage types kvmcloud supports (CloudStack's names)."""

    FILESYSTEM = "Filesystem"
    SHARED_MOUNT_POINT = "SharedMountPoint"
    NETWORK_FILESYSTEM = "NetworkFilesystem"
    RBD = "RBD"


class PoolScope(StrEnum):
    """Who can reach a pool: one host, the hosts of a cluster, or every host of a zone."""

    HOST = "HOST"
    CLUSTER = "CLUSTER"
    ZONE = "ZONE"


class Zone(Base):
    """A zone (CloudStack table data_center)."""

    __tablename__ = "data_center"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    dns1: Mapped[str | None] = mapped_column(String(255))
    dns2: Mapped[str | None] = mapped_column(String(255))
    internal_dns1: Mapped[str | None] = mapped_column(String(255))
    internal_dns2: Mapped[str | None] = mapped_column(String(255))
    guest_network_cidr: Mapped[str | None] = mapped_column(String(64))
    networktype: Mapped[str] = mapped_column(String(16))
    allocation_state: Mapped[str] = mapped_column(String(16), default="Enabled")
    local_storage_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UtcDateTime())


class PhysicalNetwork(Base):
    """A zone's physical network (CloudStack table physical_network); one per zone here."""

    __tablename__ = "physical_network"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    data_center_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    state: Mapped[str] = mapped_column(String(32), default="Enabled")
    broadcast_domain_range: Mapped[str] = mapped_column(String(32), default="ZONE")
    isolation_methods: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PhysicalNetworkTrafficType(Base):
    """A traffic type a physical network carries (CloudStack physical_network_traffic_types)."""

    __tablename__ = "physical_network_traffic_types"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    physical_network_id: Mapped[int] = mapped_column(ForeignKey("physical_network.id"), index=True)
    traffic_type: Mapped[str] = mapped_column(String(32))
    kvm_network_label: Mapped[str | None] = mapped_column(String(255))


class Pod(Base):
    """A pod of a zone (CloudStack table host_pod_ref)."""

    __tablename__ = "host_pod_ref"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    data_center_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"))
    gateway: Mapped[str | None] = mapped_column(String(255))
    netmask: Mapped[str | None] = mapped_column(String(255))
    start_ip: Mapped[str | None] = mapped_column(String(255))
    end_ip: Mapped[str | None] = mapped_column(String(255))
    allocation_state: Mapped[str] = mapped_column(String(16), default="Enabled")
    created: Mapped[datetime] = mapped_column(UtcDateTime())


class Cluster(Base):
    """A cluster of hosts of one hypervisor."""

    __tablename__ = "cluster"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    pod_id: Mapped[int] = mapped_column(ForeignKey("host_pod_ref.id"))
    data_center_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"))
    hypervisor_type: Mapped[str] = mapped_column(String(32))
    cluster_type: Mapped[str] = mapped_column(String(64), default="CloudManaged")
    allocation_state: Mapped[str] = mapped_column(String(16), default="Enabled")
    created: Mapped[datetime] = mapped_column(UtcDateTime())


class Host(Base):
    """A KVM host running kvmcloud-agent."""

    __tablename__ = "host"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[HostStatus] = mapped_column(StrEnumType(HostStatus))
    type: Mapped[str] = mapped_column(String(32), default="Routing")
    url: Mapped[str] = mapped_column(String(255), unique=True)
    private_ip_address: Mapped[str] = mapped_column(String(255))
    data_center_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    pod_id: Mapped[int] = mapped_column(ForeignKey("host_pod_ref.id"), index=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("cluster.id"), index=True)
    hypervisor_type: Mapped[str] = mapped_column(String(32))
    hypervisor_version: Mapped[str | None] = mapped_column(String(255))
    agent_version: Mapped[str | None] = mapped_column(String(40))
    cpus: Mapped[int] = mapped_column(Integer, default=0)
    speed: Mapped[int] = mapped_column(Integer, default=0)
    ram: Mapped[int] = mapped_column(BigInteger, default=0)
    kvm_available: Mapped[bool] = mapped_column(Boolean, default=False)
    resource_state: Mapped[str] = mapped_column(String(32), default="Enabled")
    host_tags: Mapped[str | None] = mapped_column(String(4096))
    # The per-host key minted at enrolment: the bearer for server→agent and agent→server.
    # Stored sealed (sealing.box, bound to the host's uuid); heartbeats find the host by
    # the SHA-256 digest instead, compared in constant time.
    agent_key: Mapped[str] = mapped_column(String(255))
    agent_key_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    last_ping: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # When the agent's TLS certificate from the agent CA expires; renewed well before.
    certificate_expires: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())


class StoragePool(Base):
    """A primary storage pool: a directory on one host, or one every host of a scope sees."""

    __tablename__ = "storage_pool"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    pool_type: Mapped[PoolType] = mapped_column(StrEnumType(PoolType))
    scope: Mapped[PoolScope] = mapped_column(StrEnumType(PoolScope, 16))
    path: Mapped[str] = mapped_column(String(255))
    host_address: Mapped[str] = mapped_column(String(255))
    data_center_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    pod_id: Mapped[int | None] = mapped_column(ForeignKey("host_pod_ref.id"), index=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("cluster.id"), index=True)
    # Host-scoped (Filesystem) pools live on exactly one host; CloudStack keeps that in
    # storage_pool_host_ref, one row per pool, so a column says the same thing plainly.
    host_id: Mapped[int | None] = mapped_column(ForeignKey("host.id"))
    hypervisor: Mapped[str] = mapped_column(String(32), default="KVM")
    status: Mapped[str] = mapped_column(String(32), default="Up")
    tags: Mapped[str | None] = mapped_column(String(4096))
    capacity_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    available_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # RBD: the monitors' port (host_address holds the monitors, comma-separated), the
    # cephx user (CloudStack's user_info holds "user:secret"; here the user alone) and
    # its key, sealed (sealing.box, bound to the pool's uuid), never answered.
    port: Mapped[int | None] = mapped_column(Integer)
    user_info: Mapped[str | None] = mapped_column(String(255))
    secret: Mapped[str | None] = mapped_column(String(1024))
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())
