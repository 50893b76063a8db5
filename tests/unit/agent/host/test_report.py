import kvmcloud
from kvmcloud.agent.host.commands import CommandNotFoundError, CommandResult
from kvmcloud.agent.host.report import (
    HostReporter,
    is_kvm_usable,
    parse_cpu_mhz,
    parse_memory_bytes,
    parse_qemu_version,
)

CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R)
cpu MHz\t\t: 2399.998
cache size\t: 16384 KB

processor\t: 1
cpu MHz\t\t: 1200.000
"""
MEMINFO = "MemTotal:        8029412 kB\nMemFree:          123456 kB\n"


def test_parse_cpu_mhz():
    assert parse_cpu_mhz(CPUINFO) == 2400
    assert parse_cpu_mhz("processor : 0\n") == 0
    assert parse_cpu_mhz("cpu MHz : fast\n") == 0


def test_parse_memory_bytes():
    assert parse_memory_bytes(MEMINFO) == 8029412 * 1024
    assert parse_memory_bytes("MemFree: 1 kB\n") == 0


def test_parse_qemu_version():
    text = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)\nCopyright (c) 2003-2022"
    assert parse_qemu_version(text) == "7.2.22"
    assert parse_qemu_version("something else") == "unknown"


def test_report_from_files_and_commands(tmp_path):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    (tmp_path / "meminfo").write_text(MEMINFO)
    calls = []

    def fake_run(argv, *, timeout_s, input=None):
        calls.append(list(argv))
        return CommandResult(0, b"QEMU emulator version 8.0.0\n", b"")

    reporter = HostReporter(
        fake_run, proc_dir=tmp_path, kvm_device=tmp_path / "kvm", hostname=lambda: "kvm1"
    )
    report = reporter.report()
    reporter.report()

    assert report.hostname == "kvm1"
    assert report.agent_version == kvmcloud.__version__
    assert report.cpu_count >= 1
    assert report.cpu_mhz == 2400
    assert report.memory_bytes == 8029412 * 1024
    assert report.hypervisor_version == "8.0.0"
    assert report.kvm_available is False
    assert calls == [["qemu-system-x86_64", "--version"]]  # looked up once


def test_missing_qemu_and_proc_files_give_unknowns(tmp_path):
    def missing(argv, *, timeout_s, input=None):
        raise CommandNotFoundError("not installed", argv)

    report = HostReporter(missing, proc_dir=tmp_path, kvm_device=tmp_path / "kvm").report()

    assert report.hypervisor_version == "unknown"
    assert report.cpu_mhz == 0
    assert report.memory_bytes == 0


def test_kvm_is_usable_only_when_readable_and_writable(tmp_path):
    device = tmp_path / "kvm"
    assert not is_kvm_usable(device)
    device.write_bytes(b"")
    device.chmod(0o600)
    assert is_kvm_usable(device)
