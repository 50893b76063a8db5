"""How a download goes into RBD (pure): streamed into rbd import, or spooled and converted."""

from enum import StrEnum
from urllib.parse import urlsplit

# Suffixes of compressed sources: their bytes are not the image, and what is inside is
# only known after decompressing, so they take the spool-and-convert route.
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zstd")
QCOW2_MAGIC = b"QFI\xfb"


class RbdRoute(StrEnum):
    """STREAM: straight into ``rbd import -``; CONVERT: a local file, then qemu-img convert."""

    STREAM = "stream"
    CONVERT = "convert"


def rbd_route(image_format: str, url: str) -> RbdRoute:
    """Choose the route: a RAW template that is not compressed streams, all else converts.

    Raises:
        ValueError: an ISO (RBD pools hold disk images; CloudStack keeps ISOs elsewhere).
    """
    fmt = image_format.upper()
    if fmt == "ISO":
        raise ValueError("ISOs cannot be placed on an RBD pool")
    try:
        path = urlsplit(url).path.lower()
    except ValueError:
        path = ""
    if fmt == "RAW" and not path.endswith(COMPRESSED_SUFFIXES):
        return RbdRoute.STREAM
    return RbdRoute.CONVERT


def looks_like_qcow2(head: bytes) -> bool:
    """Tell whether the first bytes of an image are a qcow2 header (not raw, then)."""
    return head.startswith(QCOW2_MAGIC)
