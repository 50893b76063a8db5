"""Direct download into a Ceph RBD pool through the API, VMs booting from rbd clones."""

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from cs import CloudStackApiException

from tests.e2e.conftest import HEADER, Stack, add_host, running_stack
from tests.e2e.test_vms import offering_id, wait_for_marker
from tests.support.ceph import CephCluster, ceph_or_skip
from tests.support.images import make_boot_iso, make_raw
from tests.support.libvirt import URI, domain_state, libvirt_or_skip
from tests.support.processes import ManagedProcess, free_port, start_agent

pytestmark = pytest.mark.e2e

QUOTA_BYTES = 2 * 1024**3
# The kvmcloud base snapshot of a template image (agent/rbd/pool.py).
BASE_SNAPSHOT = "kvmcloud-base"


@dataclass
class RbdCloud:
    stack: Stack
    ceph: CephCluster
    pool_id: str
    second_agent: ManagedProcess
    second_host_id: str
    raw_path: str
    raw_sha256: str


@pytest.fixture(scope="module")
def rbd_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RbdCloud]:
    with libvirt_or_skip(), ceph_or_skip() as ceph:
        # Without a mgr the pool's quota is what tells its capacity.
        ceph.admin("ceph", "osd", "pool", "set-quota", ceph.pool, "max_bytes", str(QUOTA_BYTES))
        workdir = tmp_path_factory.mktemp("e2e-rbd")
        env = {"KVMCLOUD_AGENT_CONSOLE_DIR": str(workdir / "consoles")}
        with running_stack(f"sqlite:///{workdir}/kvmcloud.db", workdir, env) as stack:
            api = stack.api
            api.updateConfiguration(name="instance.name", value=f"e2e-{secrets.token_hex(3)}")
            api.createServiceOffering(
                name="tiny", displaytext="tiny", cpunumber=1, cpuspeed=500, memory=64
            )
            raw_sha256 = make_raw(workdir / "images" / "tiny.raw")
            port = free_port()
            second = start_agent(port, workdir / "agent2-state", workdir / "agent2.log", env)
            try:
                host = add_host(stack, port, workdir / "agent2-state")
                # Only the RBD pool may take the VMs' disks.
                api.updateStoragePool(id=stack.pool_id, enabled=False)
                pool = api.createStoragePool(
                    name="rbd1",
                    zoneid=stack.zone_id,
                    clusterid=host["clusterid"],
                    url=rbd_url(ceph),
                )["storagepool"]
                yield RbdCloud(stack, ceph, pool["id"], second, host["id"], "/tiny.raw", raw_sha256)
            finally:
                second.stop()
                undefine_secrets()


def rbd_url(ceph: CephCluster) -> str:
    # As CloudStack's UI builds it: the key percent-encoded (base64 holds / + =).
    return f"rbd://{ceph.user}:{quote(ceph.key, safe='')}@{ceph.mon_host}/{ceph.pool}"


def undefine_secrets() -> None:
    listed = subprocess.run(
        ["virsh", "-c", URI, "secret-list"], capture_output=True, text=True, timeout=30
    ).stdout
    for line in listed.splitlines():
        if "kvmcloud-rbd-" in line:
            subprocess.run(
                ["virsh", "-c", URI, "secret-undefine", line.split()[0]],
                capture_output=True,
                timeout=30,
            )


def rbd(ceph: CephCluster, *args: str) -> Any:
    return json.loads(ceph.admin("rbd", *args, "--format", "json"))


def register(stack: Stack, name: str, path: str, fmt: str, sha256: str) -> str:
    return str(
        stack.api.registerTemplate(
            name=name,
            displaytext=name,
            url=stack.origin.url(path),
            format=fmt,
            hypervisor="KVM",
            zoneid=stack.zone_id,
            directdownload=True,
            checksum=f"{{SHA-256}}{sha256}",
            details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
        )["template"][0]["id"]
    )


def template_image(stack: Stack, template_id: str) -> str:
    refs = stack.rows(
        "select r.install_path from template_spool_ref r "
        "join vm_template t on t.id = r.template_id where t.uuid = :id",
        id=template_id,
    )
    assert len(refs) == 1, refs
    return str(refs[0]["install_path"])


def deploy(stack: Stack, template_id: str, name: str, host_id: str) -> dict[str, Any]:
    vm: dict[str, Any] = stack.api.deployVirtualMachine(
        zoneid=stack.zone_id,
        templateid=template_id,
        serviceofferingid=offering_id(stack),
        name=name,
        hostid=host_id,
    )["virtualmachine"]
    return vm


