"""deployVirtualMachine networkids: NICs on guest networks, their checks, and deleteNetwork."""

from typing import Any

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.accounts.service import ApiKeys
from tests.integration.server.conftest import Cloud, ServerHarness
from tests.integration.server.test_directory import account
from tests.integration.server.test_networks import ISOLATED, L2, SHARED, UNKNOWN, job_result
from tests.integration.server.test_networks import network as create_network
from tests.integration.server.test_vms import agent, offering, register


def shared(server: ServerHarness, zone_id: str, name: str = "sh") -> dict[str, Any]:
    return create_network(
        server,
        zone_id,
        name=name,
        networkofferingid=SHARED,
        gateway="192.168.7.1",
        netmask="255.255.255.0",
    )


def images(server: ServerHarness, cloud: Cloud) -> tuple[str, str]:
    return register(server, cloud, ispublic="true"), offering(server)


def deploy_call(
    server: ServerHarness,
    cloud: Cloud,
    networks: list[str],
    keys: ApiKeys | None = None,
    **extra: Any,
) -> tuple[int, dict[str, Any]]:
    template_id, offering_id = extra.pop("images")
    if networks:
        extra["networkids"] = ",".join(networks)
    return server.call(
        "deployVirtualMachine",
        keys,
        zoneid=cloud.zone_id,
        templateid=template_id,
        serviceofferingid=offering_id,
        **extra,
    )


def deployed(
    server: ServerHarness, cloud: Cloud, networks: list[str], **extra: Any
) -> dict[str, Any]:
    status, reply = deploy_call(server, cloud, networks, **extra)
    assert status == 200, reply
    result = job_result(server, reply)
    return dict(result["virtualmachine"])


def refused(
    server: ServerHarness,
    cloud: Cloud,
    networks: list[str],
    code: int = 431,
    keys: ApiKeys | None = None,
    **extra: Any,
) -> str:
    status, body = deploy_call(server, cloud, networks, keys, **extra)
    assert status == code, body
    return str(body["errortext"])


def test_one_nic_per_network_in_order_the_first_the_default(
    server: ServerHarness, cloud: Cloud
) -> None:
    pair = images(server, cloud)
    iso = create_network(server, cloud.zone_id, name="iso", networkofferingid=ISOLATED)
    l2 = create_network(server, cloud.zone_id, name="l2")
    sh = shared(server, cloud.zone_id)
    vm = deployed(server, cloud, [iso["id"], l2["id"], sh["id"]], images=pair)
    assert vm["state"] == "Running"
    first, second, third = vm["nic"]
    assert first["networkid"] == iso["id"] and first["networkname"] == "iso"
    assert (first["type"], first["isdefault"], first["traffictype"]) == ("Isolated", True, "Guest")
    assert (first["gateway"], first["netmask"]) == (iso["gateway"], iso["netmask"])
    assert first["ipaddress"] != iso["gateway"]
    assert (second["networkid"], second["type"], second["isdefault"]) == (l2["id"], "L2", False)
    assert not {"ipaddress", "netmask", "gateway"} & second.keys()
    assert (third["networkid"], third["type"], third["isdefault"]) == (sh["id"], "Shared", False)
    assert (third["ipaddress"], third["netmask"], third["gateway"]) == (
        "192.168.7.2",
        "255.255.255.0",
        "192.168.7.1",
    )
    assert len({n["macaddress"] for n in vm["nic"]}) == 3
    assert server.ok("listVirtualMachines", id=vm["id"])["virtualmachine"][0]["nic"] == vm["nic"]
    # The agent gets every NIC with its network; the default's MAC alone for older agents.
    start = agent(server).sent(msg.StartVmCommand)[-1]
    assert start.spec.mac_address == first["macaddress"]
    assert start.spec.nics == [
        msg.NicSpec(
            mac_address=first["macaddress"],
            network_uuid=iso["id"],
            guest_type="Isolated",
            ip_address=first["ipaddress"],
            netmask=first["netmask"],
            gateway=first["gateway"],
        ),
        msg.NicSpec(mac_address=second["macaddress"], network_uuid=l2["id"], guest_type="L2"),
        msg.NicSpec(
            mac_address=third["macaddress"],
            network_uuid=sh["id"],
            guest_type="Shared",
            ip_address="192.168.7.2",
            netmask="255.255.255.0",
            gateway="192.168.7.1",
        ),
    ]

    # The next VM on the Shared network takes the next free address.
    other = deployed(server, cloud, [sh["id"]], images=pair)
    assert other["nic"][0]["ipaddress"] == "192.168.7.3"
    assert other["nic"][0]["isdefault"] is True


def test_without_networkids_the_vm_gets_the_zone_range_nic(
    server: ServerHarness, cloud: Cloud
) -> None:
    vm = deployed(server, cloud, [], images=images(server, cloud))
    (nic,) = vm["nic"]
    assert (nic["ipaddress"], nic["networkname"], nic["type"]) == ("10.1.1.2", "guest", "L2")
    assert "networkid" not in nic and nic["isdefault"] is True
    # No guest network: the agent gets the MAC alone, for QEMU's user-mode network.
    start = agent(server).sent(msg.StartVmCommand)[-1]
    assert (start.spec.mac_address, start.spec.nics) == (nic["macaddress"], [])


