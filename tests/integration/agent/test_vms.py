"""VM and volume commands on real libvirt + QEMU: the boot-sector guest prints its marker."""

import contextlib
import dataclasses
import re
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kvmcloud.agent.certificates import CertificateStore
from kvmcloud.agent.handlers import CommandHandlers, Execution
from kvmcloud.agent.host.qemu_img import QemuImg
from kvmcloud.agent.host.report import is_kvm_usable
from kvmcloud.agent.vms.guest_networks import bridge_name, network_name
from kvmcloud.agent.vms.libvirt import LibvirtHost
from kvmcloud.agent.vms.lifecycle import VmLifecycle
from kvmcloud.protocol.agent_messages import (
    Answer,
    AttachIsoCommand,
    Command,
    CreateVolumeCommand,
    DeletePoolFileCommand,
    DestroyVmCommand,
    DiskSpec,
    NicSpec,
    PoolFileDeleted,
    PoolSpec,
    PoolType,
    RebootVmCommand,
    StartVmCommand,
    StopVmCommand,
    VmPowerState,
    VmSpec,
    VmStateResult,
    VolumeResult,
)
from kvmcloud.protocol.error_codes import ErrorCode
from tests.support.images import BOOT_MESSAGE, make_boot_iso, make_qcow2
from tests.support.libvirt import URI, LibvirtDaemons, domain_state

pytestmark = pytest.mark.allow_commands("qemu-img")

BOOT_TIMEOUT_S = 20.0
TEMPLATE = "5b0b6e1c-0000-4000-8000-000000000001"
MIB = 1024 * 1024


@dataclass
class Agent:
    """The agent's command handling on real libvirt, qemu-img and a pool directory."""

    handlers: CommandHandlers
    host: LibvirtHost
    pool: PoolSpec
    console_dir: Path
    names: list[str]

    def run(self, command: Command) -> Answer:
        execution = Execution(
            command_id=uuid.uuid4().hex, cancel=threading.Event(), progress=lambda d, t: None
        )
        return self.handlers.execute(command, execution)

    def ok(self, command: Command) -> Any:
        answer = self.run(command)
        assert answer.ok, answer.error
        return answer.result

    def new_name(self) -> str:
        # Unique, so parallel runs and other suites' domains never collide; torn down below.
        name = f"kvmcloud-test-{uuid.uuid4().hex[:10]}"
        self.names.append(name)
        return name

    def volume(self, name: str, **fields: Any) -> VolumeResult:
        values: dict[str, Any] = {"backing_name": TEMPLATE, "backing_format": "qcow2"}
        values.update(fields)
        result = self.ok(CreateVolumeCommand(pool=self.pool, name=name, **values))
        assert isinstance(result, VolumeResult)
        return result

    def start(self, spec: VmSpec) -> VmStateResult:
        result = self.ok(StartVmCommand(spec=spec))
        assert isinstance(result, VmStateResult)
        return result


@pytest.fixture
def agent(libvirt_daemons: LibvirtDaemons, tmp_path: Path) -> Iterator[Agent]:
    pool_dir = tmp_path / "pool"
    pool_dir.mkdir()
    make_qcow2(pool_dir / TEMPLATE)
    host = LibvirtHost(libvirt_daemons.uri)
    console_dir = tmp_path / "consoles"
    handlers = CommandHandlers(
        downloaders={},
        qemu_img=QemuImg(),
        vms=VmLifecycle(hypervisor=host, console_dir=console_dir, kvm_usable=is_kvm_usable),
        certificates=CertificateStore(tmp_path / "certs"),
    )
    pool = PoolSpec(uuid="p1", type=PoolType.FILESYSTEM, path=str(pool_dir))
    names: list[str] = []
    try:
        yield Agent(handlers, host, pool, console_dir, names)
    finally:
        for name in names:
            # Every domain a test made goes, whatever the test did to it.
            with contextlib.suppress(Exception):
                host.destroy_and_undefine(name)
        host.close()


def vm_spec(name: str, disks: list[DiskSpec], boot_devices: list[str] | None = None) -> VmSpec:
    return VmSpec(
        name=name,
        uuid=str(uuid.uuid4()),
        vcpus=1,
        memory_mib=64,
        disks=disks,
        mac_address="02:00:00:00:00:0a",
        boot_devices=boot_devices or ["hd"],
    )


def wait_for_marker(console_log: str | None, count: int = 1) -> str:
    """Wait (bounded) until the console log holds ``count`` boot markers; return its text."""
    assert console_log is not None
    path = Path(console_log)
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if text.count(BOOT_MESSAGE.decode()) >= count:
            return text
        time.sleep(0.1)
    raise AssertionError(
        f"{count} boot marker(s) not in {path} within {BOOT_TIMEOUT_S:g} s; it holds {text!r}"
    )


def expected_accelerator() -> str:
    return "kvm" if is_kvm_usable() else "tcg"


def libvirt_xml(name: str, uri: str, *, inactive: bool) -> str:
    import libvirt

    connection = libvirt.open(uri)
    try:
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0
        return str(connection.lookupByName(name).XMLDesc(flags))
    finally:
        connection.close()


