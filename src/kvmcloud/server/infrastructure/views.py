"""CloudStack's zone, pod, cluster, host and storagepool objects, from records (pure)."""

from typing import Any

from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.api.params import Entity
from kvmcloud.server.api.responses import format_date
from kvmcloud.server.infrastructure.models import Zone
from kvmcloud.server.infrastructure.records import (
    ClusterRecord,
    HostRecord,
    PodRecord,
    PoolRecord,
)

RESOURCE_TAG = ObjectSchema(
    "ResourceTagResponse",
    (
        out("key", FieldType.STRING, "Tag key name"),
        out("value", FieldType.STRING, "Tag value"),
        out("resourcetype", FieldType.STRING, "Resource type"),
        out("resourceid", FieldType.STRING, "ID of the resource"),
        out("account", FieldType.STRING, "The Account associated with the tag"),
        out("domainid", FieldType.STRING, "The ID of the domain associated with the tag"),
        out("domain", FieldType.STRING, "The domain associated with the tag"),
    ),
)

ZONE = ObjectSchema(
    "ZoneResponse",
    (
        out("id", FieldType.STRING, "Zone id"),
        out("name", FieldType.STRING, "Zone name"),
        out("description", FieldType.STRING, "Zone description"),
        out("dns1", FieldType.STRING, "the first DNS for the Zone"),
        out("dns2", FieldType.STRING, "the second DNS for the Zone"),
        out("internaldns1", FieldType.STRING, "the first internal DNS for the Zone"),
        out("internaldns2", FieldType.STRING, "the second internal DNS for the Zone"),
        out("guestcidraddress", FieldType.STRING, "the guest CIDR address for the Zone"),
        out(
            "networktype",
            FieldType.STRING,
            "the network type of the zone; can be Basic or Advanced",
        ),
        out(
            "securitygroupsenabled",
            FieldType.BOOLEAN,
            "true if security groups support is enabled, false otherwise",
        ),
        out("allocationstate", FieldType.STRING, "the allocation state of the cluster"),
        out("zonetoken", FieldType.STRING, "Zone Token"),
        out("dhcpprovider", FieldType.STRING, "the dhcp Provider for the Zone"),
        out(
            "localstorageenabled",
            FieldType.BOOLEAN,
            "true if local storage offering enabled, false otherwise",
        ),
        out("type", FieldType.STRING, "the type of the zone - core or edge"),
        out(
            "tags",
            FieldType.SET,
            "the list of resource tags associated with zone.",
            nested=RESOURCE_TAG,
        ),
        out("created", FieldType.DATE, "kvmcloud: the date and time the zone was created"),
    ),
    entity=Entity.ZONE,
)

POD = ObjectSchema(
    "PodResponse",
    (
        out("id", FieldType.STRING, "the ID of the Pod"),
        out("name", FieldType.STRING, "the name of the Pod"),
        out("zoneid", FieldType.STRING, "the Zone ID of the Pod"),
        out("zonename", FieldType.STRING, "the Zone name of the Pod"),
        out("gateway", FieldType.STRING, "the gateway of the Pod"),
        out("netmask", FieldType.STRING, "the netmask of the Pod"),
        out("startip", FieldType.LIST, "the starting IP for the Pod"),
        out("endip", FieldType.LIST, "the ending IP for the Pod"),
        out("allocationstate", FieldType.STRING, "the allocation state of the Pod"),
    ),
    entity=Entity.POD,
)

CLUSTER = ObjectSchema(
    "ClusterResponse",
    (
        out("id", FieldType.STRING, "the cluster ID"),
        out("name", FieldType.STRING, "the cluster name"),
        out("podid", FieldType.STRING, "the Pod ID of the cluster"),
        out("podname", FieldType.STRING, "the Pod name of the cluster"),
        out("zoneid", FieldType.STRING, "the Zone ID of the cluster"),
        out("zonename", FieldType.STRING, "the Zone name of the cluster"),
        out("hypervisortype", FieldType.STRING, "the hypervisor type of the cluster"),
        out("clustertype", FieldType.STRING, "the type of the cluster"),
        out("allocationstate", FieldType.STRING, "the allocation state of the cluster"),
        out("managedstate", FieldType.STRING, "whether this cluster is managed by cloudstack"),
    ),
    entity=Entity.CLUSTER,
)

