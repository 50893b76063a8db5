"""VMs boot under real libvirt/QEMU from direct-download templates and ISOs, end to end."""

import hashlib
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cs import CloudStack, CloudStackApiException
from libcloud.compute.providers import get_driver
from libcloud.compute.types import NodeState, Provider

from tests.e2e.conftest import HEADER, Stack, register_template, running_stack
from tests.support.images import BOOT_MESSAGE, make_boot_iso
from tests.support.libvirt import URI, domain_state, libvirt_or_skip
from tests.support.origin import Origin
from tests.support.processes import start_agent
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

MARKER = BOOT_MESSAGE.decode()


@pytest.fixture(scope="module")
def vm_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with libvirt_or_skip():
        workdir = tmp_path_factory.mktemp("e2e-vms")
        consoles = workdir / "consoles"
        make_boot_iso(workdir / "boot.iso")
        env = {"KVMCLOUD_AGENT_CONSOLE_DIR": str(consoles)}
        with running_stack(f"sqlite:///{workdir}/kvmcloud.db", workdir, env) as stack:
            # Domain names must not collide with another run's on this host's libvirt.
            stack.api.updateConfiguration(name="instance.name", value=f"e2e-{secrets.token_hex(3)}")
            (workdir / "images" / "boot.iso").write_bytes((workdir / "boot.iso").read_bytes())
            stack.api.createServiceOffering(
                name="tiny", displaytext="tiny", cpunumber=1, cpuspeed=500, memory=64
            )
            stack.api.createDiskOffering(name="small", displaytext="small", disksize=1)
            yield stack


def offering_id(stack: Stack) -> str:
    return stack.api.listServiceOfferings(name="tiny")["serviceoffering"][0]["id"]


def register(stack: Stack, name: str, api: CloudStack | None = None) -> str:
    return str(register_template(stack, name, api=api)["id"])


def wait_for_marker(vm: dict, after: int = 0, timeout_s: float = 30.0) -> str:
    """Read the VM's serial console log until the boot marker appears (bounded)."""
    path = Path(vm["details"]["consolelog"])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if MARKER in text[after:]:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{MARKER} not on the console of {vm['name']} within {timeout_s} s")


def deploy(stack: Stack, template_id: str, **extra: object) -> dict:
    return stack.api.deployVirtualMachine(
        zoneid=stack.zone_id, templateid=template_id, serviceofferingid=offering_id(stack), **extra
    )["virtualmachine"]


def destroy(stack: Stack, vm: dict) -> None:
    stack.api.destroyVirtualMachine(id=vm["id"], expunge=True)
    assert domain_state(vm["instancename"]) is None


def test_vm_boots_from_a_direct_download_template(vm_stack: Stack) -> None:
    template_id = register(vm_stack, "boot-template")
    before = vm_stack.origin.get_count(vm_stack.image_path)
    vm = deploy(vm_stack, template_id, name="first")
    assert vm["state"] == "Running" and vm["details"]["accelerator"] in ("kvm", "tcg")
    assert vm["nic"][0]["ipaddress"] and vm["nic"][0]["macaddress"]
    wait_for_marker(vm)
    assert domain_state(vm["instancename"]) == "running"
    assert vm_stack.origin.get_count(vm_stack.image_path) == before + 1
    refs = vm_stack.rows(
        "select r.install_path from template_spool_ref r "
        "join vm_template t on t.id = r.template_id where t.uuid = :id",
        id=template_id,
    )
    template_file = Path(refs[0]["install_path"])
    assert hashlib.sha256(template_file.read_bytes()).hexdigest() == vm_stack.image_sha256
    # A second VM from the same template on the same pool transfers nothing.
    second = deploy(vm_stack, template_id, name="second")
    wait_for_marker(second)
    assert vm_stack.origin.get_count(vm_stack.image_path) == before + 1
    volumes = vm_stack.api.listVolumes(virtualmachineid=second["id"])["volume"]
    root_file = vm_stack.pool_path / volumes[0]["path"]
    assert root_file.exists()
    for each in (vm, second):
        destroy(vm_stack, each)
    assert not root_file.exists()
    assert template_file.exists()  # the template stays on the pool for the next deploy


