"""Network offerings, physical networks and guest networks through the real app."""

from typing import Any

import pytest

from kvmcloud.server.accounts.service import ApiKeys
from kvmcloud.server.networks.defaults import DEFAULT_OFFERINGS
from tests.integration.server.conftest import ServerHarness
from tests.integration.server.test_directory import account, domain

L2, SHARED, ISOLATED = (o.uuid for o in DEFAULT_OFFERINGS)
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def zone(server: ServerHarness, name: str = "zone1", **extra: Any) -> dict[str, Any]:
    return dict(server.ok("createZone", name=name, networktype="Advanced", **extra)["zone"])


def offering(server: ServerHarness, name: str = "Test L2", **params: Any) -> dict[str, Any]:
    params.setdefault("guestiptype", "L2")
    params.setdefault("traffictype", "GUEST")
    return dict(server.ok("createNetworkOffering", name=name, **params)["networkoffering"])


def network(
    server: ServerHarness, zone_id: str, keys: ApiKeys | None = None, **params: Any
) -> dict[str, Any]:
    params.setdefault("name", "net1")
    params.setdefault("networkofferingid", L2)
    status, body = server.call("createNetwork", keys, zoneid=zone_id, **params)
    assert status == 200, body
    return dict(body["network"])


def job_result(server: ServerHarness, reply: dict[str, Any]) -> dict[str, Any]:
    server.run_jobs()
    result = server.ok("queryAsyncJobResult", jobid=reply["jobid"])
    assert result["jobstatus"] == 1, result
    return dict(result["jobresult"])


def refused(server: ServerHarness, command: str, keys: ApiKeys | None = None, **params: Any) -> str:
    status, body = server.call(command, keys, **params)
    assert status == 431, body
    return str(body["errortext"])


# ---------------------------------------------------------------- network offerings


def test_the_default_offerings_are_listed_enabled_with_fixed_ids(server: ServerHarness) -> None:
    listed = server.ok("listNetworkOfferings", isdefault=True)
    assert listed["count"] == 3
    by_id = {o["id"]: o for o in listed["networkoffering"]}
    assert set(by_id) == {L2, SHARED, ISOLATED}
    assert by_id[L2]["name"] == "DefaultL2NetworkOffering"
    assert by_id[L2]["guestiptype"] == "L2"
    assert by_id[SHARED]["guestiptype"] == "Shared"
    assert by_id[SHARED]["specifyvlan"] is True
    assert by_id[ISOLATED]["name"] == "DefaultIsolatedNetworkOfferingWithSourceNatService"
    assert by_id[ISOLATED]["availability"] == "Required"
    for item in by_id.values():
        assert item["state"] == "Enabled"
        assert item["isdefault"] is True
        assert item["traffictype"] == "Guest"
        assert item["service"] == []
        assert item["forvpc"] is False


def test_a_new_offering_starts_disabled_and_is_enabled_by_update(server: ServerHarness) -> None:
    created = offering(server, "Test L2", displaytext="L2 for tests", specifyvlan=False)
    assert created["state"] == "Disabled"
    assert created["displaytext"] == "L2 for tests"
    assert created["isdefault"] is False
    assert created["conservemode"] is True
    assert created["egressdefaultpolicy"] is True

    reply = server.ok("updateNetworkOffering", id=created["id"], state="enabled")
    assert reply["networkoffering"]["state"] == "Enabled"
    renamed = server.ok("updateNetworkOffering", id=created["id"], name="L2b", displaytext="b")
    assert (renamed["networkoffering"]["name"], renamed["networkoffering"]["displaytext"]) == (
        "L2b",
        "b",
    )
    listed = server.ok("listNetworkOfferings", id=created["id"])["networkoffering"]
    assert [(o["name"], o["state"]) for o in listed] == [("L2b", "Enabled")]
    required = server.ok("updateNetworkOffering", id=created["id"], availability="required")
    assert required["networkoffering"]["availability"] == "Required"
    assert "Invalid value for Availability" in refused(
        server, "updateNetworkOffering", id=created["id"], availability="Never"
    )


