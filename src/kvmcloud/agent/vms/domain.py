"""domain_xml(spec): a VmSpec as libvirt domain XML, and the CD-ROM device XML; pure.

Every name and path in a VmSpec comes from the network. The XML is built with ElementTree,
so markup in a path is escaped rather than interpreted, and values are checked first: the
domain name becomes a file name (its console log), paths must be absolute and printable.
"""

import re
import uuid
import xml.etree.ElementTree as ET
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from kvmcloud.agent.rbd.cli import RbdAccess, parse_monitors
from kvmcloud.agent.rbd.libvirt_xml import rbd_disk_element, secret_uuid_for
from kvmcloud.agent.vms.errors import InvalidVmCommandError
from kvmcloud.agent.vms.guest_networks import network_name
from kvmcloud.protocol.agent_messages import DiskSpec, NicSpec, PoolType, VmSpec

# Marks the domains kvmcloud defined, so the agent reports and touches only those.
METADATA_NAMESPACE = "https://kvmcloud.invalid/xmlns/instance/1"
METADATA_PREFIX = "kvmcloud"
METADATA_ELEMENT = "instance"

MACHINE = "pc"  # i440fx: IDE for CD-ROMs, no q35 PCIe plumbing for a boot-sector guest
ARCH = "x86_64"
MAX_VCPUS = 256
MAX_MEMORY_MIB = 4 * 1024 * 1024
MAX_DISKS = 16
MAX_NICS = 16
BOOT_DEVICES = ("hd", "cdrom")
# IDE order: the secondary master first, where guests (and CloudStack) expect the CD-ROM.
CDROM_TARGETS = ("hdc", "hdd", "hda", "hdb")
DISK_FORMATS = {"qcow2": "qcow2", "raw": "raw", "iso": "raw"}
DEVICE_DISK = "disk"
DEVICE_CDROM = "cdrom"

_NAME = re.compile(r"[A-Za-z0-9._-]+")
_MAX_NAME_CHARS = 200
_MAC = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class Accelerator(StrEnum):
    """How QEMU runs the guest: hardware virtualisation or plain emulation."""

    KVM = "kvm"
    TCG = "tcg"

    @property
    def domain_type(self) -> str:
        """The ``<domain type=…>`` libvirt uses for this accelerator."""
        return "kvm" if self is Accelerator.KVM else "qemu"


def validate_vm_name(name: str) -> str:
    """Return ``name`` if it can be a domain name and a log file name, else raise.

    Raises:
        InvalidVmCommandError: empty, too long, a leading dot, ``..``, or other characters
            than letters, digits, ``.``, ``_`` and ``-``.
    """
    if (
        not _NAME.fullmatch(name)
        or name.startswith(".")
        or ".." in name
        or len(name) > _MAX_NAME_CHARS
    ):
        raise InvalidVmCommandError(
            f"VM name {name!r} is not allowed: use 1-{_MAX_NAME_CHARS} characters from "
            "A-Z a-z 0-9 . _ -, not starting with '.' and without '..'"
        )
    return name


NFS_SCHEME = "nfs"
NFS_IDENTITY = "root"
# A DNS name or an IPv4 address, as createStoragePool accepts for NFS servers.
_NFS_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def validate_image_path(path: str, *, what: str) -> str:
    """Return ``path`` if it is absolute and printable, else raise InvalidVmCommandError."""
    if not path.startswith("/") or _CONTROL_CHARACTERS.search(path):
        raise InvalidVmCommandError(
            f"{what} {path!r} must be an absolute path without control characters"
        )
    return path


def console_log_path(console_dir: Path, name: str) -> Path:
    """Return where the serial console of domain ``name`` is written."""
    return console_dir / f"{validate_vm_name(name)}.log"