def test_the_rbd_pool_is_listed_as_cloudstack_shows_it_without_its_key(rbd_cloud: RbdCloud) -> None:
    stack, ceph = rbd_cloud.stack, rbd_cloud.ceph
    pool = stack.api.listStoragePools(id=rbd_cloud.pool_id)["storagepool"][0]
    assert pool["type"] == "RBD" and pool["scope"] == "CLUSTER"
    assert (pool["ipaddress"], pool["path"]) == ("127.0.0.1", ceph.pool)
    assert pool["state"] == "Up" and pool["disksizetotal"] == QUOTA_BYTES
    assert ceph.key not in json.dumps(pool)
    # Sealed at rest: the database holds no copy of the key in clear.
    rows = stack.rows("select secret, user_info from storage_pool where uuid = :id", id=pool["id"])
    assert rows[0]["user_info"] == ceph.user
    assert rows[0]["secret"].startswith("enc:v1:") and ceph.key not in rows[0]["secret"]
    for log in ("server.log", "agent.log", "agent2.log"):
        path = stack.workdir / log
        if path.exists():
            text = path.read_text(errors="replace")
            assert ceph.key not in text and quote(ceph.key, safe="") not in text


def test_a_bad_rbd_url_is_refused_naming_url_without_the_key(rbd_cloud: RbdCloud) -> None:
    stack, ceph = rbd_cloud.stack, rbd_cloud.ceph
    cluster = stack.api.listClusters()["cluster"][0]
    with pytest.raises(Exception) as refused:
        stack.api.createStoragePool(
            name="rbd-bad",
            zoneid=stack.zone_id,
            clusterid=cluster["id"],
            url=f"rbd://{ceph.user}:{quote(ceph.key, safe='')}@{ceph.mon_host}/",
        )
    text = str(refused.value)
    assert "431" in text and "url" in text
    assert ceph.key not in text and quote(ceph.key, safe="") not in text


