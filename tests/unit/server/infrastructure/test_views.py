from datetime import UTC, datetime

from kvmcloud.server.infrastructure.models import (
    Cluster,
    Host,
    Pod,
    PoolScope,
    PoolType,
    StoragePool,
    Zone,
)
from kvmcloud.server.infrastructure.records import (
    ClusterRecord,
    HostRecord,
    PodRecord,
    PoolRecord,
)
from kvmcloud.server.infrastructure.views import (
    cluster_response,
    host_response,
    pod_response,
    pool_response,
)

CREATED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ZONE = Zone(id=1, uuid="z-uuid", name="zone1")
POD = Pod(id=2, uuid="p-uuid", name="pod1", data_center_id=1)
CLUSTER = Cluster(id=3, uuid="c-uuid", name="cluster1", data_center_id=1, pod_id=2)


def test_pod_names_its_zone_and_leaves_out_absent_addresses():
    pod = Pod(uuid="p-uuid", name="pod1", data_center_id=1, allocation_state="Enabled")

    item = pod_response(PodRecord(pod=pod, zone=ZONE))

    assert item == {
        "id": "p-uuid",
        "name": "pod1",
        "zoneid": "z-uuid",
        "zonename": "zone1",
        "allocationstate": "Enabled",
    }


def test_pod_shows_its_ip_range_as_lists():
    pod = Pod(uuid="p", name="pod1", data_center_id=1, start_ip="10.0.0.2", end_ip="10.0.0.9")

    item = pod_response(PodRecord(pod=pod, zone=ZONE))

    assert (item["startip"], item["endip"]) == (["10.0.0.2"], ["10.0.0.9"])


def test_cluster_names_its_zone_and_pod():
    item = cluster_response(ClusterRecord(cluster=CLUSTER, zone=ZONE, pod=POD))

    assert (item["zoneid"], item["zonename"]) == ("z-uuid", "zone1")
    assert (item["podid"], item["podname"]) == ("p-uuid", "pod1")
    assert item["managedstate"] == "Managed"


def test_host_names_its_placement_and_capabilities():
    host = Host(
        uuid="h-uuid",
        name="kvm1",
        status="Up",
        kvm_available=False,
        created=CREATED,
        last_ping=None,
    )

    item = host_response(HostRecord(host=host, zone=ZONE, pod=POD, cluster=CLUSTER))

    assert (item["clusterid"], item["clustername"]) == ("c-uuid", "cluster1")
    assert item["capabilities"] == "tcg"
    assert item["details"] == {"kvm": "false"}
    assert item["created"] == "2024-05-01T12:00:00+0000"
    assert "lastpinged" not in item


def _pool(**placement: int) -> StoragePool:
    return StoragePool(
        uuid="s-uuid",
        name="pool1",
        pool_type=PoolType.SHARED_MOUNT_POINT,
        scope=PoolScope.ZONE,
        path="/pool",
        data_center_id=1,
        capacity_bytes=100,
        available_bytes=40,
        created=CREATED,
        **placement,
    )


def test_zone_wide_pool_has_no_pod_or_cluster():
    item = pool_response(PoolRecord(pool=_pool(), zone=ZONE, pod=None, cluster=None))

    assert not {"podid", "podname", "clusterid", "clustername"} & item.keys()
    assert item["disksizeused"] == 60


def test_cluster_pool_names_its_pod_and_cluster():
    record = PoolRecord(pool=_pool(pod_id=2, cluster_id=3), zone=ZONE, pod=POD, cluster=CLUSTER)

    item = pool_response(record)

    assert (item["podname"], item["clustername"]) == ("pod1", "cluster1")
