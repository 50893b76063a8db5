"""The cloud answers: its API list, its zones and its capabilities."""

from typing import Any

import pytest
from cs import CloudStack

from kvmcloud_acceptance.plugin import listed

pytestmark = pytest.mark.cloudstack_compatible


def test_list_apis_names_the_commands_the_suite_uses(api: CloudStack) -> None:
    names = {a["name"] for a in listed(api, "listApis", "api")}

    used = {"listZones", "createAccount", "deleteAccount", "createServiceOffering"}
    assert used <= names, used - names


def test_the_zone_under_test_is_listed_with_its_id_and_name(
    api: CloudStack, zone: dict[str, Any]
) -> None:
    (again,) = listed(api, "listZones", "zone", id=zone["id"])

    assert again["id"] == zone["id"] and again["name"] == zone["name"]


def test_capabilities_report_a_version(api: CloudStack) -> None:
    capability = api.listCapabilities()["capability"]

    assert capability["cloudstackversion"]
