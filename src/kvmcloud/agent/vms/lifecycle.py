"""VmLifecycle: the VM commands (start, stop, reboot, destroy, CD-ROM, networks, console log)."""

import logging
import os
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Protocol

from kvmcloud.agent.nfs_modes import USERSPACE_ACCESS, NfsAccess, NfsMode, nfs_file_path
from kvmcloud.agent.vms.domain import (
    NFS_SCHEME,
    Accelerator,
    console_log_path,
    domain_xml,
    nfs_disk_source,
    validate_image_path,
    validate_vm_name,
)
from kvmcloud.agent.vms.errors import InvalidVmCommandError, VmFailureError
from kvmcloud.agent.vms.guest_networks import guest_networks, network_name
from kvmcloud.agent.vms.rbd_secrets import rbd_secrets
from kvmcloud.protocol.agent_messages import (
    AttachIsoCommand,
    ConsoleLogResult,
    DestroyVmCommand,
    NetworkRemoved,
    ReadConsoleLogCommand,
    RebootVmCommand,
    RemoveNetworkCommand,
    StartVmCommand,
    StopVmCommand,
    VmPowerState,
    VmSpec,
    VmStateResult,
)

logger = logging.getLogger(__name__)

# The most of a console log one ReadConsoleLog returns (the server caps requests lower).
MAX_CONSOLE_LOG_BYTES = 1024 * 1024

# StopVm is answered inline: the server's request waits for the whole graceful period.
MAX_GRACEFUL_TIMEOUT_S = 300.0


class Hypervisor(Protocol):
    """What VM commands need from libvirt (``vms.libvirt.LibvirtHost`` in production)."""

    def start(self, name: str, xml: str) -> VmPowerState:
        """Define the domain from ``xml`` and start it unless it runs."""
        ...

    def stop(self, name: str, *, forced: bool, graceful_timeout_s: float) -> VmPowerState:
        """Shut the domain down, powering it off after the timeout (or at once)."""
        ...

    def reset(self, name: str) -> VmPowerState:
        """Reset a running domain."""
        ...

    def destroy_and_undefine(self, name: str) -> bool:
        """Power off and forget the domain; tell whether there was one."""
        ...

    def set_cdrom(self, name: str, iso_path: str | None) -> VmPowerState:
        """Insert an ISO into the domain's CD-ROM drive, or eject it."""
        ...

    def states(self) -> dict[str, VmPowerState]:
        """Return the state of every kvmcloud domain by name."""
        ...

    def ensure_network(self, name: str, xml: str) -> None:
        """Define network ``name`` from ``xml`` unless it exists, and make it active."""
        ...

    def remove_network(self, name: str) -> bool:
        """Stop and undefine network ``name``; tell whether there was one."""
        ...

    def ensure_secret(self, secret_uuid: str, xml: str, value: bytes) -> None:
        """Define a libvirt secret from ``xml`` (idempotent) and set its value."""
        ...