def test_networkids_must_exist_be_distinct_in_the_zone_and_enabled(
    server: ServerHarness, cloud: Cloud
) -> None:
    pair = images(server, cloud)
    l2 = create_network(server, cloud.zone_id, name="l2")
    assert "invalid value" in refused(server, cloud, [UNKNOWN], images=pair)
    assert refused(server, cloud, [l2["id"], l2["id"]], images=pair) == (
        f"Network id={l2['id']} is given more than once in networkids"
    )
    zone2 = server.ok("createZone", name="zone2", networktype="Advanced")["zone"]
    elsewhere = create_network(server, zone2["id"], name="far")
    assert refused(server, cloud, [l2["id"], elsewhere["id"]], images=pair) == (
        "Invalid parameter networkids: "
        f"Network id={elsewhere['id']} doesn't belong to zone {cloud.zone_id}"
    )
    custom = server.ok(
        "createNetworkOffering", name="mine", guestiptype="L2", traffictype="GUEST", state="Enabled"
    )["networkoffering"]
    if custom["state"] != "Enabled":
        server.ok("updateNetworkOffering", id=custom["id"], state="Enabled")
    net = create_network(server, cloud.zone_id, name="custom", networkofferingid=custom["id"])
    assert net["canusefordeploy"] is True
    server.ok("updateNetworkOffering", id=custom["id"], state="Disabled")
    assert server.ok("listNetworks", id=net["id"])["network"][0]["canusefordeploy"] is False
    assert "network offering is not in Enabled state" in refused(
        server, cloud, [net["id"]], images=pair
    )
    # Nothing was written by the refused deploys.
    assert server.ok("listVirtualMachines") == {}


def test_an_account_uses_its_own_and_shared_networks_only(
    server: ServerHarness, cloud: Cloud
) -> None:
    pair = images(server, cloud)
    root = server.ok("listDomains", name="ROOT")["domain"][0]["id"]
    _, alice = account(server, "alice", root)
    _, bob = account(server, "bob", root)
    bobs = create_network(server, cloud.zone_id, bob, name="bobs")
    alices = create_network(server, cloud.zone_id, alice, name="alices")
    sh = shared(server, cloud.zone_id)
    assert bobs["canusefordeploy"] is True
    text = refused(server, cloud, [bobs["id"]], 531, alice, images=pair)
    assert text == f"Unable to use network with id= {bobs['id']}, permission denied"

    status, reply = deploy_call(server, cloud, [alices["id"], sh["id"]], alice, images=pair)
    assert status == 200, reply
    vm = job_result(server, reply)["virtualmachine"]
    assert [n["networkname"] for n in vm["nic"]] == ["alices", "sh"]

    # An admin deploying for bob: bob's networks, not the admin's own.
    admins = create_network(server, cloud.zone_id, name="admins")
    for_bob = {"account": "bob", "domainid": root}
    assert "permission denied" in refused(
        server, cloud, [admins["id"]], 531, images=pair, **for_bob
    )
    vm = deployed(server, cloud, [bobs["id"]], images=pair, **for_bob)
    assert (vm["account"], vm["nic"][0]["networkid"]) == ("bob", bobs["id"])


def test_delete_network_is_refused_while_a_vm_has_a_nic_on_it(
    server: ServerHarness, cloud: Cloud
) -> None:
    pair = images(server, cloud)
    sh = shared(server, cloud.zone_id)
    vm = deployed(server, cloud, [sh["id"]], images=pair, name="web-1")
    server.run_jobs()

    def delete() -> dict[str, Any]:
        reply = server.ok("deleteNetwork", id=sh["id"])
        server.run_jobs()
        return dict(server.ok("queryAsyncJobResult", jobid=reply["jobid"]))

    failed = delete()
    assert failed["jobstatus"] == 2 and failed["jobresult"]["errorcode"] == 530
    assert failed["jobresult"]["errortext"] == (
        "Failed to delete network: Can't delete the network, not all user vms are expunged. "
        "Vm web-1 is in Running state"
    )
    server.ok("destroyVirtualMachine", id=vm["id"])
    server.run_jobs()
    assert "Vm web-1 is in Destroyed state" in delete()["jobresult"]["errortext"]

    server.ok("destroyVirtualMachine", id=vm["id"], expunge="true")
    server.run_jobs()
    # Expunging freed the address: the next VM on the network gets it.
    again = deployed(server, cloud, [sh["id"]], images=pair)
    assert again["nic"][0]["ipaddress"] == "192.168.7.2"
    server.ok("destroyVirtualMachine", id=again["id"], expunge="true")
    server.run_jobs()
    # Refused deletes asked no host to remove anything; the real one asks the Up host.
    assert agent(server).sent(msg.RemoveNetworkCommand) == []
    assert sh["id"] in agent(server).networks
    assert delete()["jobstatus"] == 1
    assert server.ok("listNetworks") == {}
    assert agent(server).sent(msg.RemoveNetworkCommand) == [
        msg.RemoveNetworkCommand(network_uuid=sh["id"])
    ]
    assert sh["id"] not in agent(server).networks


def test_delete_network_succeeds_when_a_host_keeps_its_libvirt_network(
    server: ServerHarness, cloud: Cloud
) -> None:
    l2 = create_network(server, cloud.zone_id, name="l2")
    agent(server).reachable = False
    reply = server.ok("deleteNetwork", id=l2["id"])
    server.run_jobs()
    agent(server).reachable = True
    assert server.ok("queryAsyncJobResult", jobid=reply["jobid"])["jobstatus"] == 1
    assert server.ok("listNetworks") == {}


def test_l2_default_offering_network_is_usable(server: ServerHarness, cloud: Cloud) -> None:
    l2 = create_network(server, cloud.zone_id, name="l2", networkofferingid=L2)
    vm = deployed(server, cloud, [l2["id"]], images=images(server, cloud))
    (nic,) = vm["nic"]
    assert (nic["type"], nic["isdefault"], nic["networkid"]) == ("L2", True, l2["id"])
    assert "ipaddress" not in nic