def test_two_hosts_boot_from_rbd_clones_of_one_streamed_download(rbd_cloud: RbdCloud) -> None:
    stack, ceph = rbd_cloud.stack, rbd_cloud.ceph
    template_id = register(stack, "rbd-raw", rbd_cloud.raw_path, "RAW", rbd_cloud.raw_sha256)
    before = stack.origin.get_count(rbd_cloud.raw_path)
    vms = [
        deploy(stack, template_id, f"rbd-vm{index}", host_id)
        for index, host_id in enumerate((stack.host_id, rbd_cloud.second_host_id))
    ]
    for vm in vms:
        assert vm["state"] == "Running"
        wait_for_marker(vm, timeout_s=60.0)
    assert {vm["hostid"] for vm in vms} == {stack.host_id, rbd_cloud.second_host_id}
    # One transfer, recorded once for the pool: one image with its protected snapshot.
    assert stack.origin.get_count(rbd_cloud.raw_path) == before + 1
    image = template_image(stack, template_id)
    assert image in rbd(ceph, "ls", ceph.pool)
    snaps = rbd(ceph, "snap", "ls", f"{ceph.pool}/{image}")
    assert [(s["name"], s["protected"]) for s in snaps] == [(BASE_SNAPSHOT, "true")]
    roots = []
    for vm in vms:
        volume = stack.api.listVolumes(virtualmachineid=vm["id"])["volume"][0]
        roots.append(volume["path"])
        xml = subprocess.run(
            ["virsh", "-c", URI, "dumpxml", vm["instancename"]],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.replace('"', "'")
        assert "protocol='rbd'" in xml and f"name='{ceph.pool}/{volume['path']}'" in xml
        assert "<secret type='ceph'" in xml and ceph.key not in xml
    children = rbd(ceph, "children", f"{ceph.pool}/{image}@{BASE_SNAPSHOT}")
    assert sorted(c["image"] for c in children) == sorted(roots)
    # The template copy cannot go while clones depend on it.
    stack.api.destroyVirtualMachine(id=vms[0]["id"], expunge=True)
    assert domain_state(vms[0]["instancename"]) is None
    left = set(rbd(ceph, "ls", ceph.pool))
    assert roots[0] not in left and roots[1] in left and image in left
    stack.api.destroyVirtualMachine(id=vms[1]["id"], expunge=True)
    left = set(rbd(ceph, "ls", ceph.pool))
    assert not set(roots) & left
    assert image in left


def test_a_qcow2_template_is_converted_into_rbd_and_boots(rbd_cloud: RbdCloud) -> None:
    stack, ceph = rbd_cloud.stack, rbd_cloud.ceph
    template_id = register(stack, "rbd-qcow2", stack.image_path, "QCOW2", stack.image_sha256)
    vm = deploy(stack, template_id, "rbd-qvm", rbd_cloud.second_host_id)
    assert vm["state"] == "Running"
    wait_for_marker(vm, timeout_s=60.0)
    image = template_image(stack, template_id)
    info = json.loads(ceph.admin("rbd", "info", f"{ceph.pool}/{image}", "--format", "json"))
    assert info["size"] > 0
    volume = stack.api.listVolumes(virtualmachineid=vm["id"])["volume"][0]
    children = rbd(ceph, "children", f"{ceph.pool}/{image}@{BASE_SNAPSHOT}")
    assert [c["image"] for c in children] == [volume["path"]]
    stack.api.destroyVirtualMachine(id=vm["id"], expunge=True)
    assert volume["path"] not in rbd(ceph, "ls", ceph.pool)
    assert not any(n.startswith("kvmcloud-partial-") for n in rbd(ceph, "ls", ceph.pool))


def test_deleting_the_templates_removes_their_images_and_snapshots(rbd_cloud: RbdCloud) -> None:
    stack, ceph = rbd_cloud.stack, rbd_cloud.ceph
    templates = {
        t["name"]: t["id"]
        for t in stack.api.listTemplates(templatefilter="all", fetch_list=True)
        if t["name"] in ("rbd-raw", "rbd-qcow2")
    }
    assert templates, "the earlier tests registered the templates"
    images = {template_image(stack, template_id) for template_id in templates.values()}
    assert images <= set(rbd(ceph, "ls", ceph.pool))
    for template_id in templates.values():
        assert stack.api.deleteTemplate(id=template_id)["success"] is True
    deadline = time.monotonic() + 60
    while images & set(rbd(ceph, "ls", ceph.pool)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not images & set(rbd(ceph, "ls", ceph.pool))


def test_a_vm_on_rbd_boots_from_an_iso_kept_on_a_file_pool(rbd_cloud: RbdCloud) -> None:
    """RBD pools hold disk images only: the root disk is an RBD image, the ISO a file."""
    stack, ceph = rbd_cloud.stack, rbd_cloud.ceph
    api = stack.api
    make_boot_iso(stack.workdir / "images" / "rbd-boot.iso")
    isos = stack.workdir / "isos"
    isos.mkdir()
    api.updateStoragePool(id=rbd_cloud.pool_id, tags="ceph")
    file_pool = api.createStoragePool(
        name="isos",
        zoneid=stack.zone_id,
        clusterid=api.listClusters()["cluster"][0]["id"],
        url=f"SharedMountPoint://localhost{isos}",
    )["storagepool"]
    try:
        # Root disks only on the RBD pool, by tag; the ISO has no say in that.
        on_ceph = api.createServiceOffering(
            name="on-ceph", displaytext="on-ceph", cpunumber=1, cpuspeed=500, memory=64, tags="ceph"
        )["serviceoffering"]
        disk = api.createDiskOffering(name="rbd-1g", displaytext="1 GiB", disksize=1)
        disk = disk["diskoffering"]
        iso = api.registerIso(
            name="rbd-boot-iso",
            displaytext="rbd-boot-iso",
            zoneid=stack.zone_id,
            url=stack.origin.url("/rbd-boot.iso"),
            directdownload=True,
            details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
        )["iso"][0]
        vm = api.deployVirtualMachine(
            zoneid=stack.zone_id,
            templateid=iso["id"],
            serviceofferingid=on_ceph["id"],
            diskofferingid=disk["id"],
            name="rbd-iso-vm",
        )["virtualmachine"]
        assert vm["state"] == "Running" and vm["isoid"] == iso["id"]
        wait_for_marker(vm, timeout_s=60.0)
        root = api.listVolumes(virtualmachineid=vm["id"])["volume"][0]
        assert root["storageid"] == rbd_cloud.pool_id
        assert root["path"] in rbd(ceph, "ls", ceph.pool)
        copies = stack.rows(
            "select p.uuid as pool, r.install_path from template_spool_ref r "
            "join vm_template t on t.id = r.template_id "
            "join storage_pool p on p.id = r.pool_id where t.uuid = :id",
            id=iso["id"],
        )
        assert [c["pool"] for c in copies] == [file_pool["id"]]
        assert (isos / str(copies[0]["install_path"]).rsplit("/", 1)[-1]).is_file()
        # The ISO's pool is in use while the VM runs, as a disk's pool would be.
        with pytest.raises(CloudStackApiException) as busy:
            api.enableStorageMaintenance(id=file_pool["id"])
        assert "rbd-iso-vm (Running)" in busy.value.error["errortext"]
        # Ejected and inserted again while running: it comes from the file pool again.
        api.detachIso(virtualmachineid=vm["id"])
        attached = api.attachIso(id=iso["id"], virtualmachineid=vm["id"])["virtualmachine"]
        assert attached["isoid"] == iso["id"]
        xml = subprocess.run(
            ["virsh", "-c", URI, "dumpxml", vm["instancename"]],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        assert str(isos) in xml
        api.destroyVirtualMachine(id=vm["id"], expunge=True)
        assert root["path"] not in rbd(ceph, "ls", ceph.pool)
    finally:
        api.updateStoragePool(id=rbd_cloud.pool_id, tags="")
        api.enableStorageMaintenance(id=file_pool["id"])
        api.deleteStoragePool(id=file_pool["id"], forced=True)
