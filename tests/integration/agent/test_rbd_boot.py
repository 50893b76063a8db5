"""A VM boots from an RBD clone in the real libvirtd, its cephx key in a libvirt secret."""

import base64
import contextlib
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmcloud.agent.host.report import is_kvm_usable
from kvmcloud.agent.rbd.cli import Monitor, RbdAccess
from kvmcloud.agent.rbd.client import RbdClient
from kvmcloud.agent.rbd.libvirt_xml import rbd_disk_element, secret_xml
from kvmcloud.agent.vms.domain import Accelerator, domain_xml
from kvmcloud.protocol.agent_messages import DiskSpec, VmSpec
from tests.support.ceph import CephCluster, ceph_or_skip
from tests.support.images import BOOT_MESSAGE, make_qcow2
from tests.support.libvirt import LibvirtDaemons

pytestmark = pytest.mark.allow_commands("rbd", "ceph", "qemu-img")

BOOT_TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[CephCluster]:
    with ceph_or_skip() as running:
        yield running


def wait_for_marker(path: Path) -> str:
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if BOOT_MESSAGE.decode() in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"no boot marker in {path} within {BOOT_TIMEOUT_S:g} s: {text!r}")


def with_rbd_root_disk(xml: str, disk: ET.Element) -> str:
    """Replace the domain's file-backed vda with ``disk``."""
    domain = ET.fromstring(xml)
    devices = domain.find("devices")
    assert devices is not None
    for old in devices.findall("disk"):
        if old.get("device") == "disk":
            devices.remove(old)
    devices.insert(0, disk)
    return ET.tostring(domain, encoding="unicode")


def test_a_clone_of_a_converted_template_boots_with_the_key_in_a_libvirt_secret(
    libvirt_daemons: LibvirtDaemons, cluster: CephCluster, tmp_path: Path
) -> None:
    import libvirt

    host, port = cluster.mon_host.split(":")
    access = RbdAccess((Monitor(host, int(port)),), cluster.pool, cluster.user)
    client = RbdClient(access, cluster.key)
    qcow2 = tmp_path / "template.qcow2"
    make_qcow2(qcow2, 4 * 1024 * 1024)
    client.import_file(qcow2, "qcow2", "boot-template")
    client.protect_snapshot("boot-template", "base")
    client.clone("boot-template", "base", "boot-vm-root")

    name = f"kvmcloud-rbd-{uuid.uuid4().hex[:8]}"
    secret_uuid, pool_uuid = str(uuid.uuid4()), str(uuid.uuid4())
    console = tmp_path / "console.log"
    spec = VmSpec(
        name=name,
        uuid=str(uuid.uuid4()),
        vcpus=1,
        memory_mib=64,
        disks=[DiskSpec(path=str(tmp_path / "unused.raw"), format="raw")],
        mac_address="02:00:00:00:00:0b",
        boot_devices=["hd"],
    )
    accelerator = Accelerator.KVM if is_kvm_usable() else Accelerator.TCG
    disk = rbd_disk_element(access, "boot-vm-root", secret_uuid=secret_uuid, target="vda")
    xml = with_rbd_root_disk(domain_xml(spec, accelerator=accelerator, console_log=console), disk)

    connection = libvirt.open(libvirt_daemons.uri)
    secret = connection.secretDefineXML(secret_xml(secret_uuid, pool_uuid))
    try:
        secret.setValue(base64.b64decode(cluster.key))
        domain = connection.createXML(xml, 0)
        try:
            wait_for_marker(console)
            live = ET.fromstring(domain.XMLDesc(0))
            source = live.find("devices/disk/source[@protocol='rbd']")
            assert source is not None
            assert source.get("name") == f"{cluster.pool}/boot-vm-root"
            # libvirt never shows the key: not in the domain, not in the secret's XML.
            assert cluster.key not in domain.XMLDesc(0)
            assert cluster.key not in secret.XMLDesc(0)
        finally:
            domain.destroy()
    finally:
        secret.undefine()
        connection.close()

    client.remove("boot-vm-root")
    client.remove("boot-template")
    assert not {"boot-vm-root", "boot-template"} & set(client.images())