def test_create_with_enable_and_the_display_text_defaulting_to_the_name(
    server: ServerHarness,
) -> None:
    created = offering(server, "Iso", guestiptype="isolated", enable=True, networkrate=-5)
    assert (created["state"], created["displaytext"], created["guestiptype"]) == (
        "Enabled",
        "Iso",
        "Isolated",
    )
    assert created["networkrate"] == 0


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"guestiptype": "Routed"}, 'Invalid "type" parameter is given'),
        ({"traffictype": "Public"}, "Only traffic type Guest is supported"),
        ({"traffictype": "Nope"}, "Invalid value for traffictype"),
        ({"availability": "Sometimes"}, "Invalid value for Availability"),
        ({"supportedservices": "Dhcp,Dns"}, "no network service provider for Dhcp, Dns"),
        ({"supportedservices": "Teleport"}, "Invalid service Teleport"),
        (
            {"serviceproviderlist[0].service": "Dhcp", "serviceproviderlist[0].provider": "X"},
            "serviceproviderlist must be empty",
        ),
        ({"forvpc": True}, "kvmcloud has no VPCs"),
        ({"networkrate": "fast"}, "networkrate"),
    ],
)
def test_create_offering_validates_every_parameter(
    server: ServerHarness, params: dict[str, Any], text: str
) -> None:
    query = {"name": "bad", "guestiptype": "L2", "traffictype": "GUEST"} | params
    assert text in refused(server, "createNetworkOffering", **query)
    assert server.ok("listNetworkOfferings").get("count") == 3


def test_create_offering_needs_name_traffic_type_and_guest_type(server: ServerHarness) -> None:
    for missing in ("name", "traffictype", "guestiptype"):
        query = {"name": "x", "guestiptype": "L2", "traffictype": "GUEST"}
        del query[missing]
        assert missing in refused(server, "createNetworkOffering", **query)


def test_list_offerings_filters_and_pages(server: ServerHarness) -> None:
    z = zone(server)
    offering(server, "Mine one")
    offering(server, "Mine two", guestiptype="Shared")

    def names(**params: Any) -> list[str]:
        return [
            o["name"]
            for o in server.ok("listNetworkOfferings", **params).get("networkoffering", [])
        ]

    assert names(state="Disabled") == ["Mine one", "Mine two"]
    assert names(guestiptype="shared") == ["DefaultSharedNetworkOffering", "Mine two"]
    assert names(keyword="Mine") == ["Mine one", "Mine two"]
    assert names(name="Mine two") == ["Mine two"]
    assert names(displaytext="Offering for L2 networks") == ["DefaultL2NetworkOffering"]
    assert names(traffictype="guest", state="enabled") == [o.name for o in DEFAULT_OFFERINGS]
    assert names(isdefault=False) == ["Mine one", "Mine two"]
    assert names(forvpc=True) == []
    assert len(names(zoneid=z["id"])) == 5
    page = server.ok("listNetworkOfferings", page=2, pagesize=2)
    assert page["count"] == 5
    assert [o["name"] for o in page["networkoffering"]] == [
        "DefaultIsolatedNetworkOfferingWithSourceNatService",
        "Mine one",
    ]
    assert refused(server, "listNetworkOfferings", id=UNKNOWN).startswith(
        "Unable to execute API command listnetworkofferings due to invalid value"
    )


def test_update_offering_refuses_unknown_states_and_ids(server: ServerHarness) -> None:
    created = offering(server)
    assert "Incorrect state value: Inactive-ish" in refused(
        server, "updateNetworkOffering", id=created["id"], state="Inactive-ish"
    )
    assert "invalid value" in refused(server, "updateNetworkOffering", id=UNKNOWN, state="Enabled")
    assert "id" in refused(server, "updateNetworkOffering", state="Enabled")


