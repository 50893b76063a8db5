"""updateStoragePool, updateHost and clearing or checking offering tags, through the API."""

from typing import Any

from tests.integration.server.conftest import Cloud, ServerHarness
from tests.integration.server.test_offerings import add_tagged_host, service_offering
from tests.integration.server.test_vms import deploy, register


def pool(server: ServerHarness, pool_id: str) -> dict[str, Any]:
    (listed,) = server.ok("listStoragePools", id=pool_id)["storagepool"]
    return listed


def host(server: ServerHarness, host_id: str) -> dict[str, Any]:
    (listed,) = server.ok("listHosts", id=host_id)["host"]
    return listed


def failed(result: dict[str, Any]) -> str:
    assert result["jobstatus"] == 2 and result["jobresultcode"] == 533, result
    return str(result["jobresult"]["errortext"])


def root_pool(server: ServerHarness, result: dict[str, Any]) -> str:
    assert result["jobstatus"] == 1, result
    vm = result["jobresult"]["virtualmachine"]
    (volume,) = server.ok("listVolumes", virtualmachineid=vm["id"])["volume"]
    return str(volume["storageid"])


def test_update_storage_pool_renames_retags_and_clears(server: ServerHarness, cloud: Cloud) -> None:
    updated = server.ok("updateStoragePool", id=cloud.pool_id, name="fast1", tags=" ssd , fast,")
    answered = updated["storagepool"]
    assert (answered["id"], answered["name"], answered["tags"]) == (
        cloud.pool_id,
        "fast1",
        "ssd,fast",
    )
    assert answered["state"] == "Up"
    assert pool(server, cloud.pool_id) == answered
    # Nothing given: the pool is answered unchanged; an empty name is no name.
    assert server.ok("updateStoragePool", id=cloud.pool_id, name="")["storagepool"] == answered
    cleared = server.ok("updateStoragePool", id=cloud.pool_id, tags="")["storagepool"]
    assert "tags" not in cleared and cleared["name"] == "fast1"


