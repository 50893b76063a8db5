"""HostReporter: what this host tells the server about itself; the parsers are pure."""

import logging
import os
import re
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import kvmcloud
from kvmcloud.agent.host import commands
from kvmcloud.agent.host.commands import RunCommand
from kvmcloud.protocol.agent_messages import HostReport

logger = logging.getLogger(__name__)

UNKNOWN_VERSION = "unknown"
KVM_DEVICE = Path("/dev/kvm")
_QEMU_VERSION = re.compile(r"version\s+([0-9][^\s(,]*)")


def is_kvm_usable(kvm_device: Path = KVM_DEVICE) -> bool:
    """Tell whether this process may open ``/dev/kvm`` for reading and writing.

    On kvmcloud hosts the agent and QEMU (as libvirt is configured) both run as root, so
    the agent's access stands for QEMU's.
    """
    return os.access(kvm_device, os.R_OK | os.W_OK)


def parse_cpu_mhz(cpuinfo: str) -> int:
    """Return the first ``cpu MHz`` in /proc/cpuinfo, rounded; 0 when it is absent."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "cpu mhz":
            try:
                return round(float(value.strip()))
            except ValueError:
                return 0
    return 0


def parse_memory_bytes(meminfo: str) -> int:
    """Return ``MemTotal`` from /proc/meminfo in bytes; 0 when it is absent."""
    for line in meminfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "MemTotal":
            fields = value.split()
            if fields and fields[0].isdigit():
                unit = fields[1].lower() if len(fields) > 1 else ""
                return int(fields[0]) * (1024 if unit == "kb" else 1)
    return 0


def parse_qemu_version(output: str) -> str:
    """Return "7.2.22" from ``QEMU emulator version 7.2.22 (Debian …)``, else "unknown"."""
    match = _QEMU_VERSION.search(output)
    return match.group(1) if match else UNKNOWN_VERSION


class HostReporter:
    """Builds :class:`HostReport` from /proc, /dev/kvm and the QEMU binary.

    The QEMU version is looked up once: it only changes with a package upgrade, which
    restarts the agent anyway, and a heartbeat should not start a process every time.
    """

    def __init__(
        self,
        run: RunCommand | None = None,
        *,
        proc_dir: Path = Path("/proc"),
        kvm_device: Path = KVM_DEVICE,
        qemu_program: str = "qemu-system-x86_64",
        hostname: Callable[[], str] = socket.gethostname,
    ) -> None:
        self._run: RunCommand = run if run is not None else commands.run
        self._proc_dir = proc_dir
        self._kvm_device = kvm_device
        self._qemu_program = qemu_program
        self._hostname = hostname
        self._hypervisor_version: str | None = None
        self._version_lock = threading.Lock()

    def report(self) -> HostReport:
        """Describe the host as it is now."""
        return HostReport(
            hostname=self._hostname(),
            agent_version=kvmcloud.__version__,
            cpu_count=os.cpu_count() or 1,
            cpu_mhz=parse_cpu_mhz(self._read_proc("cpuinfo")),
            memory_bytes=parse_memory_bytes(self._read_proc("meminfo")),
            hypervisor_version=self.hypervisor_version(),
            kvm_available=is_kvm_usable(self._kvm_device),
        )

    def hypervisor_version(self) -> str:
        """Return QEMU's version, or "unknown" when it is not installed or says nothing."""
        # Enrolment and the heartbeat thread may ask at the same moment: look it up once.
        with self._version_lock:
            if self._hypervisor_version is None:
                self._hypervisor_version = self._look_up_hypervisor_version()
            return self._hypervisor_version

    def _look_up_hypervisor_version(self) -> str:
        try:
            result = self._run([self._qemu_program, "--version"], timeout_s=10.0)
        except commands.CommandError as exc:
            logger.info("hypervisor version unknown: %s", exc)
            return UNKNOWN_VERSION
        return parse_qemu_version(result.stdout.decode("utf-8", "replace"))

    def _read_proc(self, name: str) -> str:
        try:
            return (self._proc_dir / name).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            logger.warning("cannot read %s: %s", self._proc_dir / name, exc)
            return ""