def domain_xml(spec: VmSpec, *, accelerator: Accelerator, console_log: Path) -> str:
    """Return the persistent domain definition for ``spec``.

    Disks become virtio ``vda``, ``vdb``…; CD-ROMs become read-only IDE drives from ``hdc``
    on, an empty path meaning an empty drive. A VM without a CD-ROM still gets an empty one,
    because an IDE drive cannot be added to a running guest and attachIso needs one.

    Raises:
        InvalidVmCommandError: a value in ``spec`` is out of range or malformed.
    """
    name = validate_vm_name(spec.name)
    vm_uuid = _canonical_uuid(spec.uuid)
    _check_range("vcpus", spec.vcpus, 1, MAX_VCPUS)
    _check_range("memory_mib", spec.memory_mib, 1, MAX_MEMORY_MIB)
    boot_devices = _checked_boot_devices(spec.boot_devices)
    if not console_log.is_absolute():
        raise InvalidVmCommandError(f"console log {str(console_log)!r} must be an absolute path")

    domain = ET.Element("domain", type=accelerator.domain_type)
    ET.SubElement(domain, "name").text = name
    ET.SubElement(domain, "uuid").text = vm_uuid
    metadata = ET.SubElement(domain, "metadata")
    # A literal prefixed tag: ET.register_namespace would change a process-wide table.
    ET.SubElement(
        metadata,
        f"{METADATA_PREFIX}:{METADATA_ELEMENT}",
        {f"xmlns:{METADATA_PREFIX}": METADATA_NAMESPACE},
    )
    ET.SubElement(domain, "memory", unit="MiB").text = str(spec.memory_mib)
    ET.SubElement(domain, "vcpu", placement="static").text = str(spec.vcpus)
    os_element = ET.SubElement(domain, "os")
    ET.SubElement(os_element, "type", arch=ARCH, machine=MACHINE).text = "hvm"
    for device in boot_devices:
        ET.SubElement(os_element, "boot", dev=device)
    features = ET.SubElement(domain, "features")
    # ACPI is what makes a graceful shutdown (a power-button press) reach the guest.
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    ET.SubElement(domain, "clock", offset="utc")
    ET.SubElement(domain, "on_poweroff").text = "destroy"
    ET.SubElement(domain, "on_reboot").text = "restart"
    ET.SubElement(domain, "on_crash").text = "destroy"

    devices = ET.SubElement(domain, "devices")
    for disk in _disk_elements(spec.disks):
        devices.append(disk)
    for interface in _interface_elements(spec):
        devices.append(interface)
    log_path = str(console_log)
    # append: a restart must not wipe the log of the boot an operator is investigating.
    serial = ET.SubElement(devices, "serial", type="file")
    ET.SubElement(serial, "source", path=log_path, append="on")
    ET.SubElement(serial, "target", port="0")
    console = ET.SubElement(devices, "console", type="file")
    ET.SubElement(console, "source", path=log_path, append="on")
    ET.SubElement(console, "target", type="serial", port="0")
    return ET.tostring(domain, encoding="unicode")


def cdrom_xml(iso_path: str | None, *, target: str) -> str:
    """Return the ``<disk device='cdrom'>`` XML for drive ``target``, empty when no ISO.

    Raises:
        InvalidVmCommandError: ``iso_path`` is not an absolute printable path.
    """
    return ET.tostring(_cdrom_element(iso_path, target), encoding="unicode")


def find_cdrom_target(xml: str) -> str | None:
    """Return the target (``hdc``…) of the first CD-ROM drive in a domain's XML, or None."""
    root = ET.fromstring(xml)  # noqa: S314 - libvirt's own output, not network input
    for disk in root.iterfind("./devices/disk[@device='cdrom']"):
        target = disk.find("target")
        if target is not None and target.get("dev"):
            return target.get("dev")
    return None


def _disk_elements(disks: list[DiskSpec]) -> list[ET.Element]:
    if len(disks) > MAX_DISKS:
        raise InvalidVmCommandError(f"a VM has at most {MAX_DISKS} disks, not {len(disks)}")
    elements: list[ET.Element] = []
    disk_count = cdrom_count = 0
    for index, disk in enumerate(disks):
        if disk.device == DEVICE_DISK:
            elements.append(_disk_element(disk, index, f"vd{chr(ord('a') + disk_count)}"))
            disk_count += 1
        elif disk.device == DEVICE_CDROM:
            if cdrom_count == len(CDROM_TARGETS):
                raise InvalidVmCommandError(f"a VM has at most {len(CDROM_TARGETS)} CD-ROM drives")
            if _driver_type(disk, index) != "raw":
                raise InvalidVmCommandError(f"disks[{index}]: a CD-ROM image must be raw or iso")
            elements.append(_cdrom_element(disk.path or None, CDROM_TARGETS[cdrom_count]))
            cdrom_count += 1
        else:
            raise InvalidVmCommandError(
                f"disks[{index}].device must be {DEVICE_DISK!r} or {DEVICE_CDROM!r}, "
                f"not {disk.device!r}"
            )
    if cdrom_count == 0:
        elements.append(_cdrom_element(None, CDROM_TARGETS[0]))
    return elements


