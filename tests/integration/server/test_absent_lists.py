"""Lists of what kvmcloud has none of, listRegions and listResourceLimits, through the API."""

import pytest

from tests.integration.server.conftest import Cloud, ServerHarness
from tests.integration.server.test_networks import network

UNKNOWN = "3e1d52f0-57e0-4d1c-9c0b-6f9f1e1b2a77"
EMPTY_LISTS = [
    "listPublicIpAddresses",
    "listPortForwardingRules",
    "listIpForwardingRules",
    "listRouters",
    "listSystemVms",
    "listSnapshots",
    "listVlanIpRanges",
    "listVPCs",
    "listLoadBalancerRules",
    "listFirewallRules",
]


@pytest.mark.parametrize("command", EMPTY_LISTS)
def test_each_list_is_empty_and_refuses_an_id_naming_nothing(
    server: ServerHarness, command: str
) -> None:
    assert server.ok(command) == {}
    assert server.ok(command, pagesize=-1) == {}

    status, body = server.call(command, id=UNKNOWN)
    assert status == 431, body
    assert f"Invalid parameter id value={UNKNOWN}" in body["errortext"]
    status, body = server.call(command, id="not-a-uuid")
    assert status == 431, body
    status, body = server.call(command, page=1)
    assert status == 431 and "pagesize" in body["errortext"], body


def test_filters_naming_real_objects_are_checked_then_list_nothing(
    server: ServerHarness, cloud: Cloud
) -> None:
    assert server.ok("listPublicIpAddresses", zoneid=cloud.zone_id) == {}
    assert server.ok("listSystemVms", zoneid=cloud.zone_id, hostid=cloud.host_id) == {}
    status, body = server.call("listPublicIpAddresses", zoneid=UNKNOWN)
    assert status == 431 and "zoneid" in body["errortext"], body
    status, body = server.call("listIpForwardingRules", virtualmachineid=UNKNOWN)
    assert status == 431 and "virtualmachineid" in body["errortext"], body
    status, body = server.call("listSnapshots", projectid=UNKNOWN)
    assert status == 431 and "projectid" in body["errortext"], body
    # Guest networks exist: a network filter must name one, and still lists nothing.
    net = network(server, cloud.zone_id)
    assert server.ok("listPublicIpAddresses", associatednetworkid=net["id"]) == {}
    assert server.ok("listFirewallRules", networkid=net["id"]) == {}
    status, body = server.call("listLoadBalancerRules", networkid=UNKNOWN)
    assert status == 431 and "networkid" in body["errortext"], body
    physical = server.ok("listPhysicalNetworks", zoneid=cloud.zone_id)["physicalnetwork"][0]
    assert server.ok("listVlanIpRanges", physicalnetworkid=physical["id"]) == {}
    status, body = server.call("listVlanIpRanges", physicalnetworkid=UNKNOWN)
    assert status == 431 and "physicalnetworkid" in body["errortext"], body


def test_owner_filters_are_resolved_as_in_any_list(server: ServerHarness) -> None:
    user = server.user("alice")
    server.user("bob")
    assert server.call("listPublicIpAddresses", user)[1] == {}
    status, body = server.call("listPublicIpAddresses", user, account="bob")
    assert status == 531, body
    status, body = server.call("listFirewallRules", account="nobody")
    assert status == 431 and "nobody" in body["errortext"], body


def test_admin_lists_are_refused_to_users(server: ServerHarness) -> None:
    user = server.user("alice")
    for command in ("listRouters", "listSystemVms", "listVlanIpRanges"):
        status, body = server.call(command, user)
        assert status == 432, (command, body)
    assert server.call("listPortForwardingRules", user)[0] == 200


def test_list_regions_answers_region_one_local(server: ServerHarness) -> None:
    regions = server.ok("listRegions")
    assert regions["count"] == 1
    (region,) = regions["region"]
    assert region["id"] == 1 and region["name"] == "Local"
    assert region["endpoint"].endswith("/client/")
    assert region["gslbserviceenabled"] is False
    assert server.ok("listRegions", id=1)["count"] == 1
    assert server.ok("listRegions", id=2) == {}
    assert server.ok("listRegions", name="Elsewhere") == {}
    assert server.ok("listRegions", page=2, pagesize=1) == {}
    assert server.call("listRegions", server.user("alice"))[0] == 200


def test_resource_limits_are_unlimited_per_cloudstack_type(server: ServerHarness) -> None:
    limits = server.ok("listResourceLimits")
    assert limits["count"] == 12
    assert [(x["resourcetype"], x["resourcetypename"]) for x in limits["resourcelimit"]][:3] == [
        ("0", "user_vm"),
        ("1", "public_ip"),
        ("2", "volume"),
    ]
    assert {x["max"] for x in limits["resourcelimit"]} == {-1}
    assert {x["account"] for x in limits["resourcelimit"]} == {"admin"}
    assert {x["domain"] for x in limits["resourcelimit"]} == {"ROOT"}


def test_resource_limits_filters(server: ServerHarness) -> None:
    user = server.user("alice")
    server.user("bob")
    (mine,) = server.call("listResourceLimits", user, resourcetype=8)[1]["resourcelimit"]
    assert mine["account"] == "alice" and mine["resourcetypename"] == "cpu"
    (named,) = server.ok("listResourceLimits", resourcetypename="memory", resourcetype=8)[
        "resourcelimit"
    ]
    assert named["resourcetype"] == "9"
    (bobs,) = server.ok("listResourceLimits", account="bob", resourcetype=0)["resourcelimit"]
    assert bobs["account"] == "bob"
    assert server.ok("listResourceLimits", id=5) == {}
    page = server.ok("listResourceLimits", page=2, pagesize=5)
    assert page["count"] == 12 and [x["resourcetype"] for x in page["resourcelimit"]] == [
        "5",
        "6",
        "7",
        "8",
        "9",
    ]

    status, body = server.call("listResourceLimits", resourcetype=12)
    assert (status, body["errortext"]) == (
        431,
        "Invalid parameter resourcetype: Please specify a valid resource type.",
    )
    status, body = server.call("listResourceLimits", resourcetypename="gpu")
    assert (status, body["errortext"]) == (
        431,
        "Invalid parameter resourcetypename: Please specify a valid resource type name.",
    )
    status, body = server.call("listResourceLimits", user, account="bob")
    assert status == 531, body


def test_list_apis_describes_the_objects_none_of_which_exist(server: ServerHarness) -> None:
    apis = {a["name"]: a for a in server.ok("listApis")["api"]}
    for command in EMPTY_LISTS:
        assert {"id", "jobid"} <= {f["name"] for f in apis[command]["response"]}, command
    address = {f["name"]: f for f in apis["listPublicIpAddresses"]["response"]}
    assert address["ipaddress"] == {
        "name": "ipaddress",
        "description": "public IP address",
        "type": "string",
    }
    # CloudStack answers port and IP forwarding rules as the same object.
    assert apis["listPortForwardingRules"]["related"] == "listIpForwardingRules"
    rule_params = {p["name"]: p for p in apis["listPortForwardingRules"]["params"]}
    assert rule_params["ipaddressid"]["related"] == "listPublicIpAddresses"
    limit = {f["name"]: f for f in apis["listResourceLimits"]["response"]}
    assert limit["max"]["type"] == "long" and limit["resourcetype"]["type"] == "string"
