"""Defect 5 (SSRF) at the server: zone egress settings, and literal addresses refused early."""

from typing import Any

import pytest

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.error_codes import ErrorCode
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness
from tests.support.egress import ALLOW_SETTING, DENY_SETTING, LOOPBACK, LOOPBACK_ENTRIES

REFUSED = "refused by the egress policy"


def register(server: ServerHarness, cloud: Cloud, url: str) -> tuple[int, dict[str, Any]]:
    return server.call(
        "registerTemplate",
        name="t",
        displaytext="t",
        url=url,
        format="QCOW2",
        hypervisor="KVM",
        zoneid=cloud.zone_id,
        directdownload="true",
    )


def default_policy(server: ServerHarness, cloud: Cloud) -> None:
    """Drop the zone's allow entry that the fixture set: the zone takes the global default."""
    server.ok("updateConfiguration", name=ALLOW_SETTING, zoneid=cloud.zone_id)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:8080/x.qcow2", "127.0.0.1"),
        ("http://0x7f.1:8080/x.qcow2", "0x7f.1 (127.0.0.1)"),
        ("http://2130706433:8080/x.qcow2", "2130706433 (127.0.0.1)"),
        ("http://0177.0.0.1/x.qcow2", "0177.0.0.1 (127.0.0.1)"),
        ("https://[::1]/x.qcow2", "::1"),
        ("http://[::ffff:127.0.0.1]/x.qcow2", "::ffff:127.0.0.1 (::ffff:7f00:1)"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://0.0.0.0:22/x.qcow2", "0.0.0.0"),
        ("nfs://0x7f.1/export/t.qcow2", "0x7f.1 (127.0.0.1)"),
    ],
)
def test_a_literal_local_address_is_refused_at_registration(
    server: ServerHarness, cloud: Cloud, url: str, address: str
) -> None:
    default_policy(server, cloud)
    agent = server.agents.agents[AGENT_URL]
    before = len(agent.received)

    status, body = register(server, cloud, url)

    assert status == 431, body
    assert body["errortext"].startswith(f"url is {REFUSED} of zone zone1: {address} is ")
    assert body["errortext"].endswith(", denied by default")
    # Refused before any host was asked to fetch anything.
    assert len(agent.received) == before
    assert server.ok("listTemplates", templatefilter="all") == {}


def test_a_number_like_host_that_is_no_address_is_refused(
    server: ServerHarness, cloud: Cloud
) -> None:
    status, body = register(server, cloud, "http://1.2.3.999/x.qcow2")

    assert status == 431
    assert (
        REFUSED in body["errortext"] and "neither a host name nor an address" in (body["errortext"])
    )


def test_a_name_goes_to_the_host_with_the_zones_rules(server: ServerHarness, cloud: Cloud) -> None:
    server.ok("updateConfiguration", name=DENY_SETTING, value="127.0.0.9", zoneid=cloud.zone_id)

    status, body = register(server, cloud, "http://images.example.com/x.qcow2")

    assert status == 200, body
    check = server.agents.agents[AGENT_URL].received[-1]
    assert isinstance(check, msg.CheckUrlCommand)
    assert check.egress == msg.EgressRules(allow=LOOPBACK_ENTRIES, deny=["127.0.0.9"])


def test_the_download_carries_the_pools_zone_rules(server: ServerHarness, cloud: Cloud) -> None:
    template_id = register(server, cloud, "http://127.0.0.1:9/x.qcow2")[1]["template"][0]["id"]

    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    assert server.run_jobs() == 1

    download = server.agents.agents[AGENT_URL].received[-1]
    assert isinstance(download, msg.DirectDownloadCommand)
    assert download.egress == msg.EgressRules(allow=LOOPBACK_ENTRIES, deny=[])


def test_a_deny_entry_wins_over_the_allow_entry(server: ServerHarness, cloud: Cloud) -> None:
    server.ok("updateConfiguration", name=DENY_SETTING, value="127.0.0.1", zoneid=cloud.zone_id)

    status, body = register(server, cloud, "http://127.0.0.1:9/x.qcow2")

    assert status == 431
    assert "127.0.0.1 is in deny entry 127.0.0.1/32" in body["errortext"]
    assert REFUSED in body["errortext"]