def test_overlay_on_a_template_boots_and_outlives_the_agent(agent: Agent) -> None:
    name = agent.new_name()
    volume = agent.volume(f"{name}-root.qcow2")
    assert volume.virtual_size_bytes == MIB

    spec = vm_spec(name, [DiskSpec(path=volume.path, format="qcow2")])
    result = agent.start(spec)

    assert result.state is VmPowerState.RUNNING
    assert result.accelerator == expected_accelerator()
    assert result.console_log == str(agent.console_dir / f"{name}.log")
    wait_for_marker(result.console_log)
    assert agent.host.states()[name] is VmPowerState.RUNNING
    assert domain_state(name) == "running"

    # An agent restart is a new process with a new connection: the domain is still there.
    agent.host.close()
    restarted = LibvirtHost(agent.host.uri)
    try:
        assert restarted.states()[name] is VmPowerState.RUNNING
    finally:
        restarted.close()

    # Starting a running VM again keeps it running, without a second boot.
    again = agent.start(spec)
    assert again.state is VmPowerState.RUNNING

    destroyed = agent.ok(DestroyVmCommand(name=name))
    assert destroyed.state is VmPowerState.MISSING
    assert name not in agent.host.states()
    assert domain_state(name) is None
    assert agent.ok(DestroyVmCommand(name=name)).state is VmPowerState.MISSING
    deleted = DeletePoolFileCommand(pool=agent.pool, name=f"{name}-root.qcow2")
    assert agent.ok(deleted) == PoolFileDeleted(existed=True)
    assert agent.ok(deleted) == PoolFileDeleted(existed=False)
    assert (Path(agent.pool.path) / TEMPLATE).exists()


def test_reboot_stop_start_and_graceful_stop_falling_back_to_power_off(agent: Agent) -> None:
    name = agent.new_name()
    volume = agent.volume(f"{name}-root.qcow2", size_bytes=2 * MIB)
    spec = vm_spec(name, [DiskSpec(path=volume.path, format="qcow2")])
    log = agent.start(spec).console_log
    wait_for_marker(log)

    assert agent.ok(RebootVmCommand(name=name)).state is VmPowerState.RUNNING
    wait_for_marker(log, count=2)

    assert agent.ok(StopVmCommand(name=name, forced=True)).state is VmPowerState.STOPPED
    assert domain_state(name) == "stopped"
    assert agent.host.states()[name] is VmPowerState.STOPPED
    reboot_stopped = agent.run(RebootVmCommand(name=name))
    assert reboot_stopped.error is not None
    assert reboot_stopped.error.code is ErrorCode.VM_FAILURE

    # The console log is appended to, so the earlier boots stay readable.
    assert agent.start(spec).state is VmPowerState.RUNNING
    wait_for_marker(log, count=3)

    # The guest halts with interrupts off and ignores ACPI: the timeout powers it off.
    began = time.monotonic()
    stopped = agent.ok(StopVmCommand(name=name, forced=False, graceful_timeout_s=1.0))
    assert stopped.state is VmPowerState.STOPPED
    assert time.monotonic() - began >= 1.0
    assert agent.ok(StopVmCommand(name=name)).state is VmPowerState.STOPPED


def test_attach_and_eject_an_iso(agent: Agent, tmp_path: Path) -> None:
    name = agent.new_name()
    volume = agent.volume(f"{name}-root.qcow2")
    iso = Path(agent.pool.path) / "tools.iso"
    iso.write_bytes(b"\0" * 64 * 1024)
    agent.start(vm_spec(name, [DiskSpec(path=volume.path, format="qcow2")]))

    agent.ok(AttachIsoCommand(name=name, iso_path=str(iso)))

    assert str(iso) in libvirt_xml(name, agent.host.uri, inactive=False)
    assert str(iso) in libvirt_xml(name, agent.host.uri, inactive=True)

    agent.ok(AttachIsoCommand(name=name, iso_path=None))

    assert str(iso) not in libvirt_xml(name, agent.host.uri, inactive=False)
    assert str(iso) not in libvirt_xml(name, agent.host.uri, inactive=True)


def test_blank_volume_vm_boots_from_an_iso(agent: Agent) -> None:
    name = agent.new_name()
    iso = Path(agent.pool.path) / "boot.iso"
    make_boot_iso(iso)
    blank = agent.volume(
        f"{name}-root.qcow2", backing_name=None, backing_format=None, size_bytes=MIB
    )
    disks = [
        DiskSpec(path=blank.path, format="qcow2"),
        DiskSpec(path=str(iso), format="iso", device="cdrom"),
    ]

    result = agent.start(vm_spec(name, disks, boot_devices=["cdrom", "hd"]))

    wait_for_marker(result.console_log)


def test_unknown_vms_and_invalid_specs(agent: Agent) -> None:
    missing = agent.run(StopVmCommand(name="kvmcloud-test-never-defined"))
    assert missing.error is not None and missing.error.code is ErrorCode.VM_NOT_FOUND

    name = agent.new_name()
    bad_disk = vm_spec(name, [DiskSpec(path="/nonexistent/disk.qcow2", format="qcow2")])
    refused = agent.run(StartVmCommand(spec=bad_disk))
    assert refused.error is not None
    assert refused.error.code is ErrorCode.VM_FAILURE
    assert "/nonexistent/disk.qcow2" in refused.error.message


