import struct

from kvmcloud.agent.downloads.image_header import QCOW2_MAGIC, parse_qcow2_virtual_size


def qcow2_header(virtual_size_bytes: int) -> bytes:
    return QCOW2_MAGIC + struct.pack(">I", 3) + bytes(16) + struct.pack(">Q", virtual_size_bytes)


def test_reads_virtual_size_at_offset_24():
    assert parse_qcow2_virtual_size(qcow2_header(10 * 2**30) + bytes(480)) == 10 * 2**30


def test_not_qcow2_is_none():
    assert parse_qcow2_virtual_size(b"\x00" * 512) is None
    assert parse_qcow2_virtual_size(b"<html>not found</html>" + bytes(100)) is None


def test_short_header_is_none():
    assert parse_qcow2_virtual_size(qcow2_header(1)[:31]) is None
    assert parse_qcow2_virtual_size(b"") is None