def test_delete_offering_refuses_defaults_and_offerings_in_use(server: ServerHarness) -> None:
    z = zone(server)
    assert refused(server, "deleteNetworkOffering", id=L2).endswith(
        "Default network offering can't be deleted"
    )
    used = offering(server, "Used", enable=True)
    net = network(server, z["id"], networkofferingid=used["id"])
    text = refused(server, "deleteNetworkOffering", id=used["id"])
    assert "as its used by 1 networks. To make the network offering unavailable, disable it" in text

    job_result(server, server.ok("deleteNetwork", id=net["id"]))
    assert server.ok("deleteNetworkOffering", id=used["id"]) == {"success": True}
    assert "count" not in server.ok("listNetworkOfferings", name="Used")
    assert "invalid value" in refused(server, "deleteNetworkOffering", id=used["id"])


def test_offering_commands_are_for_admins_but_everyone_lists(server: ServerHarness) -> None:
    user = server.user("alice")
    for command in ("createNetworkOffering", "updateNetworkOffering", "deleteNetworkOffering"):
        status, _ = server.call(command, user, name="x", id=L2)
        assert status == 432, command
    status, body = server.call("listNetworkOfferings", user)
    assert (status, body["count"]) == (200, 3)


# ---------------------------------------------------------------- physical networks


def test_each_zone_gets_a_physical_network_with_guest_and_management_traffic(
    server: ServerHarness,
) -> None:
    first, second = zone(server, "z1"), zone(server, "z2")
    listed = server.ok("listPhysicalNetworks")
    assert listed["count"] == 2
    by_zone = {p["zoneid"]: p for p in listed["physicalnetwork"]}
    assert set(by_zone) == {first["id"], second["id"]}
    physical = by_zone[first["id"]]
    assert (physical["state"], physical["zonename"], physical["broadcastdomainrange"]) == (
        "Enabled",
        "z1",
        "ZONE",
    )
    only = server.ok("listPhysicalNetworks", zoneid=second["id"])["physicalnetwork"]
    assert [p["id"] for p in only] == [by_zone[second["id"]]["id"]]
    assert server.ok("listPhysicalNetworks", id=physical["id"])["count"] == 1
    assert server.ok("listPhysicalNetworks", name=physical["name"])["count"] == 1
    assert server.ok("listPhysicalNetworks", pagesize=1, page=2)["count"] == 2

    types = server.ok("listTrafficTypes", physicalnetworkid=physical["id"])
    assert sorted(t["traffictype"] for t in types["traffictype"]) == ["Guest", "Management"]
    assert {t["physicalnetworkid"] for t in types["traffictype"]} == {physical["id"]}


def test_traffic_types_need_a_known_physical_network(server: ServerHarness) -> None:
    assert "physicalnetworkid" in refused(server, "listTrafficTypes")
    assert "invalid value" in refused(server, "listTrafficTypes", physicalnetworkid=UNKNOWN)


def test_there_are_no_network_service_providers(server: ServerHarness) -> None:
    z = zone(server)
    physical = server.ok("listPhysicalNetworks", zoneid=z["id"])["physicalnetwork"][0]
    assert server.ok("listNetworkServiceProviders") == {}
    assert server.ok("listNetworkServiceProviders", physicalnetworkid=physical["id"]) == {}


def test_physical_network_commands_are_for_root_admins(server: ServerHarness) -> None:
    user = server.user("alice")
    for command in ("listPhysicalNetworks", "listTrafficTypes", "listNetworkServiceProviders"):
        status, _ = server.call(command, user)
        assert status == 432, command


# ---------------------------------------------------------------- guest networks


