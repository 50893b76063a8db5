import xml.etree.ElementTree as ET

import pytest

from kvmcloud.agent.rbd.cli import Monitor, RbdAccess
from kvmcloud.agent.rbd.libvirt_xml import rbd_disk_xml, secret_usage_name, secret_xml

ACCESS = RbdAccess((Monitor("10.0.0.1"), Monitor("10.0.0.2", 6790)), "vms", "cloudstack")
SECRET = "6f1c0a52-3c7e-4b0e-9d35-0f0e1b6c2a11"
POOL = "0b8e7c3a-1111-4222-8333-944445555666"


def test_disk_is_a_network_rbd_disk_with_every_monitor_and_the_secret() -> None:
    disk = ET.fromstring(rbd_disk_xml(ACCESS, "vm-1-root", secret_uuid=SECRET, target="vda"))

    assert disk.get("type") == "network"
    assert disk.get("device") == "disk"
    driver = disk.find("driver")
    assert driver is not None and driver.get("type") == "raw"
    source = disk.find("source")
    assert source is not None
    assert (source.get("protocol"), source.get("name")) == ("rbd", "vms/vm-1-root")
    assert [(h.get("name"), h.get("port")) for h in source.findall("host")] == [
        ("10.0.0.1", "6789"),
        ("10.0.0.2", "6790"),
    ]
    auth = disk.find("auth")
    assert auth is not None and auth.get("username") == "cloudstack"
    secret = auth.find("secret")
    assert secret is not None and secret.attrib == {"type": "ceph", "uuid": SECRET}
    target = disk.find("target")
    assert target is not None and target.attrib == {"dev": "vda", "bus": "virtio"}


def test_disk_refuses_unsafe_image_names_and_bad_uuids() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        rbd_disk_xml(ACCESS, "../x", secret_uuid=SECRET, target="vda")
    with pytest.raises(ValueError, match="not a UUID"):
        rbd_disk_xml(ACCESS, "x", secret_uuid="nope", target="vda")


def test_secret_is_private_ceph_usage_without_the_key() -> None:
    secret = ET.fromstring(secret_xml(SECRET.upper(), POOL))

    assert secret.attrib == {"ephemeral": "no", "private": "yes"}
    assert secret.findtext("uuid") == SECRET
    usage = secret.find("usage")
    assert usage is not None and usage.get("type") == "ceph"
    assert usage.findtext("name") == f"kvmcloud-rbd-{POOL}" == secret_usage_name(POOL)
    assert "AQ" not in ET.tostring(secret, encoding="unicode")
