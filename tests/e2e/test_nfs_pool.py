"""Direct download into a NetworkFilesystem pool (user-space mode) and VMs booting from it."""

import hashlib
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cs import CloudStackApiException

from tests.e2e.conftest import Stack, add_host, register_template, running_stack
from tests.e2e.test_vms import offering_id, wait_for_marker
from tests.support.libvirt import URI, domain_state, libvirt_or_skip
from tests.support.nfs import HOST, GaneshaServer, nfs_or_skip
from tests.support.processes import ManagedProcess, free_port, start_agent
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


@dataclass
class NfsCloud:
    stack: Stack
    nfs: GaneshaServer
    export: Path
    pool_id: str
    second_agent: ManagedProcess
    second_host_id: str


@pytest.fixture(scope="module")
def nfs_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NfsCloud]:
    with libvirt_or_skip(), nfs_or_skip() as nfs:
        workdir = tmp_path_factory.mktemp("e2e-nfs")
        env = {
            "KVMCLOUD_AGENT_CONSOLE_DIR": str(workdir / "consoles"),
            # Pool checks every 2 s (60 by default), so a hung server shows within seconds.
            "KVMCLOUD_AGENT_POOL_CHECK_INTERVAL_S": "2",
        }
        with running_stack(f"sqlite:///{workdir}/kvmcloud.db", workdir, env) as stack:
            api = stack.api
            # Beats every 5 s carry the checks soon; not 1 s, whose 2.5 s Disconnected
            # threshold a busy machine misses (the hosts flap and nothing can be placed).
            api.updateConfiguration(name="ping.interval", value="5")
            api.updateConfiguration(name="instance.name", value=f"e2e-{secrets.token_hex(3)}")
            api.createServiceOffering(
                name="tiny", displaytext="tiny", cpunumber=1, cpuspeed=500, memory=64
            )
            port = free_port()
            second = start_agent(port, workdir / "agent2-state", workdir / "agent2.log", env)
            try:
                host = add_host(stack, port, workdir / "agent2-state")
                # Only the NFS pool may take the VMs' disks.
                api.updateStoragePool(id=stack.pool_id, enabled=False)
                export = nfs.writable_subdir("e2e-pool")
                pool = api.createStoragePool(
                    name="nfs1",
                    zoneid=stack.zone_id,
                    clusterid=host["clusterid"],
                    url=nfs.pool_url(export),
                )["storagepool"]
                yield NfsCloud(stack, nfs, export, pool["id"], second, host["id"])
            finally:
                second.stop()


def test_nfs_pool_is_listed_as_cloudstack_shows_it(nfs_cloud: NfsCloud) -> None:
    pool = nfs_cloud.stack.api.listStoragePools(id=nfs_cloud.pool_id)["storagepool"][0]
    assert pool["type"] == "NetworkFilesystem" and pool["scope"] == "CLUSTER"
    assert (pool["ipaddress"], pool["path"]) == (HOST, str(nfs_cloud.export))
    assert pool["state"] == "Up" and pool["disksizetotal"] > 0


def test_two_hosts_boot_from_one_download_into_the_nfs_pool(nfs_cloud: NfsCloud) -> None:
    stack = nfs_cloud.stack
    template_id = str(register_template(stack, "nfs-template")["id"])
    before = stack.origin.get_count(stack.image_path)
    vms = [
        stack.api.deployVirtualMachine(
            zoneid=stack.zone_id,
            templateid=template_id,
            serviceofferingid=offering_id(stack),
            name=f"nfs-vm{index}",
            hostid=host_id,
        )["virtualmachine"]
        for index, host_id in enumerate((stack.host_id, nfs_cloud.second_host_id))
    ]
    for vm in vms:
        assert vm["state"] == "Running"
        wait_for_marker(vm)
    assert {vm["hostid"] for vm in vms} == {stack.host_id, nfs_cloud.second_host_id}
    # One transfer for the pool, recorded once for the pool, published on the export.
    assert stack.origin.get_count(stack.image_path) == before + 1
    refs = stack.rows(
        "select r.install_path from template_spool_ref r "
        "join vm_template t on t.id = r.template_id where t.uuid = :id",
        id=template_id,
    )
    assert len(refs) == 1
    install_path = refs[0]["install_path"]
    assert install_path.startswith(f"nfs://{HOST}{nfs_cloud.export}/")
    template_file = nfs_cloud.export / install_path.rsplit("/", 1)[-1]
    assert hashlib.sha256(template_file.read_bytes()).hexdigest() == stack.image_sha256
    # The disks are network disks read through QEMU's NFS driver, not host files.
    roots = []
    for vm in vms:
        xml = subprocess.run(
            ["virsh", "-c", URI, "dumpxml", vm["instancename"]],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        volume = stack.api.listVolumes(virtualmachineid=vm["id"])["volume"][0]
        root = nfs_cloud.export / volume["path"]
        assert f"name='{root}'" in xml.replace('"', "'") and "protocol='nfs'" in xml.replace(
            '"', "'"
        )
        assert root.exists()
        roots.append(root)
    for vm in vms:
        stack.api.destroyVirtualMachine(id=vm["id"], expunge=True)
        assert domain_state(vm["instancename"]) is None
    assert not any(root.exists() for root in roots)
    assert template_file.exists()


# How long a hung server may take to show: a user-space check gives up after 20 s (two
# 10 s RPC timeouts), then the next heartbeat (5 s) carries it; checks run every 2 s.
DOWN_WITHIN_S = 60


def test_a_hung_nfs_server_takes_the_pool_down_and_back_up(nfs_cloud: NfsCloud) -> None:
    stack = nfs_cloud.stack
    api = stack.api
    template_id = str(register_template(stack, "nfs-down-template")["id"])

    def state() -> str:
        return str(api.listStoragePools(id=nfs_cloud.pool_id)["storagepool"][0]["state"])

    assert state() == "Up"
    nfs_cloud.nfs.pause()  # SIGSTOP: the server takes calls and never answers
    try:
        started = time.monotonic()
        assert wait_until(lambda: state() == "Down", timeout_s=DOWN_WITHIN_S, interval_s=0.5), (
            f"the pool stayed {state()} for {DOWN_WITHIN_S} s with its server hung"
        )
        assert time.monotonic() - started < DOWN_WITHIN_S
        with pytest.raises(CloudStackApiException) as refused:
            api.deployVirtualMachine(
                zoneid=stack.zone_id,
                templateid=template_id,
                serviceofferingid=offering_id(stack),
                name="nfs-down-vm",
            )
        assert refused.value.error["errorcode"] == 533
        assert "storage pool nfs1 is Down" in refused.value.error["errortext"]
    finally:
        nfs_cloud.nfs.resume()
    assert wait_until(lambda: state() == "Up", timeout_s=DOWN_WITHIN_S, interval_s=0.5), (
        f"the pool stayed {state()} after its server came back"
    )
    # Usable again: a VM deploys onto it.
    vm = api.deployVirtualMachine(
        zoneid=stack.zone_id,
        templateid=template_id,
        serviceofferingid=offering_id(stack),
        name="nfs-back-vm",
    )["virtualmachine"]
    assert vm["state"] == "Running"
    api.destroyVirtualMachine(id=vm["id"], expunge=True)