def test_stop_start_and_reboot_on_real_libvirt(vm_stack: Stack) -> None:
    vm = deploy(vm_stack, register(vm_stack, "lifecycle"))
    console = wait_for_marker(vm)
    stopped = vm_stack.api.stopVirtualMachine(id=vm["id"], forced=True)["virtualmachine"]
    assert stopped["state"] == "Stopped" and domain_state(vm["instancename"]) == "stopped"
    started = vm_stack.api.startVirtualMachine(id=vm["id"])["virtualmachine"]
    assert started["state"] == "Running"
    console = wait_for_marker(started, after=len(console))
    vm_stack.api.rebootVirtualMachine(id=vm["id"])
    wait_for_marker(started, after=len(console))
    destroy(vm_stack, vm)
    assert vm_stack.api.listVirtualMachines(id=vm["id"]) == {}


def test_vm_boots_from_a_direct_download_iso(vm_stack: Stack) -> None:
    iso = vm_stack.api.registerIso(
        name="boot-iso",
        displaytext="boot-iso",
        zoneid=vm_stack.zone_id,
        url=vm_stack.origin.url("/boot.iso"),
        directdownload=True,
        details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
    )["iso"][0]
    disk = vm_stack.api.listDiskOfferings(name="small")["diskoffering"][0]
    vm = deploy(vm_stack, iso["id"], diskofferingid=disk["id"])
    assert vm["isoid"] == iso["id"]
    wait_for_marker(vm)
    root = vm_stack.api.listVolumes(virtualmachineid=vm["id"])["volume"][0]
    assert root["size"] == 1024**3
    destroy(vm_stack, vm)


def test_restarting_the_agent_keeps_running_vms_running(vm_stack: Stack) -> None:
    vm = deploy(vm_stack, register(vm_stack, "survivor"))
    wait_for_marker(vm)
    assert vm_stack.agent.stop() == 0
    vm_stack.agent = start_agent(
        vm_stack.agent_port,
        vm_stack.workdir / "agent-state",
        vm_stack.workdir / "agent.log",
        vm_stack.agent_env,
    )
    assert domain_state(vm["instancename"]) == "running"
    assert wait_until(
        lambda: vm_stack.api.listHosts(id=vm_stack.host_id)["host"][0]["state"] == "Up",
        timeout_s=30,
        interval_s=0.5,
    ), "host did not come back Up"
    assert vm_stack.api.listVirtualMachines(id=vm["id"])["virtualmachine"][0]["state"] == "Running"
    destroy(vm_stack, vm)


def test_errors_reach_the_caller(vm_stack: Stack) -> None:
    iso = vm_stack.api.registerIso(
        name="no-disk-iso",
        displaytext="x",
        zoneid=vm_stack.zone_id,
        url=vm_stack.origin.url("/boot.iso"),
        directdownload=True,
        details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
    )["iso"][0]
    with pytest.raises(CloudStackApiException) as no_disk:
        deploy(vm_stack, iso["id"])
    assert no_disk.value.error["errorcode"] == 431
    assert "diskofferingid" in no_disk.value.error["errortext"]
    huge = vm_stack.api.createServiceOffering(
        name="huge", displaytext="huge", cpunumber=1, cpuspeed=500, memory=1024 * 1024
    )["serviceoffering"]
    with pytest.raises(CloudStackApiException) as no_room:
        vm_stack.api.deployVirtualMachine(
            zoneid=vm_stack.zone_id,
            serviceofferingid=huge["id"],
            templateid=register(vm_stack, "too-big"),
        )
    assert "free memory" in no_room.value.error["errortext"]


def test_offering_tags_update_and_delete_through_cs(vm_stack: Stack) -> None:
    api = vm_stack.api
    gpu = api.createServiceOffering(
        name="gpu", displaytext="gpu", cpunumber=1, cpuspeed=500, memory=64, hosttags="gpu"
    )["serviceoffering"]
    assert gpu["hosttags"] == "gpu"
    template_id = register(vm_stack, "tagged")
    with pytest.raises(CloudStackApiException) as untagged:
        api.deployVirtualMachine(
            zoneid=vm_stack.zone_id, serviceofferingid=gpu["id"], templateid=template_id
        )
    assert untagged.value.error["errorcode"] == 533
    assert "host tags gpu" in untagged.value.error["errortext"]
    plain = api.createServiceOffering(
        name="plain", displaytext="plain", cpunumber=1, cpuspeed=500, memory=64
    )["serviceoffering"]
    renamed = api.updateServiceOffering(id=plain["id"], name="plain-2", sortkey=3)
    assert renamed["serviceoffering"]["name"] == "plain-2"
    vm = api.deployVirtualMachine(
        zoneid=vm_stack.zone_id, serviceofferingid=plain["id"], templateid=template_id
    )["virtualmachine"]
    # Deleting the offering in use is allowed, as in CloudStack; its VM keeps running it.
    for offering in (gpu, plain):
        assert api.deleteServiceOffering(id=offering["id"])["success"] in (True, "true")
    listed = {o["name"] for o in api.listServiceOfferings()["serviceoffering"]}
    assert not listed & {"gpu", "plain-2"}
    api.stopVirtualMachine(id=vm["id"])
    started = api.startVirtualMachine(id=vm["id"])["virtualmachine"]
    assert started["state"] == "Running" and started["serviceofferingname"] == "plain-2"
    assert domain_state(vm["instancename"]) == "running"
    destroy(vm_stack, vm)


