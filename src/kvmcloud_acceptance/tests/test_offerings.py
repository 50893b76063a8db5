"""Service and disk offerings: create, update, list, delete."""

import pytest
from cs import CloudStack

from kvmcloud_acceptance.plugin import Cleanup, listed

pytestmark = pytest.mark.cloudstack_compatible


def test_a_service_offering_is_created_renamed_and_deleted(
    api: CloudStack, run_id: str, cleanup: Cleanup
) -> None:
    name = f"{run_id}-so"
    offering = api.createServiceOffering(
        name=name, displaytext=name, cpunumber=1, cpuspeed=500, memory=128
    )["serviceoffering"]
    cleanup.add(f"service offering {name}", lambda: api.deleteServiceOffering(id=offering["id"]))
    assert (offering["cpunumber"], offering["memory"]) == (1, 128)

    renamed = api.updateServiceOffering(id=offering["id"], name=f"{name}-b")["serviceoffering"]
    assert renamed["name"] == f"{name}-b"
    (found,) = listed(api, "listServiceOfferings", "serviceoffering", id=offering["id"])
    assert found["name"] == f"{name}-b"

    api.deleteServiceOffering(id=offering["id"])
    cleanup.done(f"service offering {name}")
    assert listed(api, "listServiceOfferings", "serviceoffering", id=offering["id"]) == []


def test_a_disk_offering_is_created_and_deleted(
    api: CloudStack, run_id: str, cleanup: Cleanup
) -> None:
    name = f"{run_id}-do"
    offering = api.createDiskOffering(name=name, displaytext=name, disksize=1)["diskoffering"]
    cleanup.add(f"disk offering {name}", lambda: api.deleteDiskOffering(id=offering["id"]))
    assert offering["disksize"] == 1

    api.deleteDiskOffering(id=offering["id"])
    cleanup.done(f"disk offering {name}")
    assert listed(api, "listDiskOfferings", "diskoffering", id=offering["id"]) == []
