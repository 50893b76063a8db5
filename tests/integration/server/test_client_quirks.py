"""What unmodified clients (Apache Libcloud, Ansible) send and read, through the real app."""

from tests.integration.server.conftest import Cloud, ServerHarness
from tests.integration.server.test_networks import (
    ISOLATED,
    UNKNOWN,
    job_result,
    network,
    offering,
    refused,
    zone,
)
from tests.integration.server.test_vm_networks import deployed, images


def test_network_offerings_carry_an_empty_service_offering_id(server: ServerHarness) -> None:
    # Apache Libcloud's ex_list_network_offerings reads serviceofferingid unconditionally.
    created = offering(server, "Test L2")
    assert created["serviceofferingid"] == ""
    listed = server.ok("listNetworkOfferings")["networkoffering"]
    assert len(listed) == 4
    assert {o["serviceofferingid"] for o in listed} == {""}
    updated = server.ok("updateNetworkOffering", id=created["id"], state="Enabled")
    assert updated["networkoffering"]["serviceofferingid"] == ""


def test_a_boolean_of_pythons_none_is_false_as_in_cloudstack(server: ServerHarness) -> None:
    # Apache Libcloud's ex_delete_network sends forced=None when not told to force.
    created = network(server, zone(server)["id"])
    assert "must be true or false" in refused(
        server, "deleteNetwork", id=created["id"], forced="none"
    )
    reply = server.ok("deleteNetwork", id=created["id"], forced="None")
    assert job_result(server, reply) == {"success": True}
    assert server.ok("listNetworks") == {}


def test_list_nics_shows_a_vms_nics_with_their_networks(
    server: ServerHarness, cloud: Cloud
) -> None:
    # Ansible's cs_instance_nic (and cs_instance's default-NIC lookup) call listNics.
    pair = images(server, cloud)
    iso = network(server, cloud.zone_id, name="iso", networkofferingid=ISOLATED)
    l2 = network(server, cloud.zone_id, name="l2")
    vm = deployed(server, cloud, [iso["id"], l2["id"]], images=pair)

    listed = server.ok("listNics", virtualmachineid=vm["id"])

    assert listed["count"] == 2
    assert listed["nic"] == [nic | {"virtualmachineid": vm["id"]} for nic in vm["nic"]]
    by_network = server.ok("listNics", virtualmachineid=vm["id"], networkid=l2["id"])
    assert [n["networkid"] for n in by_network["nic"]] == [l2["id"]]
    second = vm["nic"][1]["id"]
    assert [
        n["id"] for n in server.ok("listNics", virtualmachineid=vm["id"], nicid=second)["nic"]
    ] == [second]
    paged = server.ok("listNics", virtualmachineid=vm["id"], page=2, pagesize=1)
    assert (paged["count"], [n["id"] for n in paged["nic"]]) == (2, [second])


def test_list_nics_needs_a_vm_the_caller_may_act_on(server: ServerHarness, cloud: Cloud) -> None:
    vm = deployed(server, cloud, [], images=images(server, cloud))
    status, body = server.call("listNics")
    assert status == 431, body
    assert "missing parameter virtualmachineid" in body["errortext"]
    assert "virtualmachineid" in refused(server, "listNics", virtualmachineid=UNKNOWN)
    assert "nicid" in refused(server, "listNics", virtualmachineid=vm["id"], nicid=UNKNOWN)
    assert "networkid" in refused(server, "listNics", virtualmachineid=vm["id"], networkid=UNKNOWN)
    outsider = server.user("outsider")
    status, body = server.call("listNics", outsider, virtualmachineid=vm["id"])
    assert status == 531, body
