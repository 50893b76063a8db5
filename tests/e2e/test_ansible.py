"""Ansible's ngine_io.cloudstack modules register, deploy and remove on kvmcloud unmodified."""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Stack, running_stack
from tests.support.ansible import (
    CloudStackKeys,
    PlaybookRun,
    ansible_playbook_or_skip,
    run_playbook,
)
from tests.support.libvirt import domain_state, libvirt_or_skip
from tests.support.origin import Origin

pytestmark = pytest.mark.e2e

TEMPLATE = "ansible-template"
VM = "ansible-vm"
OFFERING = "ansible-tiny"
DISK_OFFERING = "ansible-disk"
# An Isolated network (addresses from its CIDR) and an L2 one (none), of the default offerings.
NETWORKS = {
    "ansible-isolated": {
        "network_offering": "DefaultIsolatedNetworkOfferingWithSourceNatService",
        "gateway": "192.168.50.1",
        "netmask": "255.255.255.0",
    },
    "ansible-l2": {"network_offering": "DefaultL2NetworkOffering"},
}


@dataclass
class AnsibleStack:
    """A running kvmcloud, an origin that needs no header, and Ansible."""

    stack: Stack
    origin: Origin
    playbook_bin: Path
    keys: CloudStackKeys


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnsibleStack]:
    playbook_bin = ansible_playbook_or_skip()
    with libvirt_or_skip():
        workdir = tmp_path_factory.mktemp("e2e-ansible")
        with running_stack(f"sqlite:///{workdir}/kvmcloud.db", workdir) as stack:
            # Domain names must not collide with another run's on this host's libvirt.
            stack.api.updateConfiguration(name="instance.name", value=f"e2e-{secrets.token_hex(3)}")
            keys = CloudStackKeys(stack.endpoint, stack.keys.api_key, stack.keys.secret_key)
            # cs_template sends no details, so no HTTP header: an origin that asks for none.
            with Origin(directory=workdir / "images") as origin:
                try:
                    yield AnsibleStack(stack, origin, playbook_bin, keys)
                finally:
                    # A failed test must not leave its domain running on the host's libvirt.
                    listed = stack.api.listVirtualMachines(listall=True)
                    for vm in listed.get("virtualmachine", []):
                        stack.api.destroyVirtualMachine(id=vm["id"], expunge=True)


def run(env: AnsibleStack, workdir: Path, tasks: list[dict[str, Any]]) -> PlaybookRun:
    result = run_playbook(env.playbook_bin, workdir, tasks, env.keys)
    assert result.returncode == 0, result.explain()
    return result


def template_task(env: AnsibleStack, os_type: str, **extra: Any) -> dict[str, Any]:
    stack = env.stack
    return {
        "name": "template",
        "ngine_io.cloudstack.cs_template": {
            "name": TEMPLATE,
            "zone": "zone1",
            "url": env.origin.url(stack.image_path),
            "format": "QCOW2",
            "hypervisor": "KVM",
            "os_type": os_type,
            "checksum": f"{{SHA-256}}{stack.image_sha256}",
            **extra,
        },
    }


def offering_tasks(state: str) -> list[dict[str, Any]]:
    present = state == "present"
    return [
        {
            "name": f"service offering {state}",
            "ngine_io.cloudstack.cs_service_offering": {"name": OFFERING, "state": state}
            | ({"cpu_number": 1, "cpu_speed": 500, "memory": 64} if present else {}),
        },
        {
            "name": f"disk offering {state}",
            "ngine_io.cloudstack.cs_disk_offering": {"name": DISK_OFFERING, "state": state}
            | ({"disk_size": 1, "storage_tags": ["fast"]} if present else {}),
        },
    ]


def network_tasks(state: str) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{name} {state}",
            "ngine_io.cloudstack.cs_network": {"name": name, "zone": "zone1", "state": state}
            | (params if state == "present" else {}),
        }
        for name, params in NETWORKS.items()
    ]


def instance_task(state: str) -> dict[str, Any]:
    return {
        "name": f"instance {state}",
        "ngine_io.cloudstack.cs_instance": {
            "name": VM,
            "zone": "zone1",
            "template": TEMPLATE,
            "service_offering": OFFERING,
            "networks": list(NETWORKS),
            "state": state,
        },
    }


