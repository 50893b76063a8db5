"""Parameter ranges, enum filters, unknown ids in filters and 431 texts (issue 12: 4, 9, 10)."""

import pytest

from tests.integration.server.conftest import Cloud, ServerHarness

UNKNOWN = "3e1d52f0-57e0-4d1c-9c0b-6f9f1e1b2a77"


def _not_found_text(command: str, param: str, value: str) -> str:
    return (
        f"Unable to execute API command {command.lower()} due to invalid value. Invalid "
        f"parameter {param} value={value} due to incorrect long value format, or entity does "
        "not exist or due to incorrect parameter annotation for the field in api cmd class."
    )


# --- defect 4: unknown enum values in list filters list nothing -----------------------------


@pytest.mark.parametrize(
    ("command", "params"),
    [
        ("listHosts", {"state": "bogus"}),
        ("listStoragePools", {"scope": "bogus"}),
        ("listVirtualMachines", {"state": "bogus", "listall": "true"}),
        ("listVolumes", {"type": "bogus", "listall": "true"}),
    ],
)
def test_an_unknown_enum_filter_value_lists_nothing(
    server: ServerHarness, cloud: Cloud, command: str, params: dict[str, str]
) -> None:
    assert server.ok(command, **params) == {}


def test_enum_filters_match_in_any_case(server: ServerHarness, cloud: Cloud) -> None:
    assert server.ok("listHosts", state="UP")["count"] == 1
    assert server.ok("listStoragePools", scope="cluster")["count"] == 1


# --- defect 4: every number has a range -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("cpunumber", "99999999999999999999"),
        ("cpunumber", "0"),
        ("cpunumber", "-1"),
        ("cpuspeed", "2147483648"),
        ("cpuspeed", "0"),
        ("memory", "0"),
        ("memory", "2147483648"),
        ("memory", "1.5"),
        ("cpuspeed", " 500"),
        ("memory", "31"),
    ],
)
def test_service_offering_numbers_out_of_range_are_431_naming_them(
    server: ServerHarness, name: str, value: str
) -> None:
    params = {"name": "o", "cpunumber": "1", "cpuspeed": "500", "memory": "128", name: value}
    status, body = server.call("createServiceOffering", **params)

    assert status == 431, body
    assert body["errortext"].startswith(f"Invalid parameter {name} value={value}: must be ")


def test_service_offering_at_the_int_limits_is_accepted(server: ServerHarness) -> None:
    offering = server.ok(
        "createServiceOffering", name="big", cpunumber=1, cpuspeed=2147483647, memory=128
    )["serviceoffering"]

    assert offering["cpuspeed"] == 2147483647


@pytest.mark.parametrize(
    ("command", "params"),
    [
        ("createDiskOffering", {"name": "d", "disksize": "0"}),
        ("createDiskOffering", {"name": "d", "disksize": "9223372036854775807"}),
        ("createDiskOffering", {"name": "d", "disksize": "9223372036854775808"}),
    ],
)
def test_disk_sizes_have_a_range(
    server: ServerHarness, command: str, params: dict[str, str]
) -> None:
    status, body = server.call(command, **params)

    assert status == 431
    assert body["errortext"].startswith("Invalid parameter disksize value=")


@pytest.mark.parametrize(("page", "pagesize"), [("0", "10"), ("1", "0"), ("1", "-2")])
def test_paging_floors(server: ServerHarness, page: str, pagesize: str) -> None:
    status, body = server.call("listZones", page=page, pagesize=pagesize)

    assert status == 431
    assert "page" in body["errortext"]


# --- defect 10: a uuid is strictly a uuid ---------------------------------------------------


@pytest.mark.parametrize("form", ["{} ", " {}", "{{{}}}", "urn:uuid:{}", "nodash"])
def test_a_uuid_in_another_form_is_not_a_uuid(
    server: ServerHarness, cloud: Cloud, form: str
) -> None:
    value = cloud.zone_id.replace("-", "") if form == "nodash" else form.format(cloud.zone_id)
    status, body = server.call("listPods", zoneid=value)

    assert status == 431
    assert "Invalid parameter zoneid value=" in body["errortext"]


# --- defect 9: an unknown id in a list filter is a 431 --------------------------------------


@pytest.mark.parametrize(
    ("command", "param"),
    [
        ("listZones", "id"),
        ("listPods", "zoneid"),
        ("listClusters", "podid"),
        ("listHosts", "clusterid"),
        ("listStoragePools", "id"),
        ("listTemplates", "zoneid"),
        ("listIsos", "id"),
        ("listVirtualMachines", "hostid"),
        ("listVolumes", "virtualmachineid"),
        ("listServiceOfferings", "id"),
        ("listOsTypes", "oscategoryid"),
        ("listEvents", "id"),
        ("listTemplateDirectDownloadCertificates", "zoneid"),
    ],
)
def test_an_unknown_id_in_a_list_filter_is_431_in_cloudstack_words(
    server: ServerHarness, cloud: Cloud, command: str, param: str
) -> None:
    extra = {"templatefilter": "all"} if command == "listTemplates" else {}
    if command == "listIsos":
        extra = {"isofilter": "all"}
    status, body = server.call(command, **{param: UNKNOWN, **extra})

    assert status == 431, body
    assert body["errortext"] == _not_found_text(command, param, UNKNOWN)


def test_an_unknown_member_of_an_id_list_is_named(server: ServerHarness, cloud: Cloud) -> None:
    status, body = server.call("listVirtualMachines", ids=f"{UNKNOWN}")

    assert status == 431
    assert body["errortext"] == _not_found_text("listVirtualMachines", "ids", UNKNOWN)


def test_a_known_id_of_something_removed_or_elsewhere_lists_nothing(
    server: ServerHarness, cloud: Cloud
) -> None:
    # The zone exists: filtering volumes by it is fine, and there are none.
    assert server.ok("listVolumes", zoneid=cloud.zone_id) == {}
    assert server.ok("listZones", id=cloud.zone_id)["count"] == 1


# --- defect 10: every 431 names its parameter -----------------------------------------------


def test_texts_written_by_rules_name_the_parameter(server: ServerHarness, cloud: Cloud) -> None:
    status, body = server.call(
        "deployVirtualMachine",
        zoneid=cloud.zone_id,
        serviceofferingid=UNKNOWN,
        templateid=UNKNOWN,
        hypervisor="VMware",
    )
    assert status == 431
    assert body["errortext"] == (
        "Invalid parameter hypervisor value=VMware: kvmcloud runs VMs on KVM only"
    )
    status, body = server.call("updateConfiguration", name="no.such.setting", value="1")
    assert status == 431
    assert body["errortext"] == (
        "Invalid parameter name: Configuration 'no.such.setting' does not exist"
    )
