"""VM commands through CommandHandlers, on a FakeHypervisor: results and wire codes."""

import dataclasses
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kvmcloud.agent.certificates import CertificateStore
from kvmcloud.agent.handlers import CommandHandlers, Execution
from kvmcloud.agent.vms.errors import HypervisorUnavailableError
from kvmcloud.agent.vms.lifecycle import VmLifecycle
from kvmcloud.protocol.agent_messages import (
    Answer,
    AttachIsoCommand,
    Command,
    ConsoleLogResult,
    DestroyVmCommand,
    DiskSpec,
    NetworkRemoved,
    NicSpec,
    ReadConsoleLogCommand,
    RebootVmCommand,
    RemoveNetworkCommand,
    StartVmCommand,
    StopVmCommand,
    VmPowerState,
    VmSpec,
    VmStateResult,
)
from kvmcloud.protocol.error_codes import ErrorCode
from tests.unit.agent.fakes import FakeDownloader, FakeHypervisor, FakeVolumeImages

UUID = "6f1c3a52-9d0e-4c55-8a9b-0a1b2c3d4e5f"
SPEC = VmSpec(
    name="i-2-10-VM",
    uuid=UUID,
    vcpus=1,
    memory_mib=256,
    disks=[DiskSpec(path="/pool/root-10.qcow2", format="qcow2")],
    mac_address="02:00:00:00:00:0a",
)


class Agent:
    def __init__(self, tmp_path: Path, *, kvm: bool = True) -> None:
        self.hypervisor = FakeHypervisor()
        self.console_dir = tmp_path / "consoles"
        self.handlers = CommandHandlers(
            downloaders={"http": FakeDownloader()},
            qemu_img=FakeVolumeImages(),
            vms=VmLifecycle(
                hypervisor=self.hypervisor, console_dir=self.console_dir, kvm_usable=lambda: kvm
            ),
            certificates=CertificateStore(tmp_path / "certs"),
        )

    def run(self, command: Command) -> Answer:
        execution = Execution(command_id="c1", cancel=threading.Event(), progress=lambda d, t: None)
        return self.handlers.execute(command, execution)

    def result(self, command: Command) -> VmStateResult:
        answer = self.run(command)
        assert answer.ok, answer.error
        assert isinstance(answer.result, VmStateResult)
        return answer.result


def error_code(answer: Answer) -> ErrorCode:
    assert not answer.ok
    assert answer.error is not None
    return answer.error.code


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    return Agent(tmp_path)


def test_start_defines_the_domain_and_reports_kvm_and_the_console_log(agent: Agent) -> None:
    result = agent.result(StartVmCommand(spec=SPEC))

    log = agent.console_dir / "i-2-10-VM.log"
    assert result == VmStateResult(
        name="i-2-10-VM", state=VmPowerState.RUNNING, accelerator="kvm", console_log=str(log)
    )
    assert agent.console_dir.is_dir()
    root = ET.fromstring(agent.hypervisor.domains["i-2-10-VM"].xml)
    assert root.get("type") == "kvm"
    assert root.findtext("uuid") == UUID
    serial_source = root.find("./devices/serial/source")
    assert serial_source is not None
    assert serial_source.get("path") == str(log)


NET_A = "3f2a9c4e-1b7d-4e8f-9a0b-1c2d3e4f5a6b"
NET_B = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"


def test_start_sets_up_each_guest_network_before_the_domain(agent: Agent) -> None:
    nics = [
        NicSpec(mac_address="02:00:00:00:00:0b", network_uuid=NET_A, guest_type="Isolated"),
        NicSpec(mac_address="02:00:00:00:00:0c", network_uuid=NET_B, guest_type="L2"),
    ]
    spec = dataclasses.replace(SPEC, nics=nics)

    agent.result(StartVmCommand(spec=spec))
    agent.result(StartVmCommand(spec=spec))

    names = [f"kvmcloud-{NET_A}", f"kvmcloud-{NET_B}"]
    assert agent.hypervisor.calls[:3] == [
        ("ensure_network", names[0]),
        ("ensure_network", names[1]),
        ("start", "i-2-10-VM"),
    ]
    assert sorted(agent.hypervisor.networks) == sorted(names)
    assert ET.fromstring(agent.hypervisor.networks[names[1]]).findtext("uuid") == NET_B
    sources = ET.fromstring(agent.hypervisor.domains["i-2-10-VM"].xml).findall(
        "./devices/interface/source"
    )
    assert [s.get("network") for s in sources] == names