@pytest.mark.timeout(600)
def test_cs_template_and_cs_instance_register_deploy_and_remove(
    env: AnsibleStack, tmp_path: Path
) -> None:
    stack = env.stack
    os_type = stack.api.listOsTypes()["ostype"][0]["description"]

    # No direct-download flag: the zone setting (default true) makes it one.
    present = [
        template_task(env, os_type),
        *offering_tasks("present"),
        *network_tasks("present"),
        instance_task("present"),
        # Reads only: listNics and listVirtualMachines/listVolumes.
        {
            "name": "nic",
            "ngine_io.cloudstack.cs_instance_nic": {
                "vm": VM,
                "zone": "zone1",
                "network": "ansible-isolated",
            },
        },
        {"name": "info", "ngine_io.cloudstack.cs_instance_info": {"name": VM}},
    ]
    deployed = run(env, tmp_path / "deploy", present)

    (template,) = stack.api.listTemplates(templatefilter="self", name=TEMPLATE)["template"]
    assert template["directdownload"] is True
    # As CloudStack, the digest without its {SHA-256} prefix.
    assert template["checksum"] == stack.image_sha256
    assert deployed.task("template").changed
    assert deployed.task("template").module_result["id"] == template["id"]
    (vm,) = stack.api.listVirtualMachines(name=VM)["virtualmachine"]
    assert (vm["state"], vm["templateid"]) == ("Running", template["id"])
    assert deployed.task("instance present").module_result["id"] == vm["id"]
    (offering,) = stack.api.listServiceOfferings(name=OFFERING)["serviceoffering"]
    assert (offering["cpunumber"], offering["cpuspeed"], offering["memory"]) == (1, 500, 64)
    assert vm["serviceofferingid"] == offering["id"]
    (disk,) = stack.api.listDiskOfferings(name=DISK_OFFERING)["diskoffering"]
    assert (disk["disksize"], disk["tags"]) == (1, "fast")
    networks = {n["name"]: n for n in stack.api.listNetworks()["network"]}
    assert {name: networks[name]["type"] for name in NETWORKS} == {
        "ansible-isolated": "Isolated",
        "ansible-l2": "L2",
    }
    assert (
        deployed.task("ansible-isolated present").module_result["id"]
        == (networks["ansible-isolated"]["id"])
    )
    # One NIC per network, in the order given; the first one is the default.
    assert [(n["networkid"], n["isdefault"]) for n in vm["nic"]] == [
        (networks["ansible-isolated"]["id"], True),
        (networks["ansible-l2"]["id"], False),
    ]
    assert deployed.task("instance present").module_result["default_ip"] == "192.168.50.2"
    nic = deployed.task("nic")
    assert not nic.changed and nic.module_result["ip_address"] == "192.168.50.2"
    (info,) = deployed.task("info").module_result["instances"]
    assert (info["id"], info["state"], info["default_ip"]) == (vm["id"], "Running", "192.168.50.2")
    assert domain_state(vm["instancename"]) == "running"
    # The agent fetched the image from the URL Ansible registered (after the URL check).
    assert stack.origin.get_count(stack.image_path) == 0
    assert env.origin.get_count(stack.image_path) >= 1

    # The same playbook again finds both and changes nothing.
    again = run(env, tmp_path / "again", present)
    assert [t.name for t in again.tasks if t.changed] == []

    removed = run(
        env,
        tmp_path / "remove",
        [
            instance_task("absent"),
            instance_task("expunged"),
            *network_tasks("absent"),
            template_task(env, os_type, state="absent"),
            *offering_tasks("absent"),
        ],
    )
    assert removed.task("instance absent").changed
    assert removed.task("instance expunged").changed
    assert domain_state(vm["instancename"]) is None
    assert stack.api.listVirtualMachines(name=VM, listall=True) == {}
    assert removed.task("ansible-l2 absent").changed
    assert stack.api.listNetworks() == {}
    assert removed.task("template").changed
    assert stack.api.listTemplates(templatefilter="self", name=TEMPLATE) == {}
    assert removed.task("service offering absent").changed
    assert stack.api.listServiceOfferings(name=OFFERING) == {}
    assert stack.api.listDiskOfferings(name=DISK_OFFERING) == {}
