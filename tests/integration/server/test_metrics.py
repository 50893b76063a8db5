"""Metrics list commands: the base list's objects, visibility and paging, plus figures."""

from typing import Any

from kvmcloud.server.app import recover_after_restart
from tests.integration.server.conftest import Cloud, ServerHarness
from tests.integration.server.test_management_servers import add_server
from tests.integration.server.test_vms import deploy, offering, register


def test_vm_metrics_show_allocated_figures_and_only_the_callers_vms(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id = register(server, cloud, ispublic="true")
    offering_id = offering(server, memory=512)
    deploy(server, cloud, template_id, offering_id, name="admin-vm")
    user = server.user("bob")
    status, reply = server.call(
        "deployVirtualMachine",
        user,
        zoneid=cloud.zone_id,
        templateid=template_id,
        serviceofferingid=offering_id,
        name="bob-vm",
    )
    assert status == 200, reply
    server.run_jobs()

    status, body = server.call("listVirtualMachinesMetrics", user)
    assert status == 200, body
    assert body["count"] == 1
    (vm,) = body["virtualmachine"]
    base = server.call("listVirtualMachines", user)[1]["virtualmachine"][0]
    assert {k: vm[k] for k in base} == base
    assert vm["name"] == "bob-vm"
    assert (vm["cputotal"], vm["memorytotal"]) == ("0.5 Ghz", "0.50 GiB")
    assert vm["ipaddress"] == base["nic"][0]["ipaddress"]
    assert "cpuused" not in vm and "diskread" not in vm and "networkread" not in vm

    everything = server.ok("listVirtualMachinesMetrics", listall=True, pagesize=1, page=2)
    assert everything["count"] == 2 and len(everything["virtualmachine"]) == 1


def test_host_metrics_add_capacity_and_what_the_vms_hold(
    server: ServerHarness, cloud: Cloud
) -> None:
    empty = server.ok("listHostsMetrics", id=cloud.host_id)["host"][0]
    assert (empty["instances"], empty["cpuallocatedghz"]) == ("0 / 0", "0.00 Ghz")
    template_id, offering_id = register(server, cloud), offering(server, memory=1024)
    deploy(server, cloud, template_id, offering_id, name="a")
    deploy(server, cloud, template_id, offering_id, name="b")
    vm = server.ok("listVirtualMachines", name="b")["virtualmachine"][0]
    server.ok("stopVirtualMachine", id=vm["id"])
    server.run_jobs()

    body = server.ok("listHostsMetrics", zoneid=cloud.zone_id)
    assert body["count"] == 1
    (host,) = body["host"]
    assert host["id"] == cloud.host_id and host["memorytotal"] == 8 << 30
    assert host["instances"] == "1 / 1"  # a stopped VM leaves its host
    assert host["cputotalghz"] == "4.00 Ghz" and host["cpuallocatedghz"] == "0.50 Ghz"
    assert host["cpuallocated"] == "12.50%"
    assert (host["memorytotalgb"], host["memoryallocatedgb"]) == ("8.00 GB", "1.00 GB")
    assert "cpuusedghz" not in host and "memoryusedgb" not in host
    assert server.ok("listHostsMetrics", name="nosuchhost") == {}


def test_storage_pool_metrics_show_the_reported_capacity(
    server: ServerHarness, cloud: Cloud
) -> None:
    (pool,) = server.ok("listStoragePoolsMetrics", id=cloud.pool_id)["storagepool"]
    base = server.ok("listStoragePools", id=cloud.pool_id)["storagepool"][0]
    assert {k: pool[k] for k in base} == base
    gib = 1024.0**3
    assert pool["disksizetotalgb"] == f"{base['disksizetotal'] / gib:.2f} GB (x1.0)"
    assert pool["disksizeusedgb"] == f"{base['disksizeused'] / gib:.2f} GB"
    assert "disksizeallocatedgb" not in pool


def test_infrastructure_counts_what_exists(server: ServerHarness, cloud: Cloud) -> None:
    add_server(server, "earlier-run", server.services.name, server.clock())
    recover_after_restart(server.services)  # this run Up, the earlier one Down
    item = server.ok("listInfrastructure")["infrastructure"]
    assert (item["zones"], item["pods"], item["clusters"], item["hosts"]) == (1, 1, 1, 1)
    assert item["storagepools"] == 1 and item["managementservers"] == 1
    assert item["systemvms"] == item["routers"] == 0


def test_zone_and_cluster_metrics_sum_their_hosts(server: ServerHarness, cloud: Cloud) -> None:
    template_id, offering_id = register(server, cloud), offering(server, memory=2048)
    deploy(server, cloud, template_id, offering_id, name="a")
    server.ok("createZone", name="empty", networktype="Advanced")

    zones = server.ok("listZonesMetrics")
    assert zones["count"] == 2
    zone, empty = sorted(zones["zone"], key=lambda z: z["name"] != "zone1")
    assert zone["id"] == cloud.zone_id and zone["networktype"] == "Advanced"
    assert (zone["state"], zone["clusters"]) == ("Enabled", "1 / 1")
    assert (zone["cputotal"], zone["memorytotal"]) == ("4.00 Ghz", "8.00 GB")
    assert (zone["cpuallocated"], zone["memoryallocated"]) == ("12.50%", "25.00%")
    assert (empty["clusters"], empty["cputotal"]) == ("0 / 0", "0.00 Ghz")
    assert "cpuallocated" not in empty and "cpuused" not in zone
    assert server.ok("listZonesMetrics", name="empty")["zone"][0]["id"] == empty["id"]

    (cluster,) = server.ok("listClustersMetrics", zoneid=cloud.zone_id)["cluster"]
    assert cluster["id"] == cloud.cluster_id and cluster["hypervisortype"] == "KVM"
    assert (cluster["state"], cluster["hosts"]) == ("Enabled", "1 / 1")
    assert (cluster["cpuallocated"], cluster["memoryallocated"]) == ("12.50%", "25.00%")
    assert "memoryused" not in cluster and "drsimbalance" not in cluster


def test_management_server_metrics_list_the_base_objects(server: ServerHarness) -> None:
    recover_after_restart(server.services)
    metrics = server.ok("listManagementServersMetrics", id=server.services.msid)
    assert metrics == server.ok("listManagementServers", id=server.services.msid)
    assert metrics["managementserver"][0]["state"] == "Up"


def test_admin_metrics_refuse_users(server: ServerHarness, cloud: Cloud) -> None:
    user = server.user("bob")
    for command in (
        "listHostsMetrics",
        "listStoragePoolsMetrics",
        "listZonesMetrics",
        "listClustersMetrics",
        "listManagementServersMetrics",
        "listInfrastructure",
    ):
        status, body = server.call(command, user)
        assert status == 432, (command, body)
        assert body["errortext"] == (
            f"The API {command} does not exist or is not available for this account."
        )


def test_metrics_commands_take_their_base_commands_parameters(server: ServerHarness) -> None:
    def params(name: str) -> list[str]:
        (api,) = server.ok("listApis", name=name)["api"]
        return sorted(p["name"] for p in api["params"])

    for metrics, base in (
        ("listVirtualMachinesMetrics", "listVirtualMachines"),
        ("listHostsMetrics", "listHosts"),
        ("listStoragePoolsMetrics", "listStoragePools"),
        ("listZonesMetrics", "listZones"),
        ("listClustersMetrics", "listClusters"),
        ("listManagementServersMetrics", "listManagementServers"),
    ):
        assert params(metrics) == params(base), metrics
    assert params("listInfrastructure") == []


def test_list_apis_describes_vm_and_metrics_objects(server: ServerHarness) -> None:
    apis = {a["name"]: a for a in server.ok("listApis")["api"]}

    def fields(command: str) -> dict[str, dict[str, Any]]:
        return {f["name"]: f for f in apis[command]["response"]}

    vm = fields("deployVirtualMachine")
    nic = {f["name"]: f for f in vm["nic"]["response"]}
    assert vm["nic"]["type"] == "set" and nic["isdefault"]["type"] == "boolean"
    assert vm["details"]["type"] == "map" and vm["created"]["type"] == "date"
    assert "listVirtualMachines" in apis["startVirtualMachine"]["related"].split(",")
    assert "listVirtualMachinesMetrics" not in apis["startVirtualMachine"]["related"]
    volume_params = {p["name"]: p for p in apis["listVolumes"]["params"]}
    vm_related = volume_params["virtualmachineid"]["related"].split(",")
    assert "deployVirtualMachine" in vm_related and "listVirtualMachinesMetrics" not in vm_related
    assert fields("listVolumes")["size"]["type"] == "long"
    metrics = fields("listVirtualMachinesMetrics")
    assert {"nic", "cputotal", "memorytotal", "ipaddress"} <= metrics.keys()
    host = fields("listHostsMetrics")
    assert host["memoryallocated"]["type"] == "long" and host["cpunumber"]["type"] == "integer"
    assert {"disksizetotal", "disksizeusedgb"} <= fields("listStoragePoolsMetrics").keys()
    assert fields("listZonesMetrics")["clusters"]["type"] == "string"
    assert fields("listClustersMetrics")["hosts"]["type"] == "string"
    assert fields("listInfrastructure")["hosts"]["type"] == "integer"
    servers = fields("listManagementServersMetrics")
    assert servers.keys() == fields("listManagementServers").keys()
    assert servers["lastserverstart"]["type"] == "date"
