"""Offerings through the API: update, delete, and host and storage tags in placement."""

from typing import Any

from tests.fakes import FAKE_TOKEN
from tests.integration.server.conftest import Cloud, ServerHarness
from tests.integration.server.test_vms import deploy, register

MISSING = "entity does not exist"


def service_offering(server: ServerHarness, name: str = "small", **extra: Any) -> dict:
    return server.ok(
        "createServiceOffering", name=name, cpunumber=1, cpuspeed=500, memory=256, **extra
    )["serviceoffering"]


def names(server: ServerHarness, command: str, key: str) -> list[str]:
    return [o["name"] for o in server.ok(command).get(key, [])]


def test_service_offering_tags_are_stored_cleaned_and_shown(server: ServerHarness) -> None:
    created = service_offering(server, hosttags=" gpu , fast,", tags="ssd")
    assert (created["hosttags"], created["storagetags"]) == ("gpu,fast", "ssd")
    assert "tags" not in created
    (listed,) = server.ok("listServiceOfferings", id=created["id"])["serviceoffering"]
    assert (listed["hosttags"], listed["storagetags"]) == ("gpu,fast", "ssd")
    plain = service_offering(server, name="plain")
    assert "hosttags" not in plain and "storagetags" not in plain


def test_update_service_offering_changes_only_what_is_given(server: ServerHarness) -> None:
    offering = service_offering(server, displaytext="Small one", hosttags="gpu")
    updated = server.ok(
        "updateServiceOffering", id=offering["id"], name="small-ssd", storagetags="ssd,fast"
    )["serviceoffering"]
    assert (updated["name"], updated["displaytext"]) == ("small-ssd", "Small one")
    assert (updated["hosttags"], updated["storagetags"]) == ("gpu", "ssd,fast")
    updated = server.ok(
        "updateServiceOffering", id=offering["id"], displaytext="SSD", hosttags="cpu"
    )["serviceoffering"]
    assert (updated["name"], updated["displaytext"], updated["hosttags"]) == (
        "small-ssd",
        "SSD",
        "cpu",
    )
    (listed,) = server.ok("listServiceOfferings", id=offering["id"])["serviceoffering"]
    assert listed == updated


def test_sortkey_puts_the_highest_first(server: ServerHarness) -> None:
    first, second = service_offering(server, name="a"), service_offering(server, name="b")
    assert names(server, "listServiceOfferings", "serviceoffering") == ["a", "b"]
    server.ok("updateServiceOffering", id=second["id"], sortkey=5)
    assert names(server, "listServiceOfferings", "serviceoffering") == ["b", "a"]
    server.ok("updateServiceOffering", id=first["id"], sortkey=9)
    assert names(server, "listServiceOfferings", "serviceoffering") == ["a", "b"]
    disk_a = server.ok("createDiskOffering", name="da", disksize=1)["diskoffering"]
    server.ok("createDiskOffering", name="db", disksize=2)
    server.ok("updateDiskOffering", id=disk_a["id"], sortkey=-1)
    assert names(server, "listDiskOfferings", "diskoffering") == ["db", "da"]