def test_network_offerings_networks_and_disk_offerings_through_cs(vm_stack: Stack) -> None:
    api = vm_stack.api
    offering = api.createNetworkOffering(
        name="cs-l2", displaytext="cs L2", guestiptype="L2", traffictype="GUEST"
    )["networkoffering"]
    assert offering["state"] == "Disabled"
    with pytest.raises(CloudStackApiException) as disabled:
        api.createNetwork(name="early", networkofferingid=offering["id"], zoneid=vm_stack.zone_id)
    assert disabled.value.error["errorcode"] == 431
    assert "is not Enabled" in disabled.value.error["errortext"]
    api.updateNetworkOffering(id=offering["id"], state="Enabled")
    (enabled,) = api.listNetworkOfferings(id=offering["id"])["networkoffering"]
    assert enabled["state"] == "Enabled"
    isolated_offering = api.listNetworkOfferings(guestiptype="Isolated", isdefault=True)[
        "networkoffering"
    ][0]

    l2 = api.createNetwork(name="cs-l2", networkofferingid=offering["id"], zoneid=vm_stack.zone_id)
    isolated = api.createNetwork(
        name="cs-isolated",
        networkofferingid=isolated_offering["id"],
        zoneid=vm_stack.zone_id,
        gateway="192.168.70.1",
        netmask="255.255.255.0",
    )
    l2_id, isolated_id = l2["network"]["id"], isolated["network"]["id"]
    # cs follows updateNetwork's job and returns its result.
    renamed = api.updateNetwork(id=l2_id, name="cs-l2-renamed")["network"]
    assert renamed["name"] == "cs-l2-renamed"
    vm = deploy(vm_stack, register(vm_stack, "cs-networks"), networkids=f"{isolated_id},{l2_id}")
    assert vm["state"] == "Running" and domain_state(vm["instancename"]) == "running"
    assert [(n["networkid"], n.get("ipaddress")) for n in vm["nic"]] == [
        (isolated_id, "192.168.70.2"),
        (l2_id, None),
    ]
    with pytest.raises(CloudStackApiException) as in_use:
        api.deleteNetwork(id=l2_id)
    assert in_use.value.error["errorcode"] == 530
    assert "not all user vms are expunged" in in_use.value.error["errortext"]
    with pytest.raises(CloudStackApiException) as offering_in_use:
        api.deleteNetworkOffering(id=offering["id"])
    assert offering_in_use.value.error["errorcode"] == 431

    destroy(vm_stack, vm)
    for network_id in (l2_id, isolated_id):
        assert api.deleteNetwork(id=network_id) == {"success": True}
    assert api.deleteNetworkOffering(id=offering["id"])["success"] in (True, "true")
    assert api.listNetworks(listall=True) == {}
    assert api.listNetworkOfferings(id=offering["id"]) == {}

    disk = api.createDiskOffering(name="cs-disk", displaytext="cs disk", disksize=2)
    disk_id = disk["diskoffering"]["id"]
    updated = api.updateDiskOffering(id=disk_id, displaytext="renamed disk")["diskoffering"]
    assert updated["displaytext"] == "renamed disk"
    assert api.deleteDiskOffering(id=disk_id)["success"] in (True, "true")
    assert api.listDiskOfferings(id=disk_id) == {}


def libcloud_driver(stack: Stack) -> Any:
    port = int(stack.endpoint.split(":")[2].split("/")[0])
    return get_driver(Provider.CLOUDSTACK)(
        stack.keys.api_key,
        stack.keys.secret_key,
        host="127.0.0.1",
        port=port,
        path="/client/api",
        secure=False,
    )