def test_start_vm_defines_the_pools_secret_and_boots_from_a_streamed_raw_clone(
    libvirt_daemons: LibvirtDaemons, cluster: CephCluster, tmp_path: Path
) -> None:
    import libvirt

    from kvmcloud.agent.certificates import CertificateStore
    from kvmcloud.agent.handlers import CommandHandlers, Execution
    from kvmcloud.agent.host.qemu_img import QemuImg
    from kvmcloud.agent.rbd.libvirt_xml import secret_uuid_for
    from kvmcloud.agent.vms.libvirt import LibvirtHost
    from kvmcloud.agent.vms.lifecycle import VmLifecycle
    from kvmcloud.protocol.agent_messages import (
        CreateVolumeCommand,
        DeletePoolFileCommand,
        PoolSpec,
        PoolType,
        StartVmCommand,
    )
    from tests.support.images import make_raw

    pool_uuid = str(uuid.uuid4())
    spec = PoolSpec(
        uuid=pool_uuid,
        type=PoolType.RBD,
        path=cluster.pool,
        server=cluster.mon_host,
        user=cluster.user,
        secret=cluster.key,
    )
    host, port = cluster.mon_host.split(":")
    client = RbdClient(
        RbdAccess((Monitor(host, int(port)),), cluster.pool, cluster.user), cluster.key
    )
    raw = tmp_path / "t.raw"
    make_raw(raw)
    with client.importing("raw-template") as feed:
        feed.write(raw.read_bytes())
    client.protect_snapshot("raw-template", "kvmcloud-base")
    lib = LibvirtHost(libvirt_daemons.uri)
    handlers = CommandHandlers(
        downloaders={},
        qemu_img=QemuImg(),
        vms=VmLifecycle(
            hypervisor=lib, console_dir=tmp_path / "consoles", kvm_usable=is_kvm_usable
        ),
        certificates=CertificateStore(tmp_path / "certs"),
    )

    def ok(command: object) -> object:
        execution = Execution(
            command_id=uuid.uuid4().hex, cancel=threading.Event(), progress=lambda d, t: None
        )
        answer = handlers.execute(command, execution)  # type: ignore[arg-type]
        assert answer.ok, answer.error
        return answer.result

    name = f"kvmcloud-rbd-{uuid.uuid4().hex[:8]}"
    ok(
        CreateVolumeCommand(
            pool=spec, name="ROOT-9", backing_name="raw-template", backing_format="raw"
        )
    )
    vm = VmSpec(
        name=name,
        uuid=str(uuid.uuid4()),
        vcpus=1,
        memory_mib=64,
        disks=[
            DiskSpec(path="ROOT-9", format="raw", pool=spec),
            DiskSpec(path="", format="raw", device="cdrom"),
        ],
        mac_address="02:00:00:00:00:0c",
        boot_devices=["hd", "cdrom"],
    )
    connection = libvirt.open(libvirt_daemons.uri)
    try:
        result = ok(StartVmCommand(spec=vm))
        wait_for_marker(Path(result.console_log))  # type: ignore[attr-defined]
        secret = connection.secretLookupByUUIDString(secret_uuid_for(pool_uuid))
        assert cluster.key not in secret.XMLDesc(0)
        # Starting again (the secret exists) is fine: defining it is idempotent.
        lib.destroy_and_undefine(name)
        ok(StartVmCommand(spec=vm))
    finally:
        lib.destroy_and_undefine(name)
        with contextlib.suppress(libvirt.libvirtError):
            connection.secretLookupByUUIDString(secret_uuid_for(pool_uuid)).undefine()
        connection.close()
        lib.close()
    ok(DeletePoolFileCommand(pool=spec, name="ROOT-9"))
    ok(DeletePoolFileCommand(pool=spec, name="raw-template"))
    assert not {"ROOT-9", "raw-template"} & set(client.images())