def test_deleting_an_offering_in_use_hides_it_and_keeps_its_vms(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id, offering = register(server, cloud), service_offering(server)
    vm = deploy(server, cloud, template_id, offering["id"])["jobresult"]["virtualmachine"]
    # As CloudStack: in use is no reason to refuse; the offering is only marked removed.
    reply = server.ok("deleteServiceOffering", id=offering["id"])
    assert reply == {"success": True}
    assert names(server, "listServiceOfferings", "serviceoffering") == []
    status, body = server.call(
        "deployVirtualMachine",
        zoneid=cloud.zone_id,
        templateid=template_id,
        serviceofferingid=offering["id"],
    )
    assert status == 431 and MISSING in body["errortext"], body
    for command in ("deleteServiceOffering", "updateServiceOffering"):
        status, body = server.call(command, id=offering["id"], name="again")
        assert status == 431 and MISSING in body["errortext"], body
    # The VM keeps its offering: it is listed with its name, and stops and starts.
    (listed,) = server.ok("listVirtualMachines", id=vm["id"])["virtualmachine"]
    assert listed["serviceofferingname"] == "small"
    server.ok("stopVirtualMachine", id=vm["id"])
    server.run_jobs()
    server.ok("startVirtualMachine", id=vm["id"])
    server.run_jobs()
    (listed,) = server.ok("listVirtualMachines", id=vm["id"])["virtualmachine"]
    assert listed["state"] == "Running"


def test_update_and_delete_a_disk_offering_in_use(server: ServerHarness, cloud: Cloud) -> None:
    disk = server.ok("createDiskOffering", name="10g", disksize=10, tags="hdd")["diskoffering"]
    updated = server.ok(
        "updateDiskOffering", id=disk["id"], name="10g-ssd", displaytext="SSD", tags=" ssd "
    )["diskoffering"]
    assert (updated["name"], updated["displaytext"], updated["tags"]) == ("10g-ssd", "SSD", "ssd")
    assert updated["disksize"] == 10
    # With a template the disk offering is recorded on the root volume.
    result = deploy(
        server,
        cloud,
        register(server, cloud),
        service_offering(server)["id"],
        diskofferingid=disk["id"],
    )
    vm = result["jobresult"]["virtualmachine"]
    assert server.ok("deleteDiskOffering", id=disk["id"]) == {"success": True}
    assert names(server, "listDiskOfferings", "diskoffering") == []
    (volume,) = server.ok("listVolumes", virtualmachineid=vm["id"])["volume"]
    assert volume["diskofferingname"] == "10g-ssd"
    status, body = server.call("updateDiskOffering", id=disk["id"], name="x")
    assert status == 431 and MISSING in body["errortext"]


def add_tagged_host(server: ServerHarness, cloud: Cloud, tags: str) -> str:
    url = "https://127.0.0.2:8252"
    server.agents.add(url)
    return server.ok(
        "addHost",
        zoneid=cloud.zone_id,
        podid=cloud.pod_id,
        clusterid=cloud.cluster_id,
        url="http://127.0.0.2",
        username="root",
        password=FAKE_TOKEN,
        hypervisor="KVM",
        hosttags=tags,
    )["host"][0]["id"]


def test_host_tags_pick_the_host(server: ServerHarness, cloud: Cloud) -> None:
    template_id = register(server, cloud)
    gpu = service_offering(server, name="gpu", hosttags="gpu")["id"]
    result = deploy(server, cloud, template_id, gpu)
    assert result["jobstatus"] == 2 and result["jobresultcode"] == 533, result
    assert "host tags gpu" in result["jobresult"]["errortext"]
    tagged = add_tagged_host(server, cloud, "GPU, fast")
    for _ in range(2):
        result = deploy(server, cloud, template_id, gpu)
        assert result["jobstatus"] == 1, result
        assert result["jobresult"]["virtualmachine"]["hostid"] == tagged
    # An untagged offering may use either host; the tagged host is not reserved.
    result = deploy(server, cloud, template_id, service_offering(server, name="any")["id"])
    assert result["jobstatus"] == 1, result


def test_storage_tags_pick_the_pool(server: ServerHarness, cloud: Cloud) -> None:
    template_id = register(server, cloud)
    ssd = service_offering(server, name="ssd", tags="ssd")["id"]
    result = deploy(server, cloud, template_id, ssd)
    assert result["jobstatus"] == 2 and result["jobresultcode"] == 533, result
    assert "storage pool tagged ssd" in result["jobresult"]["errortext"]
    pool = server.ok(
        "createStoragePool",
        name="pool2",
        zoneid=cloud.zone_id,
        clusterid=cloud.cluster_id,
        url="SharedMountPoint://localhost/var/lib/kvmcloud/pool2",
        tags="ssd,fast",
    )["storagepool"]
    result = deploy(server, cloud, template_id, ssd)
    assert result["jobstatus"] == 1, result
    vm = result["jobresult"]["virtualmachine"]
    (volume,) = server.ok("listVolumes", virtualmachineid=vm["id"])["volume"]
    assert volume["storageid"] == pool["id"]
    # As CloudStack: new storage tags must already be on the pools of the offering's disks.
    status, body = server.call("updateServiceOffering", id=ssd, storagetags="nvme")
    assert status == 431 and "doesn't have the new tags" in body["errortext"], body
    server.ok("updateStoragePool", id=pool["id"], tags="ssd,fast,nvme")
    server.ok("updateServiceOffering", id=ssd, storagetags="nvme")
    # A pool losing a tag does not strand the VM: its disk stays where it is.
    server.ok("updateStoragePool", id=pool["id"], tags="ssd")
    server.ok("stopVirtualMachine", id=vm["id"])
    server.run_jobs()
    server.ok("startVirtualMachine", id=vm["id"])
    server.run_jobs()
    (listed,) = server.ok("listVirtualMachines", id=vm["id"])["virtualmachine"]
    assert listed["state"] == "Running"


def test_only_root_admins_update_and_delete_offerings(server: ServerHarness) -> None:
    offering = service_offering(server)
    disk = server.ok("createDiskOffering", name="d", disksize=1)["diskoffering"]
    user = server.user("alice")
    for command, offering_id in (
        ("updateServiceOffering", offering["id"]),
        ("deleteServiceOffering", offering["id"]),
        ("updateDiskOffering", disk["id"]),
        ("deleteDiskOffering", disk["id"]),
    ):
        status, _ = server.call(command, user, id=offering_id, name="mine")
        assert status == 432, command
    assert names(server, "listServiceOfferings", "serviceoffering") == ["small"]


def test_offering_commands_leave_events(server: ServerHarness) -> None:
    offering = service_offering(server)
    server.ok("updateServiceOffering", id=offering["id"], name="renamed")
    server.ok("deleteServiceOffering", id=offering["id"])
    events = server.ok("listEvents", resourcetype="ServiceOffering", resourceid=offering["id"])
    described = sorted((e["type"], e["description"]) for e in events["event"])
    assert described == [
        (
            "SERVICE.OFFERING.CREATE",
            f"Successfully completed creating service offering small ({offering['id']})",
        ),
        (
            "SERVICE.OFFERING.DELETE",
            f"Successfully completed deleting service offering {offering['id']}",
        ),
        (
            "SERVICE.OFFERING.EDIT",
            f"Successfully completed updating service offering renamed ({offering['id']})",
        ),
    ]
    disk = server.ok("createDiskOffering", name="d", disksize=1)["diskoffering"]
    server.ok("updateDiskOffering", id=disk["id"], tags="ssd")
    server.ok("deleteDiskOffering", id=disk["id"])
    events = server.ok("listEvents", resourcetype="diskoffering", resourceid=disk["id"])
    assert sorted(e["type"] for e in events["event"]) == [
        "DISK.OFFERING.CREATE",
        "DISK.OFFERING.DELETE",
        "DISK.OFFERING.EDIT",
    ]
    # A refused command records nothing.
    server.call("updateDiskOffering", id=disk["id"], name="gone")
    events = server.ok("listEvents", resourcetype="DiskOffering", resourceid=disk["id"])
    assert len(events["event"]) == 3


def test_list_apis_describes_offerings_and_relates_their_id_parameters(
    server: ServerHarness,
) -> None:
    apis = {a["name"]: a for a in server.ok("listApis")["api"]}
    service = {f["name"]: f for f in apis["listServiceOfferings"]["response"]}
    assert service["memory"] == {
        "name": "memory",
        "description": "the memory in MB",
        "type": "integer",
    }
    disk = {f["name"]: f for f in apis["createDiskOffering"]["response"]}
    assert disk["disksize"]["type"] == "long" and disk["created"]["type"] == "date"
    (offering_id,) = (p for p in apis["deleteServiceOffering"]["params"] if p["name"] == "id")
    assert "listServiceOfferings" in offering_id["related"].split(",")
    assert "listDiskOfferings" not in offering_id["related"].split(",")
