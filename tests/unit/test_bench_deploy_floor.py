"""bench/deploy_floor.py's floor domain: our VM's XML, renamed, on the floor's own disk."""

import xml.etree.ElementTree as ET
from pathlib import Path

from bench.deploy_floor import floor_xml

OURS = """<domain type='qemu' id='7'>
  <name>i-2-9-benchab12cd</name>
  <uuid>4d1c5a8e-0000-4000-8000-000000000009</uuid>
  <memory unit='KiB'>131072</memory>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/pool/root-9.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'><source path='/consoles/i-2-9-benchab12cd.log'/></serial>
  </devices>
</domain>"""


def test_the_floor_domain_is_ours_renamed_without_uuid_on_its_own_disk() -> None:
    root = ET.fromstring(floor_xml(OURS, "floor", Path("/pool/floor.qcow2")))

    assert root.findtext("name") == "floor" and root.find("uuid") is None
    assert "id" not in root.attrib and root.findtext("memory") == "131072"
    disk = root.find("./devices/disk/source")
    assert disk is not None and disk.get("file") == "/pool/floor.qcow2"
    console = root.find("./devices/serial/source")
    assert console is not None and console.get("path") == "/consoles/floor.log"