def test_an_l2_network_is_created_listed_updated_and_deleted(server: ServerHarness) -> None:
    z = zone(server)
    physical = server.ok("listPhysicalNetworks")["physicalnetwork"][0]
    created = network(server, z["id"], name="l2net", displaytext="An L2 network")
    assert created["type"] == "L2"
    assert created["state"] == "Allocated"
    assert created["traffictype"] == "Guest"
    assert created["networkofferingid"] == L2
    assert created["networkofferingname"] == "DefaultL2NetworkOffering"
    assert created["physicalnetworkid"] == physical["id"]
    assert (created["zoneid"], created["zonename"]) == (z["id"], "zone1")
    assert (created["account"], created["acltype"]) == ("admin", "Account")
    assert "gateway" not in created and "cidr" not in created

    listed = server.ok("listNetworks")
    assert listed["count"] == 1
    assert listed["network"][0] == created

    reply = server.ok("updateNetwork", id=created["id"], name="renamed", displaytext="new text")
    assert set(reply) == {"jobid"}
    updated = job_result(server, reply)["network"]
    assert (updated["name"], updated["displaytext"]) == ("renamed", "new text")
    assert server.ok("listNetworks", id=created["id"])["network"][0]["name"] == "renamed"

    reply = server.ok("deleteNetwork", id=created["id"])
    assert job_result(server, reply) == {"success": True}
    assert server.ok("listNetworks") == {}
    assert "invalid value" in refused(server, "deleteNetwork", id=created["id"])


def test_shared_and_isolated_networks_get_their_addresses(server: ServerHarness) -> None:
    z = zone(server, guestcidraddress="10.9.0.0/16")
    shared = network(
        server,
        z["id"],
        name="sh",
        networkofferingid=SHARED,
        gateway="192.168.7.1",
        netmask="255.255.255.0",
    )
    assert (shared["gateway"], shared["netmask"], shared["cidr"]) == (
        "192.168.7.1",
        "255.255.255.0",
        "192.168.7.0/24",
    )
    assert (shared["type"], shared["state"], shared["acltype"]) == ("Shared", "Setup", "Domain")
    isolated = network(server, z["id"], name="iso", networkofferingid=ISOLATED)
    assert (isolated["gateway"], isolated["cidr"]) == ("10.9.0.1", "10.9.0.0/16")
    own = network(
        server,
        z["id"],
        name="iso2",
        networkofferingid=ISOLATED,
        gateway="172.16.0.1",
        netmask="255.255.0.0",
    )
    assert own["cidr"] == "172.16.0.0/16"

    def names(**params: Any) -> list[str]:
        return [n["name"] for n in server.ok("listNetworks", **params).get("network", [])]

    assert names(type="Isolated") == ["iso", "iso2"]
    assert names(type="all") == ["sh", "iso", "iso2"]
    assert names(acltype="domain") == ["sh"]
    assert names(networkofferingid=ISOLATED, keyword="2") == ["iso2"]
    assert names(traffictype="Guest", zoneid=z["id"]) == ["sh", "iso", "iso2"]
    physical = shared["physicalnetworkid"]
    assert names(physicalnetworkid=physical, pagesize=1, page=3) == ["iso2"]


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"networkofferingid": SHARED}, "Gateway/netmask are required when creating Shared"),
        ({"gateway": "10.0.0.1", "netmask": "255.255.255.0"}, "L2 networks have no IP"),
        (
            {"networkofferingid": ISOLATED, "gateway": "10.0.0.1"},
            "gateway and netmask must be given together",
        ),
        (
            {"networkofferingid": ISOLATED, "gateway": "nope", "netmask": "255.255.255.0"},
            "Invalid gateway",
        ),
        (
            {"networkofferingid": ISOLATED, "gateway": "10.0.0.1", "netmask": "255.0.255.0"},
            "Invalid netmask",
        ),
        ({"networkofferingid": UNKNOWN}, "invalid value"),
        ({"networkofferingid": "not-a-uuid"}, "networkofferingid"),
    ],
)
def test_create_network_validates_its_parameters(
    server: ServerHarness, params: dict[str, Any], text: str
) -> None:
    z = zone(server)
    query = {"name": "n", "networkofferingid": L2, "zoneid": z["id"]} | params
    assert text in refused(server, "createNetwork", **query)
    assert server.ok("listNetworks", listall=True) == {}