def test_remove_network_undefines_the_guest_networks_libvirt_network(agent: Agent) -> None:
    nic = NicSpec(mac_address="02:00:00:00:00:0b", network_uuid=NET_A, guest_type="L2")
    agent.result(StartVmCommand(spec=dataclasses.replace(SPEC, nics=[nic])))

    first = agent.run(RemoveNetworkCommand(network_uuid=NET_A.upper()))
    again = agent.run(RemoveNetworkCommand(network_uuid=NET_A))

    assert (first.result, again.result) == (
        NetworkRemoved(existed=True),
        NetworkRemoved(existed=False),
    )
    assert agent.hypervisor.networks == {}
    assert error_code(agent.run(RemoveNetworkCommand(network_uuid="../x"))) is ErrorCode.BAD_COMMAND


def test_start_without_nics_sets_up_no_network(agent: Agent) -> None:
    agent.result(StartVmCommand(spec=SPEC))

    assert agent.hypervisor.networks == {}
    assert [c[0] for c in agent.hypervisor.calls] == ["start"]
    interface = ET.fromstring(agent.hypervisor.domains["i-2-10-VM"].xml).find("./devices/interface")
    assert interface is not None and interface.get("type") == "user"


def test_start_without_usable_kvm_runs_on_tcg(tmp_path: Path) -> None:
    agent = Agent(tmp_path, kvm=False)

    result = agent.result(StartVmCommand(spec=SPEC))

    assert result.accelerator == "tcg"
    assert ET.fromstring(agent.hypervisor.domains["i-2-10-VM"].xml).get("type") == "qemu"


def test_start_with_an_invalid_spec_is_a_bad_command(agent: Agent) -> None:
    answer = agent.run(StartVmCommand(spec=VmSpec(name="../x", uuid=UUID, vcpus=1, memory_mib=1)))

    assert error_code(answer) is ErrorCode.BAD_COMMAND
    assert agent.hypervisor.calls == []


def test_start_fails_with_vm_failure_when_the_console_dir_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "consoles").write_text("a file where the directory should be")
    agent = Agent(tmp_path)

    answer = agent.run(StartVmCommand(spec=SPEC))

    assert error_code(answer) is ErrorCode.VM_FAILURE
    assert answer.error is not None and "console log directory" in answer.error.message


def test_stop_passes_forced_and_timeout(agent: Agent) -> None:
    agent.run(StartVmCommand(spec=SPEC))

    result = agent.result(StopVmCommand(name="i-2-10-VM", forced=False, graceful_timeout_s=5))

    assert result.state is VmPowerState.STOPPED
    assert result.console_log == str(agent.console_dir / "i-2-10-VM.log")
    assert ("stop", "i-2-10-VM", False, 5) in agent.hypervisor.calls


@pytest.mark.parametrize("timeout_s", [-1.0, 301.0, float("nan")])
def test_stop_refuses_unbounded_timeouts(agent: Agent, timeout_s: float) -> None:
    answer = agent.run(StopVmCommand(name="i-2-10-VM", graceful_timeout_s=timeout_s))

    assert error_code(answer) is ErrorCode.BAD_COMMAND


def test_unknown_vm_is_vm_not_found(agent: Agent) -> None:
    assert error_code(agent.run(StopVmCommand(name="i-9-VM"))) is ErrorCode.VM_NOT_FOUND
    assert error_code(agent.run(RebootVmCommand(name="i-9-VM"))) is ErrorCode.VM_NOT_FOUND


def test_reboot_of_a_stopped_vm_is_a_vm_failure(agent: Agent) -> None:
    agent.run(StartVmCommand(spec=SPEC))
    agent.run(StopVmCommand(name="i-2-10-VM", forced=True))

    assert error_code(agent.run(RebootVmCommand(name="i-2-10-VM"))) is ErrorCode.VM_FAILURE


def test_destroy_is_idempotent(agent: Agent) -> None:
    agent.run(StartVmCommand(spec=SPEC))

    first = agent.result(DestroyVmCommand(name="i-2-10-VM"))
    second = agent.result(DestroyVmCommand(name="i-2-10-VM"))

    assert first.state is second.state is VmPowerState.MISSING
    assert agent.hypervisor.domains == {}


def test_attach_and_eject_iso(agent: Agent, tmp_path: Path) -> None:
    iso = tmp_path / "t-1.iso"
    iso.write_bytes(b"\0" * 2048)
    agent.run(StartVmCommand(spec=SPEC))

    agent.result(AttachIsoCommand(name="i-2-10-VM", iso_path=str(iso)))
    assert agent.hypervisor.domains["i-2-10-VM"].cdrom == str(iso)
    agent.result(AttachIsoCommand(name="i-2-10-VM", iso_path=None))
    assert agent.hypervisor.domains["i-2-10-VM"].cdrom is None


def test_attach_missing_iso_is_a_vm_failure(agent: Agent, tmp_path: Path) -> None:
    agent.run(StartVmCommand(spec=SPEC))

    answer = agent.run(AttachIsoCommand(name="i-2-10-VM", iso_path=str(tmp_path / "gone.iso")))

    assert error_code(answer) is ErrorCode.VM_FAILURE
    assert answer.error is not None and "gone.iso" in answer.error.message


