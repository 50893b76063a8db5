"""parse_qcow2_virtual_size(header): read an image's virtual size from its first bytes."""

import struct

QCOW2_MAGIC = b"QFI\xfb"
QCOW2_HEADER_PROBE_BYTES = 512
_SIZE_OFFSET = 24
_SIZE = struct.Struct(">Q")


def parse_qcow2_virtual_size(header: bytes) -> int | None:
    """Return the virtual size from a qcow2 header, or None if ``header`` is not one.

    The qcow2 header starts with the magic ``QFI`` 0xFB; the virtual size is a big-endian
    unsigned 64-bit integer at offset 24 (QEMU's docs/interop/qcow2.txt).
    """
    if len(header) < _SIZE_OFFSET + _SIZE.size or not header.startswith(QCOW2_MAGIC):
        return None
    (size_bytes,) = _SIZE.unpack_from(header, _SIZE_OFFSET)
    return int(size_bytes)
