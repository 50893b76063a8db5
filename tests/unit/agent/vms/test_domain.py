import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from kvmcloud.agent.vms.domain import (
    METADATA_NAMESPACE,
    Accelerator,
    cdrom_xml,
    console_log_path,
    domain_xml,
    find_cdrom_target,
    validate_vm_name,
)
from kvmcloud.agent.vms.errors import InvalidVmCommandError
from kvmcloud.protocol.agent_messages import DiskSpec, NicSpec, VmSpec
from kvmcloud.protocol.error_codes import ErrorCode

UUID = "6f1c3a52-9d0e-4c55-8a9b-0a1b2c3d4e5f"
LOG = Path("/var/log/kvmcloud-agent/consoles/i-2-10-VM.log")


def spec(**fields: Any) -> VmSpec:
    values: dict[str, Any] = {
        "name": "i-2-10-VM",
        "uuid": UUID,
        "vcpus": 2,
        "memory_mib": 512,
        "disks": [DiskSpec(path="/pool/root-10.qcow2", format="QCOW2")],
        "mac_address": "02:00:4C:00:00:0A",
        "boot_devices": ["hd"],
    }
    values.update(fields)
    return VmSpec(**values)


def parse(vm: VmSpec, accelerator: Accelerator = Accelerator.KVM) -> ET.Element:
    return ET.fromstring(domain_xml(vm, accelerator=accelerator, console_log=LOG))


def disks(root: ET.Element) -> list[ET.Element]:
    return root.findall("./devices/disk")


def child(element: ET.Element, path: str) -> ET.Element:
    found = element.find(path)
    assert found is not None, f"no {path} in {ET.tostring(element, encoding='unicode')}"
    return found


def test_domain_basics():
    root = parse(spec())

    assert root.tag == "domain"
    assert root.get("type") == "kvm"
    assert root.findtext("name") == "i-2-10-VM"
    assert root.findtext("uuid") == UUID
    memory = root.find("memory")
    assert memory is not None
    assert (memory.get("unit"), memory.text) == ("MiB", "512")
    assert root.findtext("vcpu") == "2"
    os_type = root.find("./os/type")
    assert os_type is not None
    assert (os_type.text, os_type.get("arch"), os_type.get("machine")) == ("hvm", "x86_64", "pc")
    assert root.findtext("on_poweroff") == "destroy"
    assert root.findtext("on_reboot") == "restart"
    assert root.findtext("on_crash") == "destroy"
    assert root.find("./features/acpi") is not None
    # The default CPU model: -cpu host failed on these machines.
    assert root.find("cpu") is None


def test_tcg_uses_the_qemu_domain_type():
    assert parse(spec(), Accelerator.TCG).get("type") == "qemu"
    assert Accelerator.TCG.value == "tcg"


def test_carries_kvmcloud_metadata():
    root = parse(spec())

    marker = root.find(f"./metadata/{{{METADATA_NAMESPACE}}}instance")
    assert marker is not None


def test_disks_are_virtio_in_order_with_cache_none():
    vm = spec(
        disks=[
            DiskSpec(path="/pool/root.qcow2", format="qcow2"),
            DiskSpec(path="/pool/data.raw", format="RAW"),
        ]
    )

    root = parse(vm)

    found = [
        (
            d.get("device"),
            child(d, "source").get("file"),
            child(d, "target").get("dev"),
            child(d, "target").get("bus"),
            child(d, "driver").attrib,
        )
        for d in disks(root)
        if d.get("device") == "disk"
    ]
    assert found == [
        (
            "disk",
            "/pool/root.qcow2",
            "vda",
            "virtio",
            {"name": "qemu", "type": "qcow2", "cache": "none"},
        ),
        (
            "disk",
            "/pool/data.raw",
            "vdb",
            "virtio",
            {"name": "qemu", "type": "raw", "cache": "none"},
        ),
    ]


def test_a_vm_without_iso_gets_an_empty_cdrom_drive():
    cdroms = [d for d in disks(parse(spec())) if d.get("device") == "cdrom"]

    assert len(cdroms) == 1
    cdrom = cdroms[0]
    assert cdrom.find("source") is None
    target = cdrom.find("target")
    assert target is not None
    assert (target.get("dev"), target.get("bus")) == ("hdc", "ide")
    assert cdrom.find("readonly") is not None
    assert child(cdrom, "driver").get("type") == "raw"