def test_apache_libcloud_creates_and_destroys_a_node(vm_stack: Stack) -> None:
    template_id = register(vm_stack, "libcloud")
    driver = libcloud_driver(vm_stack)
    image = next(i for i in driver.list_images() if i.id == template_id)
    size = next(s for s in driver.list_sizes() if s.name == "tiny")
    location = driver.list_locations()[0]
    node = driver.create_node(name="libcloud-node", size=size, image=image, location=location)
    assert node.state == NodeState.STOPPED  # libcloud sends startvm=false
    assert node.private_ips or node.public_ips
    assert driver.destroy_node(node) is True
    listed = vm_stack.api.listVirtualMachines(id=node.id)
    assert listed == {} or listed["virtualmachine"][0]["state"] == "Destroyed"


def test_apache_libcloud_lists_nodes_and_registers_an_iso(vm_stack: Stack) -> None:
    driver = libcloud_driver(vm_stack)
    vm = deploy(vm_stack, register(vm_stack, "libcloud-list"), name="listed")
    # list_nodes also lists public IPs and port and IP forwarding rules: none here.
    nodes = {node.id: node for node in driver.list_nodes()}
    node = nodes[vm["id"]]
    assert node.state == NodeState.RUNNING and node.name == "listed"
    assert vm["nic"][0]["ipaddress"] in node.private_ips and node.public_ips == []
    assert node.extra["ip_forwarding_rules"] == [] and node.extra["port_forwarding_rules"] == []
    limits = driver.ex_limits()
    assert limits["max_instances"] == -1 and limits["max_secondary_storage"] == -1

    # ex_register_iso cannot send directdownload (nor a header): the zone default makes
    # it a direct download, from an origin that asks for no header.
    iso_bytes = (vm_stack.workdir / "boot.iso").read_bytes()
    with Origin(files={"/libcloud.iso": iso_bytes}) as plain:
        registered = driver.ex_register_iso(
            "libcloud-iso", plain.url("/libcloud.iso"), location=driver.list_locations()[0]
        )
    iso_id = registered["iso"][0]["id"]
    (listed,) = vm_stack.api.listIsos(id=iso_id)["iso"]
    assert listed["name"] == "libcloud-iso" and listed["directdownload"] is True
    assert listed["bootable"] is False  # libcloud's default
    vm_stack.api.deleteIso(id=iso_id)
    destroy(vm_stack, vm)
    assert vm["id"] not in {n.id for n in driver.list_nodes() if n.state != NodeState.TERMINATED}


def test_apache_libcloud_creates_a_node_on_networks(vm_stack: Stack) -> None:
    driver = libcloud_driver(vm_stack)
    template_id = register(vm_stack, "libcloud-networks")
    image = next(i for i in driver.list_images() if i.id == template_id)
    size = next(s for s in driver.list_sizes() if s.name == "tiny")
    location = driver.list_locations()[0]
    offerings = {o.name: o for o in driver.ex_list_network_offerings()}
    assert offerings["DefaultSharedNetworkOffering"].guest_ip_type == "Shared"
    shared = driver.ex_create_network(
        "libcloud shared",
        "libcloud-shared",
        offerings["DefaultSharedNetworkOffering"],
        location,
        gateway="192.168.60.1",
        netmask="255.255.255.0",
    )
    l2 = driver.ex_create_network(
        "libcloud l2", "libcloud-l2", offerings["DefaultL2NetworkOffering"], location
    )
    listed = {n.id: n for n in driver.ex_list_networks()}
    assert listed[shared.id].name == "libcloud-shared"
    assert listed[shared.id].extra["type"] == "Shared"
    assert listed[l2.id].extra["type"] == "L2"

    node = driver.create_node(
        name="libcloud-nets", size=size, image=image, location=location, networks=[shared, l2]
    )

    # The Shared network gives the default NIC its address; the L2 NIC has none.
    assert node.private_ips == ["192.168.60.2"] and node.public_ips == []
    (vm,) = vm_stack.api.listVirtualMachines(id=node.id)["virtualmachine"]
    assert [(n["networkid"], n["isdefault"], n.get("ipaddress")) for n in vm["nic"]] == [
        (shared.id, True, "192.168.60.2"),
        (l2.id, False, None),
    ]
    assert driver.destroy_node(node, ex_expunge=True) is True
    assert driver.ex_delete_network(l2) is True
    assert driver.ex_delete_network(shared) is True
    assert {shared.id, l2.id}.isdisjoint(n.id for n in driver.ex_list_networks())


