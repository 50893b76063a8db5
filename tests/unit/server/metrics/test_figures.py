"""Metrics figures from plain values."""

from kvmcloud.server.metrics import figures
from kvmcloud.server.metrics.figures import HostLoad, InfrastructureCounts


def test_gib_and_ghz_as_cloudstack_formats_them():
    assert figures.gib(3 << 29) == "1.50 GB"
    assert figures.ghz(4800) == "4.80 Ghz"


def test_percent_of_nothing_is_zero():
    assert figures.percent(500, 4000) == "12.50%"
    assert figures.percent(0, 0) == "0.00%"


def test_host_metrics_from_capacity_and_load():
    host = {"cpunumber": 2, "cpuspeed": 2000, "memorytotal": 8 << 30}
    load = HostLoad(allocated_mhz=1000, allocated_memory_bytes=1 << 30, running=1, total=3)
    assert figures.host_metrics(host, load) == {
        "instances": "1 / 3",
        "cputotalghz": "4.00 Ghz",
        "cpuallocatedghz": "1.00 Ghz",
        "cpuallocated": "25.00%",
        "memorytotalgb": "8.00 GB",
        "memoryallocatedgb": "1.00 GB",
        "memoryallocated": 1 << 30,
    }


def test_host_metrics_leave_out_what_the_host_has_not_reported():
    assert figures.host_metrics({}, HostLoad()) == {"instances": "0 / 0"}


def test_pool_metrics_from_reported_capacity():
    pool = {"disksizetotal": 10 << 30, "disksizeused": 1 << 29, "overprovisionfactor": "1.0"}
    assert figures.pool_metrics(pool) == {
        "disksizetotalgb": "10.00 GB (x1.0)",
        "disksizeusedgb": "0.50 GB",
    }
    assert figures.pool_metrics({}) == {}


def test_vm_metrics_from_offering_and_first_nic():
    vm = {
        "cpunumber": 2,
        "cpuspeed": 500,
        "memory": 1536,
        "nic": [{"ipaddress": "10.1.1.2"}, {"ipaddress": "10.2.2.2"}],
    }
    assert figures.vm_metrics(vm) == {
        "ipaddress": "10.1.1.2",
        "cputotal": "1.0 Ghz",
        "memorytotal": "1.50 GiB",
    }
    assert figures.vm_metrics({"nic": []}) == {}


def test_infrastructure_counts_and_true_zeros():
    counts = InfrastructureCounts(
        zones=1, pods=2, clusters=3, hosts=4, storage_pools=5, management_servers=1
    )
    item = figures.infrastructure(counts)
    assert (item["zones"], item["pods"], item["clusters"], item["hosts"]) == (1, 2, 3, 4)
    assert (item["storagepools"], item["managementservers"]) == (5, 1)
    assert item["systemvms"] == item["routers"] == item["imagestores"] == 0


def test_area_metrics_sum_hosts_and_share_what_vms_hold():
    load = figures.AreaLoad(
        capacity_mhz=8000,
        capacity_memory_bytes=16 << 30,
        allocated_mhz=2000,
        allocated_memory_bytes=4 << 30,
        healthy=1,
        total=2,
    )
    assert figures.area_metrics("Enabled", "hosts", load) == {
        "state": "Enabled",
        "hosts": "1 / 2",
        "cputotal": "8.00 Ghz",
        "memorytotal": "16.00 GB",
        "cpuallocated": "25.00%",
        "memoryallocated": "25.00%",
    }


def test_area_metrics_without_capacity_leave_the_shares_out():
    assert figures.area_metrics("Disabled", "clusters", figures.AreaLoad()) == {
        "state": "Disabled",
        "clusters": "0 / 0",
        "cputotal": "0.00 Ghz",
        "memorytotal": "0.00 GB",
    }
