"""What unmodified clients (Apache Libcloud, Ansible) send and read, through the real app."""

from tests.integration.server.conftest import ServerHarness
from tests.integration.server.test_networks import job_result, network, offering, refused, zone


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
