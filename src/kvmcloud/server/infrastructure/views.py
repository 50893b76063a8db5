"""CloudStack's zone, pod, cluster, host and storagepool objects, from records (pure)."""

from typing import Any

from kvmcloud.server.api.responses import format_date, without_none
from kvmcloud.server.infrastructure.models import Zone
from kvmcloud.server.infrastructure.records import (
    ClusterRecord,
    HostRecord,
    PodRecord,
    PoolRecord,
)


def zone_response(zone: Zone) -> dict[str, Any]:
    """Map a zone to CloudStack's zone object."""
    return without_none(
        {
            "id": zone.uuid,
            "name": zone.name,
            "description": zone.description,
            "dns1": zone.dns1,
            "dns2": zone.dns2,
            "internaldns1": zone.internal_dns1,
            "internaldns2": zone.internal_dns2,
            "guestcidraddress": zone.guest_network_cidr,
            "networktype": zone.networktype,
            "securitygroupsenabled": False,
            "allocationstate": zone.allocation_state,
            "zonetoken": zone.uuid,
            "dhcpprovider": "VirtualRouter",
            "localstorageenabled": zone.local_storage_enabled,
            "type": "Core",
            "tags": [],
            "created": format_date(zone.created),
        }
    )


def pod_response(record: PodRecord) -> dict[str, Any]:
    """Map a pod to CloudStack's pod object."""
    pod, zone = record.pod, record.zone
    return without_none(
        {
            "id": pod.uuid,
            "name": pod.name,
            "zoneid": zone.uuid,
            "zonename": zone.name,
            "gateway": pod.gateway,
            "netmask": pod.netmask,
            "startip": [pod.start_ip] if pod.start_ip else None,
            "endip": [pod.end_ip] if pod.end_ip else None,
            "allocationstate": pod.allocation_state,
        }
    )


def cluster_response(record: ClusterRecord) -> dict[str, Any]:
    """Map a cluster to CloudStack's cluster object."""
    cluster = record.cluster
    return {
        "id": cluster.uuid,
        "name": cluster.name,
        "zoneid": record.zone.uuid,
        "zonename": record.zone.name,
        "podid": record.pod.uuid,
        "podname": record.pod.name,
        "hypervisortype": cluster.hypervisor_type,
        "clustertype": cluster.cluster_type,
        "allocationstate": cluster.allocation_state,
        "managedstate": "Managed",
    }


def host_response(record: HostRecord) -> dict[str, Any]:
    """Map a host to CloudStack's host object."""
    host = record.host
    return without_none(
        {
            "id": host.uuid,
            "name": host.name,
            "state": host.status,
            "type": host.type,
            "ipaddress": host.private_ip_address,
            "zoneid": record.zone.uuid,
            "zonename": record.zone.name,
            "podid": record.pod.uuid,
            "podname": record.pod.name,
            "clusterid": record.cluster.uuid,
            "clustername": record.cluster.name,
            "clustertype": "CloudManaged",
            "hypervisor": host.hypervisor_type,
            "hypervisorversion": host.hypervisor_version,
            "version": host.agent_version,
            "cpunumber": host.cpus,
            "cpuspeed": host.speed,
            "cpusockets": 1,
            "memorytotal": host.ram,
            "resourcestate": host.resource_state,
            "hosttags": host.host_tags,
            "capabilities": "hvm" if host.kvm_available else "tcg",
            "islocalstorageactive": False,
            "created": format_date(host.created),
            "lastpinged": format_date(host.last_ping),
            "events": "",
            "details": {"kvm": str(host.kvm_available).lower()},
        }
    )


def pool_response(record: PoolRecord) -> dict[str, Any]:
    """Map a pool to CloudStack's storagepool object."""
    pool, pod, cluster = record.pool, record.pod, record.cluster
    return without_none(
        {
            "id": pool.uuid,
            "name": pool.name,
            "zoneid": record.zone.uuid,
            "zonename": record.zone.name,
            "podid": pod.uuid if pod else None,
            "podname": pod.name if pod else None,
            "clusterid": cluster.uuid if cluster else None,
            "clustername": cluster.name if cluster else None,
            "ipaddress": pool.host_address,
            "path": pool.path,
            "type": pool.pool_type,
            "scope": pool.scope,
            "state": pool.status,
            "hypervisor": pool.hypervisor,
            "tags": pool.tags,
            "istagarule": False,
            "disksizetotal": pool.capacity_bytes,
            "disksizeused": pool.capacity_bytes - pool.available_bytes,
            "disksizeallocated": 0,
            "overprovisionfactor": "1.0",
            "provider": "DefaultPrimary",
            "suitableformigration": False,
            "created": format_date(pool.created),
        }
    )
