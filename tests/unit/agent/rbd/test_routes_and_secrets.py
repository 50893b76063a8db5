import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kvmcloud.agent.rbd.cli import Monitor, parse_monitors
from kvmcloud.agent.rbd.libvirt_xml import secret_uuid_for
from kvmcloud.agent.rbd.routes import RbdRoute, looks_like_qcow2, rbd_route
from kvmcloud.agent.vms.domain import Accelerator, domain_xml
from kvmcloud.agent.vms.errors import InvalidVmCommandError
from kvmcloud.agent.vms.rbd_secrets import rbd_secrets
from kvmcloud.protocol.agent_messages import DiskSpec, PoolSpec, PoolType, VmSpec

POOL_UUID = "0f6f0c4e-3c1b-4b7e-9a43-9d3d5f2b1a01"
KEY = base64.b64encode(b"sixteen byte key").decode()
POOL = PoolSpec(
    uuid=POOL_UUID,
    type=PoolType.RBD,
    path="cloud",
    server="10.0.0.5:6789,mon2",
    user="cloudstack",
    secret=KEY,
)


@pytest.mark.parametrize(
    ("fmt", "url", "route"),
    [
        ("RAW", "http://h/t.raw", RbdRoute.STREAM),
        ("raw", "http://h/t.img?sig=1", RbdRoute.STREAM),
        ("RAW", "http://h/t.raw.gz", RbdRoute.CONVERT),
        ("RAW", "http://h/t.RAW.XZ", RbdRoute.CONVERT),
        ("QCOW2", "http://h/t.qcow2", RbdRoute.CONVERT),
        ("QCOW2", "http://h/t.qcow2.bz2", RbdRoute.CONVERT),
    ],
)
def test_raw_uncompressed_sources_stream_and_the_rest_convert(fmt, url, route):
    assert rbd_route(fmt, url) is route


def test_isos_have_no_route_into_rbd():
    with pytest.raises(ValueError, match="ISO"):
        rbd_route("ISO", "http://h/x.iso")


def test_qcow2_magic_is_recognised():
    assert looks_like_qcow2(b"QFI\xfb\x00\x00")
    assert not looks_like_qcow2(b"\xfa\x31\xc0")


def test_monitors_parse_with_and_without_ports():
    assert parse_monitors("10.0.0.5:6789,mon2") == (Monitor("10.0.0.5", 6789), Monitor("mon2"))
    with pytest.raises(ValueError, match="port"):
        parse_monitors("mon:x")


def test_the_secret_uuid_is_stable_per_pool():
    assert secret_uuid_for(POOL_UUID) == secret_uuid_for(POOL_UUID.upper())
    assert secret_uuid_for(POOL_UUID) != secret_uuid_for("1f6f0c4e-3c1b-4b7e-9a43-9d3d5f2b1a01")


def test_one_secret_per_rbd_pool_with_the_decoded_key():
    disks = [
        DiskSpec(path="ROOT-1", format="raw", pool=POOL),
        DiskSpec(path="DATA-1", format="raw", pool=POOL),
        DiskSpec(path="/p/x.iso", format="raw", device="cdrom"),
    ]
    secrets = rbd_secrets(disks)
    assert len(secrets) == 1
    assert secrets[0].value == b"sixteen byte key"
    assert secrets[0].uuid == secret_uuid_for(POOL_UUID)
    assert KEY not in secrets[0].xml and KEY not in repr(secrets[0])
    assert f"kvmcloud-rbd-{POOL_UUID}" in secrets[0].xml


def test_a_key_that_is_not_base64_is_refused_without_quoting_it():
    bad = PoolSpec(uuid=POOL_UUID, type=PoolType.RBD, path="c", server="m", user="u", secret="%%")
    with pytest.raises(InvalidVmCommandError) as caught:
        rbd_secrets([DiskSpec(path="ROOT-1", format="raw", pool=bad)])
    assert "%%" not in str(caught.value)


def test_an_rbd_root_disk_becomes_a_network_disk_with_the_pools_secret(tmp_path: Path):
    spec = VmSpec(
        name="i-2-7-VM",
        uuid="5f0b1c66-1111-4222-8333-944455556666",
        vcpus=1,
        memory_mib=64,
        disks=[DiskSpec(path="ROOT-7", format="raw", pool=POOL)],
    )
    xml = domain_xml(spec, accelerator=Accelerator.TCG, console_log=tmp_path / "c.log")
    assert KEY not in xml
    disk = ET.fromstring(xml).find("devices/disk[@type='network']")
    assert disk is not None
    source = disk.find("source")
    assert source is not None and source.get("protocol") == "rbd"
    assert source.get("name") == "cloud/ROOT-7"
    assert [(h.get("name"), h.get("port")) for h in source.findall("host")] == [
        ("10.0.0.5", "6789"),
        ("mon2", "6789"),
    ]
    auth = disk.find("auth")
    assert auth is not None and auth.get("username") == "cloudstack"
    secret = auth.find("secret")
    assert secret is not None and secret.get("uuid") == secret_uuid_for(POOL_UUID)