def test_a_domain_kvmcloud_did_not_define_is_left_alone(agent: Agent) -> None:
    import libvirt

    name = f"kvmcloud-test-foreign-{uuid.uuid4().hex[:8]}"
    connection = libvirt.open(agent.host.uri)
    foreign = connection.defineXML(
        f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>16</memory>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>"
    )
    try:
        assert name not in agent.host.states()
        clash = agent.run(StartVmCommand(spec=vm_spec(name, [])))
        assert clash.error is not None and "not defined by kvmcloud" in clash.error.message
        assert agent.ok(DestroyVmCommand(name=name)).state is VmPowerState.MISSING
        assert domain_state(name) == "stopped"
    finally:
        foreign.undefine()
        connection.close()


def virsh(*args: str) -> str:
    completed = subprocess.run(
        ["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=30, check=True
    )
    return completed.stdout


@pytest.fixture
def network_uuids(agent: Agent) -> Iterator[list[str]]:
    """Fresh guest network uuids; their libvirt networks are removed after the test."""
    uuids = [str(uuid.uuid4()) for _ in range(2)]
    try:
        yield uuids
    finally:
        # The domains first (the agent fixture's teardown runs after this one).
        for name in agent.names:
            with contextlib.suppress(Exception):
                agent.host.destroy_and_undefine(name)
        for network_uuid in uuids:
            agent.host.remove_network(network_name(network_uuid))


def test_a_vm_on_two_guest_networks_gets_two_isolated_libvirt_networks(
    agent: Agent, network_uuids: list[str]
) -> None:
    name = agent.new_name()
    volume = agent.volume(f"{name}-root.qcow2")
    macs = ["02:00:7e:00:00:01", "02:00:7e:00:00:02"]
    nics = [
        NicSpec(
            mac_address=macs[0],
            network_uuid=network_uuids[0],
            guest_type="Isolated",
            ip_address="10.9.9.2",
            netmask="255.255.255.0",
            gateway="10.9.9.1",
        ),
        NicSpec(mac_address=macs[1], network_uuid=network_uuids[1], guest_type="L2"),
    ]
    spec = dataclasses.replace(
        vm_spec(name, [DiskSpec(path=volume.path, format="qcow2")]), nics=nics
    )

    result = agent.start(spec)

    assert result.state is VmPowerState.RUNNING
    wait_for_marker(result.console_log)
    for network_uuid in network_uuids:
        info = virsh("net-info", network_name(network_uuid))
        assert re.search(r"^Active:\s+yes$", info, re.MULTILINE), info
        assert re.search(rf"^Bridge:\s+{bridge_name(network_uuid)}$", info, re.MULTILINE), info
        network = ET.fromstring(virsh("net-dumpxml", network_name(network_uuid)))
        assert network.findtext("uuid") == network_uuid
        assert network.find("forward") is None and network.find("ip") is None
        assert Path("/sys/class/net", bridge_name(network_uuid), "bridge").is_dir()
    # domiflist: Interface Type Source Model MAC, one row per NIC after two header lines.
    rows = [line.split() for line in virsh("domiflist", name).splitlines()[2:] if line.strip()]
    assert [(row[1], row[2], row[4]) for row in rows] == [
        ("network", network_name(network_uuids[0]), macs[0]),
        ("network", network_name(network_uuids[1]), macs[1]),
    ]
    # Each tap device is a port of its network's bridge.
    for row, network_uuid in zip(rows, network_uuids, strict=True):
        bridge_port = Path("/sys/class/net", row[0], "brport", "bridge").resolve()
        assert bridge_port.name == bridge_name(network_uuid)

    # A second VM on the first network reuses it; restarting the first changes nothing.
    other = agent.new_name()
    other_volume = agent.volume(f"{other}-root.qcow2")
    other_spec = dataclasses.replace(
        vm_spec(other, [DiskSpec(path=other_volume.path, format="qcow2")]),
        uuid=str(uuid.uuid4()),
        nics=[
            NicSpec(mac_address="02:00:7e:00:00:03", network_uuid=network_uuids[0], guest_type="L2")
        ],
    )
    assert agent.start(other_spec).state is VmPowerState.RUNNING
    assert agent.start(spec).state is VmPowerState.RUNNING
    assert virsh("net-list", "--all", "--name").split().count(network_name(network_uuids[0])) == 1

    # Destroying the VMs leaves the networks (they are removed only on request).
    agent.ok(DestroyVmCommand(name=name))
    agent.ok(DestroyVmCommand(name=other))
    assert network_name(network_uuids[0]) in virsh("net-list", "--name").split()
    assert agent.host.remove_network(network_name(network_uuids[0])) is True
    assert agent.host.remove_network(network_name(network_uuids[0])) is False
    assert network_name(network_uuids[0]) not in virsh("net-list", "--all", "--name").split()
    assert not Path("/sys/class/net", bridge_name(network_uuids[0])).exists()