def test_the_hosts_refusal_is_a_431_naming_url(server: ServerHarness, cloud: Cloud) -> None:
    server.agents.agents[AGENT_URL].check_url = lambda _c: msg.Answer(
        ok=False,
        error=msg.ErrorInfo(
            code=ErrorCode.EGRESS_REFUSED,
            message=f"{REFUSED}: host images.example.com resolves to an address that is a "
            "private address, denied by default (URL http://images.example.com/x.qcow2)",
        ),
    )

    status, body = register(server, cloud, "http://images.example.com/x.qcow2")

    assert status == 431
    assert "url" in body["errortext"].lower() and REFUSED in body["errortext"]


# the zone-scoped settings ----------------------------------------------------------------


def test_egress_settings_are_zone_scoped_with_a_global_default(
    server: ServerHarness, cloud: Cloud
) -> None:
    listed = server.ok("listConfigurations", name=ALLOW_SETTING)["configuration"]
    assert [(c.get("value", ""), c["scope"]) for c in listed] == [("", "zone")]

    zone = server.ok("listConfigurations", zoneid=cloud.zone_id)["configuration"]
    by_name = {c["name"]: c for c in zone}
    # Only the zone-scoped settings, each with the zone's value.
    assert set(by_name) == {
        ALLOW_SETTING,
        DENY_SETTING,
        "kvmcloud.register.direct.download.default",
        "kvmcloud.direct.download.peers.enabled",
        "kvmcloud.direct.download.peers.max.sources",
        "kvmcloud.direct.download.peers.max.wait",
        "kvmcloud.direct.download.peer.max.rate",
        "kvmcloud.direct.download.peer.max.uploads",
    }
    assert by_name[ALLOW_SETTING]["value"] == LOOPBACK
    assert by_name[ALLOW_SETTING]["scope"] == "zone"
    assert by_name[ALLOW_SETTING]["id"] == cloud.zone_id

    server.ok("updateConfiguration", name=ALLOW_SETTING, value="10.0.0.0/8,.lan")
    zone = server.ok("listConfigurations", zoneid=cloud.zone_id, name=ALLOW_SETTING)
    assert zone["configuration"][0]["value"] == LOOPBACK  # the zone's own value wins

    updated = server.ok("updateConfiguration", name=ALLOW_SETTING, zoneid=cloud.zone_id)
    # No value: the zone's own is gone, it takes the global one.
    assert updated["configuration"]["value"] == "10.0.0.0/8,.lan"
    assert updated["configuration"]["scope"] == "zone"


@pytest.mark.parametrize(
    ("params", "param", "words"),
    [
        ({"name": ALLOW_SETTING, "value": "0x7f.1"}, "value", "not an address or CIDR"),
        ({"name": ALLOW_SETTING, "value": "127.0.0.0/33"}, "value", "not an address"),
        ({"name": DENY_SETTING, "value": "http://evil/"}, "value", "entry"),
        ({"name": ALLOW_SETTING, "value": "a b;c"}, "value", "entry"),
        ({"name": "default.page.size", "value": "10"}, "zoneid", "global"),
        ({"name": "no.such.setting", "value": "1"}, "configuration", "does not exist"),
    ],
)
def test_bad_zone_updates_are_431_naming_the_parameter(
    server: ServerHarness, cloud: Cloud, params: dict[str, str], param: str, words: str
) -> None:
    status, body = server.call(
        "updateConfiguration", zoneid=cloud.zone_id, name=params["name"], value=params["value"]
    )

    assert status == 431, body
    assert param in body["errortext"].lower() and words in body["errortext"], body


def test_an_unknown_zone_is_431(server: ServerHarness, cloud: Cloud) -> None:
    unknown = "5b1c6a36-0b43-4cf8-9d0e-8f3c0e0b0c11"
    answers = [
        server.call("updateConfiguration", zoneid=unknown, name=ALLOW_SETTING, value=LOOPBACK),
        server.call("listConfigurations", zoneid=unknown),
    ]
    for status, body in answers:
        assert status == 431, body
        assert "zoneid" in body["errortext"].lower()


def test_a_global_bad_value_is_431_naming_value(server: ServerHarness, cloud: Cloud) -> None:
    status, body = server.call("updateConfiguration", name=DENY_SETTING, value="999.1.1.1/8")

    assert status == 431 and "value" in body["errortext"].lower()
