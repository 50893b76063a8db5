"""A direct-download template on a pool, and a VM's life: deploy, stop, start, destroy, expunge."""

import time
from typing import Any

import pytest
from cs import CloudStack

from kvmcloud_acceptance.plugin import Cleanup, Settings, listed

pytestmark = pytest.mark.vm


def usable_pool(api: CloudStack, zone: dict[str, Any]) -> dict[str, Any]:
    """A primary storage pool of the zone that is Up, beside an Up KVM host; else skip."""
    hosts = listed(api, "listHosts", "host", zoneid=zone["id"], type="Routing")
    if not [h for h in hosts if h.get("state") == "Up"]:
        pytest.skip(f"no KVM host Up in zone {zone['name']}")
    pools = listed(api, "listStoragePools", "storagepool", zoneid=zone["id"])
    up = [p for p in pools if p.get("state") == "Up"]
    if not up:
        pytest.skip(f"no primary storage pool Up in zone {zone['name']}")
    return up[0]


@pytest.fixture(scope="module")
def vm_setup(
    api: CloudStack,
    zone: dict[str, Any],
    run_id: str,
    template_source: tuple[str, str | None, str],
    module_cleanup: Cleanup,
) -> dict[str, Any]:
    """A pool, an L2 network, a small service offering and the registered template."""
    pool = usable_pool(api, zone)
    name = f"{run_id}-l2"
    network_offering = api.createNetworkOffering(
        name=name, displaytext=name, guestiptype="L2", traffictype="GUEST"
    )["networkoffering"]
    module_cleanup.add(
        "network offering", lambda: api.deleteNetworkOffering(id=network_offering["id"])
    )
    api.updateNetworkOffering(id=network_offering["id"], state="Enabled")
    network = api.createNetwork(
        name=name, displaytext=name, networkofferingid=network_offering["id"], zoneid=zone["id"]
    )["network"]
    module_cleanup.add("network", lambda: api.deleteNetwork(id=network["id"]))
    offering = api.createServiceOffering(
        name=f"{run_id}-vm", displaytext=f"{run_id}-vm", cpunumber=1, cpuspeed=500, memory=128
    )["serviceoffering"]
    module_cleanup.add("service offering", lambda: api.deleteServiceOffering(id=offering["id"]))
    url, checksum, image_format = template_source
    os_types = listed(api, "listOsTypes", "ostype")
    other = [t for t in os_types if t["description"].startswith("Other")] or os_types
    template = api.registerTemplate(
        name=f"{run_id}-tpl",
        displaytext=f"{run_id}-tpl",
        url=url,
        format=image_format,
        hypervisor="KVM",
        zoneid=zone["id"],
        ostypeid=other[0]["id"],
        directdownload=True,
        **({"checksum": checksum} if checksum else {}),
    )["template"][0]
    module_cleanup.add("template", lambda: api.deleteTemplate(id=template["id"], zoneid=zone["id"]))
    return {"pool": pool, "network": network, "offering": offering, "template": template}


def wait_for_jobs(api: CloudStack, job_ids: list[str], settings: Settings) -> list[dict[str, Any]]:
    """Follow async jobs by id to their end; return their final results."""
    deadline = time.monotonic() + settings.job_timeout_s
    results: dict[str, dict[str, Any]] = {}
    while len(results) < len(job_ids):
        for job_id in set(job_ids) - results.keys():
            result = api.queryAsyncJobResult(jobid=job_id, fetch_result=False)
            if result["jobstatus"] != 0:
                results[job_id] = result
        if len(results) < len(job_ids):
            assert time.monotonic() < deadline, f"jobs {job_ids} still running"
            time.sleep(1)
    return [results[j] for j in job_ids]


def test_prepare_template_copies_it_to_the_pool(
    api: CloudStack, zone: dict[str, Any], vm_setup: dict[str, Any], settings: Settings
) -> None:
    # kvmcloud: prepareTemplate answers at once with the copy's job in downloaddetails.
    prepared = api.prepareTemplate(
        templateid=vm_setup["template"]["id"], zoneid=zone["id"], storageid=vm_setup["pool"]["id"]
    )["template"][0]
    job_ids = [d["jobid"] for d in prepared.get("downloaddetails", []) if d.get("jobid")]
    assert job_ids, prepared

    results = wait_for_jobs(api, job_ids, settings)

    assert [r["jobstatus"] for r in results] == [1] * len(results), results


def expunge_named(api: CloudStack, name: str) -> None:
    """Destroy and expunge the VMs called ``name`` (a failed deploy leaves one in Error)."""
    for vm in listed(api, "listVirtualMachines", "virtualmachine", name=name, listall=True):
        if vm["name"] == name:
            api.destroyVirtualMachine(id=vm["id"], expunge=True)


@pytest.mark.cloudstack_compatible
def test_a_vm_is_deployed_stopped_started_destroyed_and_expunged(
    api: CloudStack, zone: dict[str, Any], vm_setup: dict[str, Any], run_id: str, cleanup: Cleanup
) -> None:
    name = f"{run_id}-vm"
    # Registered before the deploy: a deploy that fails may still leave a VM behind.
    cleanup.add("vm", lambda: expunge_named(api, name))
    vm = api.deployVirtualMachine(
        zoneid=zone["id"],
        templateid=vm_setup["template"]["id"],
        serviceofferingid=vm_setup["offering"]["id"],
        networkids=vm_setup["network"]["id"],
        name=name,
        displayname=name,
    )["virtualmachine"]
    assert vm["state"] == "Running"

    assert api.stopVirtualMachine(id=vm["id"], forced=True)["virtualmachine"]["state"] == "Stopped"
    assert api.startVirtualMachine(id=vm["id"])["virtualmachine"]["state"] == "Running"
    (listed_vm,) = listed(api, "listVirtualMachines", "virtualmachine", id=vm["id"])
    assert listed_vm["state"] == "Running"

    api.destroyVirtualMachine(id=vm["id"], expunge=True)
    cleanup.done("vm")
    assert listed(api, "listVirtualMachines", "virtualmachine", id=vm["id"]) == []