def test_attach_relative_iso_path_is_a_bad_command(agent: Agent) -> None:
    answer = agent.run(AttachIsoCommand(name="i-2-10-VM", iso_path="t-1.iso"))

    assert error_code(answer) is ErrorCode.BAD_COMMAND


def test_libvirt_unavailable_is_hypervisor_unavailable(agent: Agent) -> None:
    agent.hypervisor.error = HypervisorUnavailableError("cannot connect to libvirt at qemu:///x")

    answer = agent.run(StartVmCommand(spec=SPEC))

    assert error_code(answer) is ErrorCode.HYPERVISOR_UNAVAILABLE
    assert answer.error is not None and "qemu:///x" in answer.error.message


def test_console_log_tail_is_read_from_the_console_dir_only(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    assert agent.run(ReadConsoleLogCommand(name="i-2-10-VM", max_bytes=10)).result == (
        ConsoleLogResult(name="i-2-10-VM", log="", size_bytes=0, truncated=False)
    )
    agent.console_dir.mkdir()
    (agent.console_dir / "i-2-10-VM.log").write_bytes(b"boot \xff done\n")
    full = agent.run(ReadConsoleLogCommand(name="i-2-10-VM", max_bytes=1024)).result
    assert full == ConsoleLogResult(
        name="i-2-10-VM", log="boot \ufffd done\n", size_bytes=12, truncated=False
    )
    tail = agent.run(ReadConsoleLogCommand(name="i-2-10-VM", max_bytes=5)).result
    assert isinstance(tail, ConsoleLogResult) and (tail.log, tail.truncated) == ("done\n", True)
    for bad_name in ("../secret", "/etc/passwd"):
        answer = agent.run(ReadConsoleLogCommand(name=bad_name, max_bytes=5))
        assert answer.error is not None and answer.error.code == ErrorCode.BAD_COMMAND
    answer = agent.run(ReadConsoleLogCommand(name="i-2-10-VM", max_bytes=0))
    assert answer.error is not None and answer.error.code == ErrorCode.BAD_COMMAND


def test_console_log_refuses_a_symbolic_link(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    agent.console_dir.mkdir()
    (tmp_path / "secret").write_text("key")
    (agent.console_dir / "i-2-10-VM.log").symlink_to(tmp_path / "secret")
    answer = agent.run(ReadConsoleLogCommand(name="i-2-10-VM", max_bytes=5))
    assert answer.error is not None and answer.error.code == ErrorCode.VM_FAILURE


def _nfs_agent(tmp_path: Path, mounts: str) -> tuple[FakeHypervisor, CommandHandlers]:
    from kvmcloud.agent.nfs_modes import NfsAccess, NfsMode

    hypervisor = FakeHypervisor()
    mounts_file = tmp_path / "mounts"
    mounts_file.write_text(mounts, encoding="utf-8")
    handlers = CommandHandlers(
        downloaders={"http": FakeDownloader()},
        qemu_img=FakeVolumeImages(),
        vms=VmLifecycle(
            hypervisor=hypervisor,
            console_dir=tmp_path / "consoles",
            kvm_usable=lambda: True,
            nfs=NfsAccess(mode=NfsMode.MOUNT, reason="test", mount_base=Path("/mnt")),
            mounts_file=mounts_file,
        ),
        certificates=CertificateStore(tmp_path / "certs"),
    )
    return hypervisor, handlers


NFS_SPEC = dataclasses.replace(
    SPEC, disks=[DiskSpec(path="nfs://10.0.0.5/export/primary/ROOT-10.qcow2", format="qcow2")]
)


def test_in_mount_mode_an_nfs_disk_is_the_file_under_its_mount_point(tmp_path: Path) -> None:
    hypervisor, handlers = _nfs_agent(tmp_path, "10.0.0.5:/export/primary /mnt/p1 nfs4 rw 0 0\n")
    execution = Execution(command_id="c1", cancel=threading.Event(), progress=lambda d, t: None)

    answer = handlers.execute(StartVmCommand(spec=NFS_SPEC), execution)

    assert answer.ok, answer.error
    disk = ET.fromstring(hypervisor.domains["i-2-10-VM"].xml).find("./devices/disk")
    assert disk is not None
    assert disk.get("type") == "file"
    source = disk.find("source")
    assert source is not None
    assert source.get("file") == "/mnt/p1/ROOT-10.qcow2"


def test_in_mount_mode_an_unmounted_export_is_a_bad_command(tmp_path: Path) -> None:
    _hypervisor, handlers = _nfs_agent(tmp_path, "")
    execution = Execution(command_id="c1", cancel=threading.Event(), progress=lambda d, t: None)

    answer = handlers.execute(StartVmCommand(spec=NFS_SPEC), execution)

    assert not answer.ok
    assert answer.error is not None
    assert "10.0.0.5:/export/primary is not mounted under /mnt" in answer.error.message