def test_create_network_needs_name_offering_and_a_known_zone(server: ServerHarness) -> None:
    z = zone(server)
    assert "name" in refused(server, "createNetwork", networkofferingid=L2, zoneid=z["id"])
    assert "networkofferingid" in refused(server, "createNetwork", name="n", zoneid=z["id"])
    assert "zoneid" in refused(server, "createNetwork", name="n", networkofferingid=L2)
    assert "invalid value" in refused(
        server, "createNetwork", name="n", networkofferingid=L2, zoneid=UNKNOWN
    )


def test_a_disabled_offering_is_refused_with_cloudstacks_text(server: ServerHarness) -> None:
    z = zone(server)
    created = offering(server)
    assert refused(
        server, "createNetwork", name="n", networkofferingid=created["id"], zoneid=z["id"]
    ).endswith("Can't use specified network offering id as its state is not Enabled")
    server.ok("updateNetworkOffering", id=L2, state="Disabled")
    assert "state is not Enabled" in refused(
        server, "createNetwork", name="n", networkofferingid=L2, zoneid=z["id"]
    )


def test_networks_belong_to_accounts_and_follow_the_visibility_rules(
    server: ServerHarness,
) -> None:
    z = zone(server)
    sub = domain(server, "sub")
    _, alice = account(server, "alice", sub["id"])
    _, bob = account(server, "bob", sub["id"])
    _, subadmin = account(server, "subadmin", sub["id"], account_type=2)
    mine = network(server, z["id"], alice, name="alice-net")
    assert (mine["account"], mine["domainid"], mine["domain"]) == ("alice", sub["id"], "sub")
    network(server, z["id"], name="admin-net")
    network(server, z["id"], subadmin, name="for-bob", account="bob", domainid=sub["id"])

    def names(keys: ApiKeys | None, **params: Any) -> list[str]:
        status, body = server.call("listNetworks", keys, **params)
        assert status == 200, body
        return [n["name"] for n in body.get("network", [])]

    assert names(alice) == ["alice-net"]
    assert names(bob) == ["for-bob"]
    assert names(alice, listall=True) == ["alice-net"]
    assert names(None) == ["admin-net"]
    assert names(None, listall=True) == ["alice-net", "admin-net", "for-bob"]
    assert names(subadmin, listall=True) == ["alice-net", "for-bob"]
    assert names(None, domainid=sub["id"], account="bob") == ["for-bob"]

    # Another account's network: not theirs to change or delete.
    status, body = server.call("deleteNetwork", bob, id=mine["id"])
    assert status == 531, body
    status, body = server.call("updateNetwork", bob, id=mine["id"], name="x")
    assert status == 531, body
    # A user cannot create for another account, nor Shared networks.
    status, body = server.call(
        "createNetwork",
        alice,
        name="x",
        networkofferingid=L2,
        zoneid=z["id"],
        account="bob",
        domainid=sub["id"],
    )
    assert status == 531, body
    assert "Only Admins can create network with guest type Shared" in refused(
        server,
        "createNetwork",
        alice,
        name="x",
        networkofferingid=SHARED,
        zoneid=z["id"],
        gateway="10.0.0.1",
        netmask="255.255.255.0",
    )
    # The owner and their domain admin may.
    job_result(server, server.ok("deleteNetwork", id=mine["id"]))
    assert names(None, listall=True) == ["admin-net", "for-bob"]


def test_a_zone_works_without_networks(server: ServerHarness) -> None:
    zone(server)
    assert server.ok("listNetworks", listall=True) == {}