class VmLifecycle:
    """Turns VM commands into domain XML and hypervisor calls, and answers VmStateResult.

    The accelerator is chosen at every start: KVM when ``/dev/kvm`` is usable now, TCG
    otherwise, so a host whose KVM comes or goes needs no agent restart.
    """

    def __init__(
        self,
        *,
        hypervisor: Hypervisor,
        console_dir: Path,
        kvm_usable: Callable[[], bool],
        nfs: NfsAccess = USERSPACE_ACCESS,
        mounts_file: Path = Path("/proc/self/mounts"),
    ) -> None:
        self._hypervisor = hypervisor
        self._console_dir = console_dir
        self._kvm_usable = kvm_usable
        self._nfs = nfs
        self._mounts_file = mounts_file

    def start(self, command: StartVmCommand) -> VmStateResult:
        """Define the VM's domain from its spec and start it (a running one is kept).

        Raises:
            InvalidVmCommandError: the spec cannot become a domain.
            VmFailureError: the console directory cannot be created, or libvirt refused.
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        spec = self._with_mounted_disks(command.spec)
        accelerator = Accelerator.KVM if self._kvm_usable() else Accelerator.TCG
        console_log = console_log_path(self._console_dir, spec.name)
        xml = domain_xml(spec, accelerator=accelerator, console_log=console_log)
        networks = guest_networks(spec.nics)
        self._ensure_console_dir()
        # Before the domain: libvirt refuses to start one whose network is not active.
        for network in networks:
            self._hypervisor.ensure_network(network.name, network.xml)
        # Before the domain too: QEMU reads an RBD disk's key from its libvirt secret.
        for secret in rbd_secrets(spec.disks):
            self._hypervisor.ensure_secret(secret.uuid, secret.xml, secret.value)
        state = self._hypervisor.start(spec.name, xml)
        logger.info("VM %s is %s on %s", spec.name, state, accelerator)
        return VmStateResult(
            name=spec.name,
            state=state,
            accelerator=accelerator.value,
            console_log=str(console_log),
        )

    def stop(self, command: StopVmCommand) -> VmStateResult:
        """Shut the VM down (or power it off when forced); a stopped VM stays stopped.

        Raises:
            InvalidVmCommandError: bad name or timeout.
            VmNotFoundError: no such kvmcloud domain.
            VmFailureError: libvirt refused.
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        name = validate_vm_name(command.name)
        timeout_s = command.graceful_timeout_s
        if not 0 <= timeout_s <= MAX_GRACEFUL_TIMEOUT_S:
            raise InvalidVmCommandError(
                f"graceful_timeout_s must be between 0 and {MAX_GRACEFUL_TIMEOUT_S:g}, "
                f"not {timeout_s:g}"
            )
        state = self._hypervisor.stop(name, forced=command.forced, graceful_timeout_s=timeout_s)
        return self._result(name, state)

    def reboot(self, command: RebootVmCommand) -> VmStateResult:
        """Reset the running VM.

        Raises:
            InvalidVmCommandError: bad name.
            VmNotFoundError: no such kvmcloud domain.
            VmFailureError: libvirt refused, e.g. the VM is not running.
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        name = validate_vm_name(command.name)
        return self._result(name, self._hypervisor.reset(name))

    def destroy(self, command: DestroyVmCommand) -> VmStateResult:
        """Power the VM off and undefine its domain; a missing VM is already destroyed.

        The console log and the volumes stay: the server deletes volumes itself, and the
        log is the operator's record of what the VM did.

        Raises:
            InvalidVmCommandError: bad name.
            VmFailureError: libvirt refused.
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        name = validate_vm_name(command.name)
        self._hypervisor.destroy_and_undefine(name)
        return self._result(name, VmPowerState.MISSING)

    def attach_iso(self, command: AttachIsoCommand) -> VmStateResult:
        """Insert the ISO into the VM's CD-ROM drive, or eject it when ``iso_path`` is None.

        Raises:
            InvalidVmCommandError: bad name or path.
            VmNotFoundError: no such kvmcloud domain.
            VmFailureError: the ISO is not on this host, or libvirt refused.
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        name = validate_vm_name(command.name)
        iso_path = command.iso_path
        if iso_path is not None:
            validate_image_path(iso_path, what="ISO path")
            # A stopped VM would accept a missing file and fail only at its next start.
            if not Path(iso_path).is_file():
                raise VmFailureError(f"ISO {iso_path} is not a file on this host")
        return self._result(name, self._hypervisor.set_cdrom(name, iso_path))

    def remove_network(self, command: RemoveNetworkCommand) -> NetworkRemoved:
        """Stop and undefine the libvirt network of a deleted guest network; missing is fine.

        The server asks only once no VM it knows of has a NIC on the network.

        Raises:
            InvalidVmCommandError: the network uuid is not a UUID.
            VmFailureError: libvirt refused.
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        name = network_name(command.network_uuid)
        return NetworkRemoved(existed=self._hypervisor.remove_network(name))

    def console_log(self, command: ReadConsoleLogCommand) -> ConsoleLogResult:
        """Return the tail of the VM's serial console log; none written yet reads as empty.

        Only ``console_log_path(console_dir, name)`` is read, never a path from the server,
        and not through a symbolic link.

        Raises:
            InvalidVmCommandError: bad name or byte count.
            VmFailureError: the log is not a regular file or cannot be read.
        """
        name = validate_vm_name(command.name)
        if not 1 <= command.max_bytes <= MAX_CONSOLE_LOG_BYTES:
            raise InvalidVmCommandError(
                f"max_bytes must be between 1 and {MAX_CONSOLE_LOG_BYTES}, not {command.max_bytes}"
            )
        path = console_log_path(self._console_dir, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return ConsoleLogResult(name=name, log="", size_bytes=0, truncated=False)
        except OSError as exc:
            raise VmFailureError(f"cannot read the console log {path}: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise VmFailureError(f"console log {path} is not a regular file")
            first = max(0, info.st_size - command.max_bytes)
            file.seek(first)
            data = file.read(command.max_bytes)
        return ConsoleLogResult(
            name=name,
            log=data.decode("utf-8", errors="replace"),
            size_bytes=info.st_size,
            truncated=first > 0,
        )

    def _result(self, name: str, state: VmPowerState) -> VmStateResult:
        return VmStateResult(
            name=name, state=state, console_log=str(console_log_path(self._console_dir, name))
        )

    def _with_mounted_disks(self, spec: VmSpec) -> VmSpec:
        """In NFS mount mode, give ``nfs://`` disks as files under their pool's mount point.

        The server names NetworkFilesystem volumes by URL whatever the host's mode; a
        host that mounts the export opens the file through the mount instead of QEMU's
        libnfs driver (the export was mounted when the volume was made or checked).

        Raises:
            InvalidVmCommandError: a disk's export is not mounted under the mount base.
        """
        if self._nfs.mode != NfsMode.MOUNT:
            return spec
        if not any(d.path.startswith(f"{NFS_SCHEME}://") for d in spec.disks):
            return spec
        mounts = self._mounts_file.read_text(encoding="utf-8")
        disks = []
        for index, disk in enumerate(spec.disks):
            if disk.path.startswith(f"{NFS_SCHEME}://"):
                server, path = nfs_disk_source(disk.path, what=f"disks[{index}]")
                where = PurePosixPath(path)
                local = nfs_file_path(
                    mounts, self._nfs.mount_base, server, str(where.parent), where.name
                )
                if local is None:
                    raise InvalidVmCommandError(
                        f"disks[{index}]: {server}:{where.parent} is not mounted under "
                        f"{self._nfs.mount_base} on this host (NFS mount mode)"
                    )
                disk = replace(disk, path=str(local))
            disks.append(disk)
        return replace(spec, disks=disks)

    def _ensure_console_dir(self) -> None:
        try:
            self._console_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
        except OSError as exc:
            raise VmFailureError(
                f"cannot create the console log directory {self._console_dir}: {exc.strerror}"
            ) from exc
