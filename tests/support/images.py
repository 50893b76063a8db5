"""Test images: a tiny bootable disk that prints KVMCLOUD-BOOT-OK on COM1, as qcow2 or ISO.

``make_qcow2(path)`` builds it with the real ``qemu-img`` and returns its sha256, ready to
register as ``{SHA-256}<digest>``. Booted with ``-serial file:LOG``, the guest writes
``KVMCLOUD-BOOT-OK`` to LOG and halts (the code below was checked with objdump, and boots
under KVM and TCG: tests/integration/agent/test_vms.py).

``make_boot_iso(path)`` wraps the same boot sector in an El Torito CD image ("no emulation"
boot, made by ``genisoimage`` from Debian's package of that name), for VMs booted from a
CD-ROM.
"""

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

BOOT_MESSAGE = b"KVMCLOUD-BOOT-OK"
SECTOR_BYTES = 512
ISO_SECTOR_BYTES = 2048
DEFAULT_IMAGE_BYTES = 1024 * 1024
_LOAD_ADDRESS = 0x7C00

# 16-bit real mode, loaded by the BIOS at 0000:7C00. Hand-assembled:
#   00 FA           cli
#   01 31 C0        xor  ax, ax
#   03 8E D8        mov  ds, ax
#   05 BE lo hi     mov  si, message        ; 0x7C00 + len(code)
#   08 BA F8 03     mov  dx, 0x3F8          ; COM1 data port
#   0B FC           cld
#   0C AC           next: lodsb
#   0D 84 C0        test al, al
#   0F 74 03        jz   done
#   11 EE           out  dx, al
#   12 EB F8        jmp  next
#   14 F4           done: hlt
#   15 EB FD        jmp  done
_CODE_BEFORE_ADDRESS = bytes([0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0xBE])
_CODE_AFTER_ADDRESS = bytes(
    [0xBA, 0xF8, 0x03, 0xFC, 0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8, 0xF4, 0xEB, 0xFD]
)


def boot_sector(message: bytes = BOOT_MESSAGE) -> bytes:
    """Return a 512-byte MBR boot sector that writes ``message`` + CRLF to COM1 and halts."""
    code_bytes = len(_CODE_BEFORE_ADDRESS) + 2 + len(_CODE_AFTER_ADDRESS)
    address = _LOAD_ADDRESS + code_bytes
    sector = (
        _CODE_BEFORE_ADDRESS
        + address.to_bytes(2, "little")
        + _CODE_AFTER_ADDRESS
        + message
        + b"\r\n\x00"
    )
    if len(sector) > SECTOR_BYTES - 2:
        raise ValueError("message too long for one boot sector")
    return sector.ljust(SECTOR_BYTES - 2, b"\x00") + b"\x55\xaa"


def make_raw(path: Path, size_bytes: int = DEFAULT_IMAGE_BYTES) -> str:
    """Write the bootable raw image (sparse past the boot sector); return its sha256."""
    if size_bytes < SECTOR_BYTES or size_bytes % SECTOR_BYTES:
        raise ValueError("size_bytes must be a positive multiple of 512")
    with path.open("wb") as out:
        out.write(boot_sector())
        out.truncate(size_bytes)
    return sha256_of(path)


def make_qcow2(path: Path, size_bytes: int = DEFAULT_IMAGE_BYTES) -> str:
    """Write the bootable image as qcow2 (virtual size ``size_bytes``); return its sha256."""
    qemu_img = shutil.which("qemu-img")
    if qemu_img is None:
        raise RuntimeError("qemu-img is not installed (Debian package qemu-utils)")
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "boot.raw"
        make_raw(raw, size_bytes)
        subprocess.run(
            [qemu_img, "convert", "-f", "raw", "-O", "qcow2", str(raw), str(path)],
            check=True,
            capture_output=True,
            timeout=60,
        )
    return sha256_of(path)


def make_boot_iso(path: Path) -> str:
    """Write a bootable ISO 9660 image whose El Torito entry is the boot sector; return sha256.

    "No emulation" boot: the BIOS loads ``-boot-load-size`` 512-byte sectors at 0000:7C00 and
    jumps there, exactly where the boot sector expects to run.
    """
    genisoimage = shutil.which("genisoimage")
    if genisoimage is None:
        raise RuntimeError("genisoimage is not installed (Debian package genisoimage)")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "iso"
        root.mkdir()
        # One 2048-byte CD sector: the four 512-byte sectors -boot-load-size 4 reads.
        (root / "boot.img").write_bytes(boot_sector().ljust(ISO_SECTOR_BYTES, b"\x00"))
        subprocess.run(
            [
                genisoimage,
                "-quiet",
                "-output",
                str(path),
                "-volid",
                "KVMCLOUD_BOOT",
                "-eltorito-boot",
                "boot.img",
                "-eltorito-catalog",
                "boot.cat",
                "-no-emul-boot",
                "-boot-load-size",
                "4",
                str(root),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    return sha256_of(path)


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()
