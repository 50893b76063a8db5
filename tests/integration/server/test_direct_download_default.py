"""kvmcloud.register.direct.download.default: registering without directdownload, per zone."""

from typing import Any

from tests.integration.server.conftest import Cloud, ServerHarness
from tests.integration.server.test_templates import SHA256

SETTING = "kvmcloud.register.direct.download.default"
NO_SECONDARY = (
    "kvmcloud has no secondary storage: register with directdownload=true so hosts "
    "download the image straight to primary storage"
)


def template(server: ServerHarness, cloud: Cloud, **extra: Any) -> tuple[int, dict[str, Any]]:
    params: dict[str, Any] = {
        "name": "tiny",
        "displaytext": "tiny",
        "url": "http://127.0.0.1:9/tiny.qcow2",
        "format": "QCOW2",
        "hypervisor": "KVM",
        "zoneid": cloud.zone_id,
        "ostypeid": None,
        "checksum": SHA256,
        **extra,
    }
    return server.call("registerTemplate", **{k: v for k, v in params.items() if v is not None})


def iso(server: ServerHarness, cloud: Cloud, **extra: Any) -> tuple[int, dict[str, Any]]:
    return server.call(
        "registerIso", name="netinst", url="http://127.0.0.1:9/n.iso", zoneid=cloud.zone_id, **extra
    )


def test_without_the_flag_a_kvm_registration_is_a_direct_download(
    server: ServerHarness, cloud: Cloud
) -> None:
    status, body = template(server, cloud)
    assert status == 200, body
    (registered,) = body["template"]
    assert registered["directdownload"] is True
    status, body = iso(server, cloud)
    assert status == 200, body
    (iso_row,) = server.ok("listIsos", isofilter="self")["iso"]
    assert iso_row["directdownload"] is True and iso_row["name"] == "netinst"


def test_directdownload_false_is_still_refused_with_the_clear_message(
    server: ServerHarness, cloud: Cloud
) -> None:
    for call in (template, iso):
        status, body = call(server, cloud, directdownload="false")
        assert (status, body["errortext"]) == (
            431,
            NO_SECONDARY,
        )
    assert server.ok("listTemplates", templatefilter="all") == {}


def test_with_the_setting_false_in_the_zone_the_flag_is_required(
    server: ServerHarness, cloud: Cloud
) -> None:
    server.ok("updateConfiguration", name=SETTING, value="false", zoneid=cloud.zone_id)
    (listed,) = server.ok("listConfigurations", name=SETTING, zoneid=cloud.zone_id)["configuration"]
    assert (listed["value"], listed["scope"]) == ("false", "zone")

    (zone,) = server.ok("listZones")["zone"]
    for call in (template, iso):
        status, body = call(server, cloud)
        assert status == 431, body
        assert body["errortext"] == (f"{NO_SECONDARY} ({SETTING} is false in zone {zone['name']})")
    assert server.ok("listTemplates", templatefilter="all") == {}
    status, body = template(server, cloud, directdownload="true")
    assert status == 200, body

    # The global value is the default of zones without their own.
    server.ok("updateConfiguration", name=SETTING, zoneid=cloud.zone_id)
    server.ok("updateConfiguration", name=SETTING, value="false")
    assert template(server, cloud, name="again")[0] == 431
    server.ok("updateConfiguration", name=SETTING, value="true")
    assert template(server, cloud, name="again")[0] == 200