def test_network_jobs_record_events_for_the_caller(server: ServerHarness) -> None:
    z = zone(server)
    created = network(server, z["id"])
    job_result(server, server.ok("updateNetwork", id=created["id"], name="n2"))
    job_result(server, server.ok("deleteNetwork", id=created["id"]))
    listed = server.ok("listEvents", resourcetype="Network", resourceid=created["id"])["event"]
    assert [(e["type"], e["level"], e["description"]) for e in listed] == [
        ("NETWORK.DELETE", "INFO", f"Completed deleting network {created['id']}"),
        ("NETWORK.UPDATE", "INFO", f"Completed updating network {created['id']}"),
        (
            "NETWORK.CREATE",
            "INFO",
            f"Successfully completed creating network net1 ({created['id']})",
        ),
    ]
    assert {e["account"] for e in listed} == {"admin"}
    names = {item["name"] for item in server.ok("listEventTypes")["eventtype"]}
    assert {"NETWORK.UPDATE", "NETWORK.DELETE"} <= names


def test_deleting_an_account_deletes_its_networks(server: ServerHarness) -> None:
    z = zone(server)
    sub = domain(server, "sub")
    created, alice = account(server, "alice", sub["id"])
    mine = network(server, z["id"], alice, name="alice-net")
    kept = network(server, z["id"], name="admin-net")

    reply = server.ok("deleteAccount", id=created["id"])
    for _ in range(10):
        server.run_jobs()
        server.clock.advance(5)
    assert server.ok("queryAsyncJobResult", jobid=reply["jobid"])["jobstatus"] == 1
    listed = server.ok("listNetworks", listall=True)["network"]
    assert [n["id"] for n in listed] == [kept["id"]]
    events = server.ok("listEvents", resourcetype="Network", resourceid=mine["id"], listall=True)[
        "event"
    ]
    assert [(e["type"], e["account"]) for e in events] == [
        ("NETWORK.DELETE", "admin"),
        ("NETWORK.CREATE", "alice"),
    ]


def test_network_and_offering_commands_record_events(server: ServerHarness) -> None:
    z = zone(server)
    created = offering(server, "Evt")
    server.ok("updateNetworkOffering", id=created["id"], state="Enabled")
    net = network(server, z["id"], name="evt-net", networkofferingid=created["id"])
    refused(server, "createNetwork", name="x", networkofferingid=SHARED, zoneid=z["id"])
    job_result(server, server.ok("deleteNetwork", id=net["id"]))
    server.ok("deleteNetworkOffering", id=created["id"])

    def described(**params: Any) -> list[tuple[str, str]]:
        listed = server.ok("listEvents", **params)["event"]
        return [(e["type"], e["description"]) for e in listed]

    assert described(resourcetype="NetworkOffering", resourceid=created["id"]) == [
        (
            "NETWORK.OFFERING.DELETE",
            f"Successfully completed deleting network offering {created['id']}",
        ),
        (
            "NETWORK.OFFERING.EDIT",
            f"Successfully completed updating network offering Evt ({created['id']})",
        ),
        (
            "NETWORK.OFFERING.CREATE",
            f"Successfully completed creating network offering Evt ({created['id']})",
        ),
    ]
    # The refused create recorded nothing.
    assert described(type="NETWORK.CREATE") == [
        ("NETWORK.CREATE", f"Successfully completed creating network evt-net ({net['id']})")
    ]


def test_list_apis_describes_the_network_objects(server: ServerHarness) -> None:
    apis = {a["name"]: a for a in server.ok("listApis")["api"]}
    offering = {f["name"]: f for f in apis["listNetworkOfferings"]["response"]}
    service = {f["name"]: f for f in offering["service"]["response"]}
    assert offering["service"]["type"] == "list" and service["capability"]["type"] == "list"
    assert {f["name"] for f in service["provider"]["response"]} >= {"name", "state"}
    assert apis["updateNetwork"]["related"] == "createNetwork,listNetworks"
    params = {p["name"]: p for p in apis["listNetworks"]["params"]}
    assert "listNetworkOfferings" in params["networkofferingid"]["related"].split(",")
    assert params["physicalnetworkid"]["related"] == "listPhysicalNetworks"
