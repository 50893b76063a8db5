"""What a volume's backing template must be, for every pool type, and the qemu-img it needs."""

from pathlib import Path
from typing import Protocol

from kvmcloud.agent.errors import BadCommandError
from kvmcloud.agent.host.qemu_img import ImageInfo
from kvmcloud.agent.vms.errors import VolumeFailureError
from kvmcloud.protocol.agent_messages import CreateVolumeCommand

BACKING_FORMATS = ("qcow2", "raw")


class VolumeImages(Protocol):
    """The qemu-img operations volumes need (``host.qemu_img.QemuImg`` in production)."""

    def info(self, path: Path | str) -> ImageInfo:
        """Inspect an image (a path or an ``nfs://`` URL) without opening its backing chain."""
        ...

    def create(
        self,
        path: Path | str,
        *,
        size_bytes: int | None,
        backing: Path | str | None = None,
        backing_format: str | None = None,
    ) -> None:
        """Create a qcow2 image, an overlay when ``backing`` is given."""
        ...


def requested_backing_format(command: CreateVolumeCommand) -> str | None:
    """Return the command's backing format in lower case, or None for a blank volume.

    Raises:
        BadCommandError: a format without a backing name, or a format not in BACKING_FORMATS.
    """
    if command.backing_name is None:
        if command.backing_format is not None:
            raise BadCommandError("backing_format is given without backing_name")
        return None
    backing_format = (command.backing_format or "").lower()
    if backing_format not in BACKING_FORMATS:
        raise BadCommandError(
            f"backing_format must be one of {', '.join(BACKING_FORMATS)}, "
            f"not {command.backing_format!r}"
        )
    return backing_format


def check_backing_info(where: object, info: ImageInfo, backing_format: str) -> None:
    """Refuse a template copy that is not what the download engine installed.

    The engine checked all this when it installed the template; a file that changed since
    must not become the base of a VM's disk.

    Raises:
        VolumeFailureError: another format, or a file that refers to another file.
    """
    if info.format != backing_format:
        raise VolumeFailureError(f"backing file {where} is {info.format}, not {backing_format}")
    if info.backing_file is not None or info.data_file is not None:
        raise VolumeFailureError(f"backing file {where} refers to another file; refusing it")


def check_existing_volume(
    where: object, info: ImageInfo, wanted_backing: str | None, size_bytes: int
) -> None:
    """Accept a volume that already exists only if it is exactly the one requested.

    A repeated create (a retried command) must find the same qcow2 on the same backing
    file with the same size; anything else is someone else's file, never reused.

    Raises:
        VolumeFailureError: the existing image differs from the request.
    """
    if (
        info.format != "qcow2"
        or info.backing_file != wanted_backing
        or info.virtual_size_bytes != size_bytes
    ):
        raise VolumeFailureError(
            f"volume {where} already exists ({info.format}, {info.virtual_size_bytes} bytes, "
            f"backing file {info.backing_file or 'none'}) and differs from the request "
            f"(qcow2, {size_bytes} bytes, backing file {wanted_backing or 'none'})"
        )