HOST = ObjectSchema(
    "HostResponse",
    (
        out("id", FieldType.STRING, "the ID of the host"),
        out("name", FieldType.STRING, "the name of the host"),
        out("state", FieldType.STRING, "the state of the host"),
        out("type", FieldType.STRING, "the host type"),
        out("ipaddress", FieldType.STRING, "the IP address of the host"),
        out("zoneid", FieldType.STRING, "the Zone ID of the host"),
        out("zonename", FieldType.STRING, "the Zone name of the host"),
        out("podid", FieldType.STRING, "the Pod ID of the host"),
        out("podname", FieldType.STRING, "the Pod name of the host"),
        out("clusterid", FieldType.STRING, "the cluster ID of the host"),
        out("clustername", FieldType.STRING, "the cluster name of the host"),
        out(
            "clustertype",
            FieldType.STRING,
            "the cluster type of the cluster that host belongs to",
        ),
        out("hypervisor", FieldType.STRING, "the host hypervisor"),
        out("hypervisorversion", FieldType.STRING, "the hypervisor version"),
        out("version", FieldType.STRING, "the host version"),
        out("cpunumber", FieldType.INTEGER, "the CPU number of the host"),
        out("cpuspeed", FieldType.LONG, "the CPU speed of the host"),
        out("cpusockets", FieldType.INTEGER, "the number of CPU sockets on the host"),
        out(
            "memorytotal",
            FieldType.LONG,
            "the memory total of the host, this parameter is deprecated use "
            "memorywithoverprovisioning",
        ),
        out("resourcestate", FieldType.STRING, "the resource state of the host"),
        out("hosttags", FieldType.STRING, "comma-separated list of tags for the host"),
        out("capabilities", FieldType.STRING, "capabilities of the host"),
        out(
            "islocalstorageactive",
            FieldType.BOOLEAN,
            "true if local storage is active, false otherwise",
        ),
        out("created", FieldType.DATE, "the date and time the host was created"),
        out("lastpinged", FieldType.DATE, "the date and time the host was last pinged"),
        out("events", FieldType.STRING, "events available for the host"),
        out("details", FieldType.MAP, "Host details in key/value pairs."),
    ),
    entity=Entity.HOST,
)

STORAGE_POOL = ObjectSchema(
    "StoragePoolResponse",
    (
        out("id", FieldType.STRING, "the ID of the storage pool"),
        out("name", FieldType.STRING, "the name of the storage pool"),
        out("zoneid", FieldType.STRING, "the Zone ID of the storage pool"),
        out("zonename", FieldType.STRING, "the Zone name of the storage pool"),
        out("podid", FieldType.STRING, "the Pod ID of the storage pool"),
        out("podname", FieldType.STRING, "the Pod name of the storage pool"),
        out("clusterid", FieldType.STRING, "the ID of the cluster for the storage pool"),
        out("clustername", FieldType.STRING, "the name of the cluster for the storage pool"),
        out("ipaddress", FieldType.STRING, "the IP address of the storage pool"),
        out("path", FieldType.STRING, "the storage pool path"),
        out("type", FieldType.STRING, "the storage pool type"),
        out("scope", FieldType.STRING, "the scope of the storage pool"),
        out("state", FieldType.STRING, "the state of the storage pool"),
        out("hypervisor", FieldType.STRING, "the hypervisor type of the storage pool"),
        out("tags", FieldType.STRING, "the tags for the storage pool"),
        out(
            "istagarule",
            FieldType.BOOLEAN,
            "Whether the informed tag is a JS interpretable rule or not.",
        ),
        out("disksizetotal", FieldType.LONG, "the total disk size of the storage pool"),
        out("disksizeused", FieldType.LONG, "the host's currently used disk size"),
        out("disksizeallocated", FieldType.LONG, "the host's currently allocated disk size"),
        out(
            "overprovisionfactor",
            FieldType.STRING,
            "the overprovisionfactor for the storage pool",
        ),
        out("provider", FieldType.STRING, "Storage provider for this pool"),
        out(
            "suitableformigration",
            FieldType.BOOLEAN,
            "true if this pool is suitable to migrate a volume, false otherwise",
        ),
        out("created", FieldType.DATE, "the date and time the storage pool was created"),
    ),
    entity=Entity.STORAGE_POOL,
)

HYPERVISOR = ObjectSchema("HypervisorResponse", (out("name", FieldType.STRING, "Hypervisor name"),))


def zone_response(zone: Zone) -> dict[str, Any]:
    """Map a zone to CloudStack's zone object."""
    return ZONE.render(
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
    return POD.render(
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
    return CLUSTER.render(
        {
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
    )


def host_response(record: HostRecord) -> dict[str, Any]:
    """Map a host to CloudStack's host object."""
    host = record.host
    return HOST.render(
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
    return STORAGE_POOL.render(
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
            "disksizeallocated": record.allocated_bytes,
            "overprovisionfactor": "1.0",
            "provider": "DefaultPrimary",
            "suitableformigration": False,
            "created": format_date(pool.created),
        }
    )