def test_iso_cdrom_and_boot_order():
    vm = spec(
        disks=[
            DiskSpec(path="/pool/root.qcow2", format="qcow2"),
            DiskSpec(path="/pool/t-1.iso", format="ISO", device="cdrom"),
        ],
        boot_devices=["cdrom", "hd"],
    )

    root = parse(vm)

    cdroms = [d for d in disks(root) if d.get("device") == "cdrom"]
    assert len(cdroms) == 1
    assert child(cdroms[0], "source").get("file") == "/pool/t-1.iso"
    assert child(cdroms[0], "target").get("dev") == "hdc"
    assert [b.get("dev") for b in root.findall("./os/boot")] == ["cdrom", "hd"]


def test_cdrom_with_empty_path_is_an_empty_drive():
    vm = spec(disks=[DiskSpec(path="", format="raw", device="cdrom")])

    cdroms = [d for d in disks(parse(vm)) if d.get("device") == "cdrom"]

    assert len(cdroms) == 1
    assert cdroms[0].find("source") is None


def test_user_mode_nic_with_mac_and_virtio_model():
    interface = parse(spec()).find("./devices/interface")

    assert interface is not None
    assert interface.get("type") == "user"
    assert child(interface, "mac").get("address") == "02:00:4c:00:00:0a"
    assert child(interface, "model").get("type") == "virtio"


def test_no_nic_without_mac():
    assert parse(spec(mac_address=None)).find("./devices/interface") is None


NET_A = "3f2a9c4e-1b7d-4e8f-9a0b-1c2d3e4f5a6b"
NET_B = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
TWO_NICS = [
    NicSpec(
        mac_address="02:00:4C:00:00:0B",
        network_uuid=NET_A,
        guest_type="Isolated",
        ip_address="10.1.1.2",
        netmask="255.255.255.0",
        gateway="10.1.1.1",
    ),
    NicSpec(mac_address="02:00:4c:00:00:0c", network_uuid=NET_B, guest_type="L2"),
]


def test_nics_on_guest_networks_replace_the_user_mode_nic():
    interfaces = parse(spec(nics=TWO_NICS)).findall("./devices/interface")

    assert [i.get("type") for i in interfaces] == ["network", "network"]
    assert [child(i, "source").attrib for i in interfaces] == [
        {"network": f"kvmcloud-{NET_A}"},
        {"network": f"kvmcloud-{NET_B}"},
    ]
    assert [child(i, "mac").get("address") for i in interfaces] == [
        "02:00:4c:00:00:0b",
        "02:00:4c:00:00:0c",
    ]
    assert [child(i, "model").get("type") for i in interfaces] == ["virtio", "virtio"]


@pytest.mark.parametrize(
    ("nics", "problem"),
    [
        ([TWO_NICS[0], TWO_NICS[0]], "same MAC"),
        ([NicSpec(mac_address="02:00", network_uuid=NET_A, guest_type="L2")], r"nics\[0\]"),
        ([NicSpec(mac_address="02:00:00:00:00:01", network_uuid="x", guest_type="L2")], "UUID"),
        (
            [
                NicSpec(mac_address=f"02:00:00:00:00:{i:02x}", network_uuid=NET_A, guest_type="L2")
                for i in range(17)
            ],
            "at most 16 NICs",
        ),
    ],
)
def test_invalid_nics_are_refused(nics, problem):
    with pytest.raises(InvalidVmCommandError, match=problem):
        parse(spec(nics=nics))


def test_serial_console_goes_to_the_log_file():
    root = parse(spec())

    serial = root.find("./devices/serial")
    console = root.find("./devices/console")
    assert serial is not None and console is not None
    assert serial.get("type") == console.get("type") == "file"
    assert child(serial, "source").get("path") == str(LOG)
    assert child(console, "source").get("path") == str(LOG)
    assert child(serial, "target").get("port") == "0"


def test_hostile_paths_are_escaped_not_interpreted():
    hostile = "/pool/a'b\"<c>&d]]>.qcow2"
    text = domain_xml(
        spec(disks=[DiskSpec(path=hostile, format="qcow2")]),
        accelerator=Accelerator.KVM,
        console_log=LOG,
    )

    root = ET.fromstring(text)
    assert [
        child(d, "source").get("file") for d in disks(root) if d.find("source") is not None
    ] == [hostile]
    assert len(root.findall("./devices/disk")) == 2  # nothing was injected