def nfs_disk_source(url: str, *, what: str) -> tuple[str, str]:
    """Split a disk's ``nfs://server/export/file`` URL into server and absolute path.

    NetworkFilesystem pools in user-space mode give their volumes as such URLs; the domain
    then reads them through QEMU's libnfs driver (no mount on the host).

    Raises:
        InvalidVmCommandError: not a plain nfs URL (port, user, query or odd characters).
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    host = parts.hostname or ""
    if (
        parts.scheme != NFS_SCHEME
        # urlsplit drops tabs and newlines silently: look at the URL as given.
        or _CONTROL_CHARACTERS.search(url)
        or not _NFS_HOST.fullmatch(host)
        or port is not None
        or parts.username is not None
        or parts.query
        or parts.fragment
        or "?" in url
        or "#" in url
    ):
        raise InvalidVmCommandError(f"{what} {url!r} must be nfs://<server>/<path>")
    return host, validate_image_path(parts.path, what=what)


def _disk_element(disk: DiskSpec, index: int, target: str) -> ET.Element:
    what = f"disks[{index}]"
    driver_type = _driver_type(disk, index)
    if disk.pool is not None and disk.pool.type == PoolType.RBD:
        return _rbd_disk_element(disk, what, target)
    if disk.path.startswith(f"{NFS_SCHEME}://"):
        server, path = nfs_disk_source(disk.path, what=what)
        element = ET.Element("disk", type="network", device=DEVICE_DISK)
        ET.SubElement(element, "driver", name="qemu", type=driver_type, cache="none")
        source = ET.SubElement(element, "source", protocol=NFS_SCHEME, name=path)
        ET.SubElement(source, "host", name=server)
        # libvirt's schema requires <identity> for NFS: the uid/gid QEMU's libnfs sends.
        # root, as the agent (root) wrote the overlay and CloudStack needs no_root_squash.
        ET.SubElement(source, "identity", user=NFS_IDENTITY, group=NFS_IDENTITY)
        ET.SubElement(element, "target", dev=target, bus="virtio")
        return element
    element = ET.Element("disk", type="file", device=DEVICE_DISK)
    # cache=none: the host page cache would hold a second copy of every guest block.
    ET.SubElement(element, "driver", name="qemu", type=driver_type, cache="none")
    ET.SubElement(element, "source", file=validate_image_path(disk.path, what=what))
    ET.SubElement(element, "target", dev=target, bus="virtio")
    return element


def _rbd_disk_element(disk: DiskSpec, what: str, target: str) -> ET.Element:
    """A network disk on ``pool/image`` with the pool's libvirt secret (see rbd_secrets)."""
    pool = disk.pool
    assert pool is not None
    if disk.format.lower() != "raw":
        raise InvalidVmCommandError(f"{what}: an RBD disk is raw, not {disk.format!r}")
    try:
        access = RbdAccess(parse_monitors(pool.server or ""), pool.path, pool.user or "")
        return rbd_disk_element(
            access, disk.path, secret_uuid=secret_uuid_for(pool.uuid), target=target
        )
    except ValueError as exc:
        raise InvalidVmCommandError(f"{what}: {exc}") from exc


def _cdrom_element(iso_path: str | None, target: str) -> ET.Element:
    element = ET.Element("disk", type="file", device=DEVICE_CDROM)
    ET.SubElement(element, "driver", name="qemu", type="raw")
    if iso_path is not None:
        ET.SubElement(element, "source", file=validate_image_path(iso_path, what="ISO path"))
    ET.SubElement(element, "target", dev=target, bus="ide")
    ET.SubElement(element, "readonly")
    return element


def _interface_elements(spec: VmSpec) -> list[ET.Element]:
    """NICs on guest networks when the spec has any, else the one user-mode NIC (or none)."""
    if len(spec.nics) > MAX_NICS:
        raise InvalidVmCommandError(f"a VM has at most {MAX_NICS} NICs, not {len(spec.nics)}")
    if spec.nics:
        macs = [
            _checked_mac(nic.mac_address, f"nics[{i}].mac_address")
            for i, nic in enumerate(spec.nics)
        ]
        if len(set(macs)) != len(macs):
            raise InvalidVmCommandError("two NICs of the VM have the same MAC address")
        return [_network_interface(nic, mac) for nic, mac in zip(spec.nics, macs, strict=True)]
    if spec.mac_address is not None:
        return [_user_interface(_checked_mac(spec.mac_address, "mac_address"))]
    return []


def _network_interface(nic: NicSpec, mac: str) -> ET.Element:
    # A tap device on the guest network's isolated libvirt network (guest_networks.py).
    element = ET.Element("interface", type="network")
    ET.SubElement(element, "source", network=network_name(nic.network_uuid))
    ET.SubElement(element, "mac", address=mac)
    ET.SubElement(element, "model", type="virtio")
    return element


def _user_interface(mac: str) -> ET.Element:
    # User-mode networking: the guest gets a NIC with its MAC and needs no bridge here.
    element = ET.Element("interface", type="user")
    ET.SubElement(element, "mac", address=mac)
    ET.SubElement(element, "model", type="virtio")
    return element


def _checked_mac(mac_address: str, what: str) -> str:
    if not _MAC.fullmatch(mac_address):
        raise InvalidVmCommandError(f"{what} {mac_address!r} is not of the form 02:00:00:aa:bb:cc")
    return mac_address.lower()


def _driver_type(disk: DiskSpec, index: int) -> str:
    driver_type = DISK_FORMATS.get(disk.format.lower())
    if driver_type is None:
        raise InvalidVmCommandError(
            f"disks[{index}].format must be one of {', '.join(DISK_FORMATS)}, not {disk.format!r}"
        )
    return driver_type


def _checked_boot_devices(devices: list[str]) -> list[str]:
    if not devices:
        raise InvalidVmCommandError("boot_devices must name at least one device")
    for device in devices:
        if device not in BOOT_DEVICES:
            raise InvalidVmCommandError(
                f"boot device {device!r} is not one of {', '.join(BOOT_DEVICES)}"
            )
    if len(set(devices)) != len(devices):
        raise InvalidVmCommandError(f"boot_devices {devices!r} names a device twice")
    return devices


def _canonical_uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise InvalidVmCommandError(f"uuid {text!r} is not a UUID") from None


def _check_range(what: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidVmCommandError(f"{what} must be between {low} and {high}, not {value}")