def test_deleting_an_account_removes_its_running_vm_and_its_template_copy(
    vm_stack: Stack,
) -> None:
    created = vm_stack.api.createAccount(
        username="leaver", email="l@example.org", firstname="L", lastname="Eaver", accounttype=0
    )["account"]
    pair = vm_stack.api.registerUserKeys(id=created["user"][0]["id"])["userkeys"]
    leaver = CloudStack(
        endpoint=vm_stack.endpoint,
        key=pair["apikey"],
        secret=pair["secretkey"],
        fetch_result=True,
        poll_interval=0.2,
        job_timeout=180,
    )
    template_id = register(vm_stack, "leavers-template", api=leaver)
    vm = leaver.deployVirtualMachine(
        zoneid=vm_stack.zone_id, templateid=template_id, serviceofferingid=offering_id(vm_stack)
    )["virtualmachine"]
    wait_for_marker(vm)
    assert domain_state(vm["instancename"]) == "running"
    (copy,) = vm_stack.rows(
        "select r.install_path from template_spool_ref r "
        "join vm_template t on t.id = r.template_id where t.uuid = :id",
        id=template_id,
    )
    template_file = Path(copy["install_path"])
    (volume,) = vm_stack.api.listVolumes(virtualmachineid=vm["id"], listall=True)["volume"]
    root_file = vm_stack.pool_path / volume["path"]
    assert template_file.exists() and root_file.exists()

    # cs follows the job to its end, as for any async command.
    assert vm_stack.api.deleteAccount(id=created["id"]) == {"success": True}

    assert domain_state(vm["instancename"]) is None
    assert not root_file.exists() and not template_file.exists()
    assert vm_stack.rows("select state from account where uuid = :id", id=created["id"]) == [
        {"state": "removed"}
    ]
    assert vm_stack.rows(
        "select count(*) as n from template_spool_ref r "
        "join vm_template t on t.id = r.template_id where t.uuid = :id",
        id=template_id,
    ) == [{"n": 0}]
    with pytest.raises(CloudStackApiException) as gone:
        leaver.listZones()
    assert gone.value.error["errorcode"] == 401


L2_OFFERING = "5e0b7c0e-6a43-4c1e-9f7d-2b1d8c4e0001"
ISOLATED_OFFERING = "5e0b7c0e-6a43-4c1e-9f7d-2b1d8c4e0003"


def virsh(*args: str) -> str:
    return subprocess.run(
        ["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=30, check=True
    ).stdout


def test_a_vm_on_two_guest_networks_has_a_nic_on_each_libvirt_network(vm_stack: Stack) -> None:
    api = vm_stack.api
    networks = [
        api.createNetwork(
            name="e2e-isolated", networkofferingid=ISOLATED_OFFERING, zoneid=vm_stack.zone_id
        )["network"],
        api.createNetwork(name="e2e-l2", networkofferingid=L2_OFFERING, zoneid=vm_stack.zone_id)[
            "network"
        ],
    ]
    names = [f"kvmcloud-{n['id']}" for n in networks]
    try:
        vm = deploy(
            vm_stack,
            register(vm_stack, "on-networks"),
            networkids=",".join(n["id"] for n in networks),
        )
        wait_for_marker(vm)
        assert [nic["networkid"] for nic in vm["nic"]] == [n["id"] for n in networks]
        # domiflist: Interface Type Source Model MAC, after two header lines.
        rows = [r.split() for r in virsh("domiflist", vm["instancename"]).splitlines()[2:] if r]
        assert [(r[1], r[2], r[4]) for r in rows] == [
            ("network", names[0], vm["nic"][0]["macaddress"]),
            ("network", names[1], vm["nic"][1]["macaddress"]),
        ]
        for name in names:
            assert "Active:         yes" in virsh("net-info", name)
        destroy(vm_stack, vm)
        # The libvirt networks outlive their VMs, until deleteNetwork.
        assert set(names) <= set(virsh("net-list", "--name").split())
        for network in networks:
            api.deleteNetwork(id=network["id"])
        assert not set(names) & set(virsh("net-list", "--all", "--name").split())
    finally:
        # Whatever failed above, no bridge of this test stays on the host.
        for name in names:
            subprocess.run(
                ["virsh", "-c", URI, "net-destroy", name], capture_output=True, check=False
            )
            subprocess.run(
                ["virsh", "-c", URI, "net-undefine", name], capture_output=True, check=False
            )