@pytest.mark.parametrize(
    "name",
    ["", "../etc/passwd", "a/b", ".hidden", "a..b", "x" * 201, "vm<name>", "vm name", "vm\n"],
)
def test_hostile_names_are_refused(name):
    with pytest.raises(InvalidVmCommandError) as caught:
        parse(spec(name=name))
    assert caught.value.code is ErrorCode.BAD_COMMAND


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"uuid": "not-a-uuid"}, "is not a UUID"),
        ({"vcpus": 0}, "vcpus must be between"),
        ({"memory_mib": 0}, "memory_mib must be between"),
        ({"boot_devices": []}, "at least one"),
        ({"boot_devices": ["network"]}, "is not one of"),
        ({"boot_devices": ["hd", "hd"]}, "twice"),
        ({"mac_address": "02:00:00:00:00"}, "mac_address"),
        ({"disks": [DiskSpec(path="relative.qcow2", format="qcow2")]}, "absolute path"),
        ({"disks": [DiskSpec(path="/pool/a\x00b", format="qcow2")]}, "control characters"),
        ({"disks": [DiskSpec(path="/pool/a", format="vmdk")]}, "format must be one of"),
        ({"disks": [DiskSpec(path="/pool/a", format="qcow2", device="floppy")]}, "device must"),
        ({"disks": [DiskSpec(path="/pool/a.iso", format="qcow2", device="cdrom")]}, "raw or iso"),
        ({"disks": [DiskSpec(path=f"/p/{i}", format="raw") for i in range(17)]}, "at most 16"),
        (
            {"disks": [DiskSpec(path=f"/p/{i}", format="raw", device="cdrom") for i in range(5)]},
            "at most 4 CD-ROM",
        ),
    ],
)
def test_invalid_specs_are_refused(fields, problem):
    with pytest.raises(InvalidVmCommandError, match=problem):
        parse(spec(**fields))


def test_console_log_must_be_absolute():
    with pytest.raises(InvalidVmCommandError, match="console log"):
        domain_xml(spec(), accelerator=Accelerator.KVM, console_log=Path("rel.log"))


def test_uuid_is_written_canonically():
    assert parse(spec(uuid=UUID.upper().replace("-", ""))).findtext("uuid") == UUID


def test_console_log_path():
    assert console_log_path(Path("/logs"), "i-1-VM") == Path("/logs/i-1-VM.log")
    with pytest.raises(InvalidVmCommandError):
        console_log_path(Path("/logs"), "../escape")


def test_validate_vm_name_accepts_cloudstack_names():
    assert validate_vm_name("i-2-10-VM") == "i-2-10-VM"
    assert validate_vm_name("kvmcloud-test_1.a") == "kvmcloud-test_1.a"


def test_cdrom_xml_inserts_and_ejects():
    inserted = ET.fromstring(cdrom_xml("/pool/x.iso", target="hdc"))
    ejected = ET.fromstring(cdrom_xml(None, target="hdc"))

    assert inserted.get("device") == "cdrom"
    assert child(inserted, "source").get("file") == "/pool/x.iso"
    assert child(inserted, "target").attrib == {"dev": "hdc", "bus": "ide"}
    assert ejected.find("source") is None
    with pytest.raises(InvalidVmCommandError):
        cdrom_xml("x.iso", target="hdc")


def test_find_cdrom_target():
    text = domain_xml(
        spec(disks=[DiskSpec(path="/pool/r.qcow2", format="qcow2")]),
        accelerator=Accelerator.KVM,
        console_log=LOG,
    )

    assert find_cdrom_target(text) == "hdc"
    assert find_cdrom_target("<domain><devices/></domain>") is None


def test_an_nfs_volume_is_a_network_disk_read_through_qemus_nfs_driver():
    url = "nfs://nfs1.example.org/export/pool/ROOT-10.qcow2"
    root = parse(spec(disks=[DiskSpec(path=url, format="QCOW2")]))
    disk = disks(root)[0]
    assert (disk.get("type"), disk.get("device")) == ("network", "disk")
    assert child(disk, "driver").get("type") == "qcow2"
    source = child(disk, "source")
    assert (source.get("protocol"), source.get("name")) == ("nfs", "/export/pool/ROOT-10.qcow2")
    assert child(source, "host").get("name") == "nfs1.example.org"
    identity = child(source, "identity")
    assert (identity.get("user"), identity.get("group")) == ("root", "root")
    assert child(disk, "target").get("dev") == "vda"


@pytest.mark.parametrize(
    "url",
    [
        "nfs://h:2049/export/r.qcow2",
        "nfs://u@h/export/r.qcow2",
        "nfs://h/export/r.qcow2?nfsport=1",
        "nfs://h/export/r.qcow2#x",
        "nfs://-h/export/r.qcow2",
        "nfs://h/export/r\n.qcow2",
        "nfs://h",
    ],
)
def test_odd_nfs_disk_urls_are_refused(url: str):
    with pytest.raises(InvalidVmCommandError):
        parse(spec(disks=[DiskSpec(path=url, format="QCOW2")]))