def test_pool_tags_from_update_storage_pool_steer_placement(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id = register(server, cloud)
    ssd = service_offering(server, name="ssd", tags="ssd")["id"]
    refused = failed(deploy(server, cloud, template_id, ssd))
    assert "storage pool tagged ssd" in refused and refused.endswith(": no pool has the tag ssd")
    server.ok("updateStoragePool", id=cloud.pool_id, tags="SSD")
    assert root_pool(server, deploy(server, cloud, template_id, ssd)) == cloud.pool_id


def test_a_disabled_pool_takes_no_new_volumes(server: ServerHarness, cloud: Cloud) -> None:
    template_id = register(server, cloud)
    offering_id = service_offering(server)["id"]
    vm = deploy(server, cloud, template_id, offering_id)["jobresult"]["virtualmachine"]
    disabled = server.ok("updateStoragePool", id=cloud.pool_id, enabled=False)["storagepool"]
    assert disabled["state"] == "Disabled"
    assert pool(server, cloud.pool_id)["state"] == "Disabled"
    assert "No shared storage pool" in failed(deploy(server, cloud, template_id, offering_id))
    # Its VMs still start there: only new volumes are kept off.
    for command in ("stopVirtualMachine", "startVirtualMachine"):
        server.ok(command, id=vm["id"])
        server.run_jobs()
    (listed,) = server.ok("listVirtualMachines", id=vm["id"])["virtualmachine"]
    assert listed["state"] == "Running"
    status, body = server.call("updateStoragePool", id=cloud.pool_id, enabled=False)
    assert status == 431, body
    assert body["errortext"] == (
        f"Primary storage with id {cloud.pool_id} cannot be disabled. Storage pool state : Disabled"
    )
    enabled = server.ok("updateStoragePool", id=cloud.pool_id, enabled=True)["storagepool"]
    assert enabled["state"] == "Up"
    assert root_pool(server, deploy(server, cloud, template_id, offering_id)) == cloud.pool_id
    status, body = server.call("updateStoragePool", id=cloud.pool_id, enabled=True)
    assert status == 431 and body["errortext"].endswith(
        "cannot be enabled. Storage pool state : Up"
    )
    events = server.ok("listEvents", resourcetype="StoragePool", resourceid=cloud.pool_id)
    assert sorted((e["type"], e["description"]) for e in events["event"]) == [
        ("DISABLE.PS", f"Successfully completed disabling storage pool pool1 ({cloud.pool_id})"),
        ("ENABLE.PS", f"Successfully completed enabling storage pool pool1 ({cloud.pool_id})"),
    ]


def test_a_refused_update_changes_nothing(server: ServerHarness, cloud: Cloud) -> None:
    for extra, name in (
        ({"capacitybytes": 10**12}, "capacitybytes"),
        ({"capacityiops": 1000}, "capacityiops"),
        ({"istagarule": True}, "istagarule"),
    ):
        status, body = server.call("updateStoragePool", id=cloud.pool_id, tags="x", **extra)
        assert status == 431 and name in body["errortext"], body
    # The failed enable rolls back the rename given with it.
    status, _ = server.call("updateStoragePool", id=cloud.pool_id, name="renamed", enabled=True)
    assert status == 431
    assert "tags" not in pool(server, cloud.pool_id)
    assert pool(server, cloud.pool_id)["name"] == "pool1"
    status, body = server.call("updateStoragePool", id="8f0c4a8e-3f0b-4b59-9a57-0c1d2e3f4a5b")
    assert status == 431 and "entity does not exist" in body["errortext"]
    status, body = server.call("updateStoragePool")
    assert status == 431 and "missing parameter id" in body["errortext"]


def test_only_root_admins_update_pools_and_hosts(server: ServerHarness, cloud: Cloud) -> None:
    user = server.user("alice")
    for command, target in (("updateStoragePool", cloud.pool_id), ("updateHost", cloud.host_id)):
        status, _ = server.call(command, user, id=target, name="mine")
        assert status == 432, command
    assert pool(server, cloud.pool_id)["name"] == "pool1"


def test_update_host_renames_retags_and_clears(server: ServerHarness, cloud: Cloud) -> None:
    answered = server.ok("updateHost", id=cloud.host_id, name="kvm-a", hosttags="gpu, big")["host"]
    assert (answered["id"], answered["name"], answered["hosttags"]) == (
        cloud.host_id,
        "kvm-a",
        "gpu,big",
    )
    assert host(server, cloud.host_id)["hosttags"] == "gpu,big"
    cleared = server.ok("updateHost", id=cloud.host_id, hosttags="")["host"]
    assert "hosttags" not in cleared and cleared["name"] == "kvm-a"
    status, body = server.call("updateHost", id=cloud.host_id, hosttags="x", istagarule=True)
    assert status == 431 and "istagarule" in body["errortext"]


def test_host_tags_from_update_host_pick_the_host(server: ServerHarness, cloud: Cloud) -> None:
    template_id = register(server, cloud)
    gpu = service_offering(server, name="gpu", hosttags="gpu")["id"]
    assert failed(deploy(server, cloud, template_id, gpu)).endswith(": no host has the tag gpu")
    server.ok("updateHost", id=cloud.host_id, hosttags="GPU")
    result = deploy(server, cloud, template_id, gpu)
    assert result["jobresult"]["virtualmachine"]["hostid"] == cloud.host_id


def test_a_disabled_host_gets_no_new_vm(server: ServerHarness, cloud: Cloud) -> None:
    template_id = register(server, cloud)
    offering_id = service_offering(server)["id"]
    running = deploy(server, cloud, template_id, offering_id)["jobresult"]["virtualmachine"]
    disabled = server.ok("updateHost", id=cloud.host_id, allocationstate="Disable")["host"]
    assert (disabled["resourcestate"], disabled["state"]) == ("Disabled", "Up")
    failed(deploy(server, cloud, template_id, offering_id))
    (vm,) = server.ok("listVirtualMachines", id=running["id"])["virtualmachine"]
    assert vm["state"] == "Running"
    # Disabling twice is no error, as in CloudStack.
    server.ok("updateHost", id=cloud.host_id, allocationstate="Disable")
    enabled = server.ok("updateHost", id=cloud.host_id, allocationstate="Enable")["host"]
    assert enabled["resourcestate"] == "Enabled"
    assert deploy(server, cloud, template_id, offering_id)["jobstatus"] == 1
    status, body = server.call("updateHost", id=cloud.host_id, allocationstate="Maintenance")
    assert status == 530, body
    assert body["errortext"] == (
        f"Failed to update host: host1 with id {cloud.host_id}, Invalid allocation state: "
        "Maintenance, only Enable/Disable are allowed"
    ).replace("host1", host(server, cloud.host_id)["name"])


def test_empty_tags_clear_offering_tags(server: ServerHarness) -> None:
    offering = service_offering(server, hosttags="gpu", tags="ssd")
    cleared = server.ok("updateServiceOffering", id=offering["id"], hosttags="", storagetags="")
    assert "hosttags" not in cleared["serviceoffering"]
    assert "storagetags" not in cleared["serviceoffering"]
    # Other empty parameters are absent ones, as in CloudStack.
    kept = server.ok("updateServiceOffering", id=offering["id"], name="")["serviceoffering"]
    assert kept["name"] == "small"
    disk = server.ok("createDiskOffering", name="d", disksize=1, tags="hdd")["diskoffering"]
    cleared = server.ok("updateDiskOffering", id=disk["id"], tags="")["diskoffering"]
    assert "tags" not in cleared


def test_new_offering_tags_must_be_on_the_pools_and_hosts_in_use(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id = register(server, cloud)
    server.ok("updateStoragePool", id=cloud.pool_id, tags="ssd")
    server.ok("updateHost", id=cloud.host_id, hosttags="gpu")
    offering = service_offering(server, tags="ssd", hosttags="gpu")
    disk = server.ok("createDiskOffering", name="d", disksize=1, tags="ssd")["diskoffering"]
    result = deploy(server, cloud, template_id, offering["id"], diskofferingid=disk["id"])
    vm = result["jobresult"]["virtualmachine"]
    (volume,) = server.ok("listVolumes", virtualmachineid=vm["id"])["volume"]

    status, body = server.call("updateServiceOffering", id=offering["id"], storagetags="ssd,nvme")
    assert status == 431, body
    assert body["errortext"] == (
        "There are active volumes using the disk offering "
        f'{{"name":"small","uuid":"{offering["id"]}"}}, and the pool '
        f'{{"name":"pool1","uuid":"{cloud.pool_id}"}} doesn\'t have the new tags. The '
        "following volumes are using the mentioned disk offering "
        f'[{{"name":"{volume["name"]}","uuid":"{volume["id"]}"}}]. Please first add the new '
        "tags to the mentioned storage pools before adding them to the disk offering."
    )
    status, body = server.call("updateDiskOffering", id=disk["id"], tags="nvme")
    assert status == 431 and "doesn't have the new tags" in body["errortext"], body
    status, body = server.call("updateServiceOffering", id=offering["id"], hosttags="gpu,big")
    assert status == 431, body
    host_name = host(server, cloud.host_id)["name"]
    assert body["errortext"] == (
        f'There are active VMs using offering [{{"name":"small","uuid":"{offering["id"]}"}}], '
        f'and the hosts [[{{"name":"{host_name}","uuid":"{cloud.host_id}"}}]] don\'t have the '
        "new tags"
    )
    # Nothing of a refused update is kept; tags already on the pool and host pass.
    (listed,) = server.ok("listServiceOfferings", id=offering["id"])["serviceoffering"]
    assert (listed["storagetags"], listed["hosttags"]) == ("ssd", "gpu")
    server.ok("updateStoragePool", id=cloud.pool_id, tags="ssd,nvme")
    server.ok("updateHost", id=cloud.host_id, hosttags="gpu,big")
    server.ok("updateServiceOffering", id=offering["id"], storagetags="nvme", hosttags="big")
    server.ok("updateDiskOffering", id=disk["id"], tags="NVME")
    # Clearing needs no check; a stopped VM holds no host, its disk still holds the pool.
    server.ok("updateServiceOffering", id=offering["id"], hosttags="", storagetags="")
    server.ok("stopVirtualMachine", id=vm["id"])
    server.run_jobs()
    server.ok("updateServiceOffering", id=offering["id"], hosttags="other")
    status, _ = server.call("updateServiceOffering", id=offering["id"], storagetags="other")
    assert status == 431


def test_a_second_host_takes_the_tagged_offering_after_update(
    server: ServerHarness, cloud: Cloud
) -> None:
    # addHost's tags and updateHost's are the same tags: updating replaces them.
    second = add_tagged_host(server, cloud, "old")
    server.ok("updateHost", id=second, hosttags="new")
    template_id = register(server, cloud)
    new = service_offering(server, name="new", hosttags="new")["id"]
    old = service_offering(server, name="old", hosttags="old")["id"]
    assert (
        deploy(server, cloud, template_id, new)["jobresult"]["virtualmachine"]["hostid"] == second
    )
    failed(deploy(server, cloud, template_id, old))
