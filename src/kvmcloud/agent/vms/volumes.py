"""create_volume(): a qcow2 volume in a pool, an overlay on a template copy or blank."""

import logging
from dataclasses import dataclass
from pathlib import Path

from kvmcloud.agent.errors import BadCommandError
from kvmcloud.agent.host.commands import CommandError
from kvmcloud.agent.host.qemu_img import ImageInfo, QemuImgOutputError
from kvmcloud.agent.nfs_modes import USERSPACE_ACCESS, NfsAccess, NfsMode
from kvmcloud.agent.nfs_pool import open_pool
from kvmcloud.agent.pools import StoragePool, validate_file_name
from kvmcloud.agent.vms.errors import VolumeFailureError
from kvmcloud.agent.vms.nfs_volumes import create_nfs_volume
from kvmcloud.agent.vms.rbd_volumes import create_rbd_volume
from kvmcloud.agent.vms.volume_checks import (
    VolumeImages,
    check_backing_info,
    check_existing_volume,
    requested_backing_format,
)
from kvmcloud.protocol.agent_messages import CreateVolumeCommand, PoolType, VolumeResult

logger = logging.getLogger(__name__)

SIZE_ALIGNMENT_BYTES = 512
MAX_VOLUME_BYTES = 64 * 1024**4
_STAT_BLOCK_BYTES = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class _Backing:
    """The template copy an overlay will read from."""

    path: Path
    format: str
    virtual_size_bytes: int


def create_volume(
    command: CreateVolumeCommand,
    *,
    qemu_img: VolumeImages,
    attempt_id: str,
    nfs: NfsAccess = USERSPACE_ACCESS,
) -> VolumeResult:
    """Create ``<pool>/<name>`` as qcow2 and report its sizes.

    With ``backing_name`` the volume is an overlay on that file of the same pool (``size_bytes``
    may grow it, never shrink it); without, a blank disk of ``size_bytes``. The image is made
    under the pool's partial directory and published without replacing anything. Repeating
    a request whose volume already exists with the same backing file and size returns it.

    Raises:
        BadCommandError: a name is unsafe, a size or format is invalid.
        PoolUnavailableError: the pool is unusable.
        VolumeFailureError: the backing file is missing or unfit, qemu-img failed, or a
            different volume already has this name.
    """
    if command.pool.type == PoolType.NETWORK_FILESYSTEM and nfs.mode != NfsMode.MOUNT:
        return create_nfs_volume(
            command,
            size_bytes=_checked_size(command.size_bytes),
            qemu_img=qemu_img,
            attempt_id=attempt_id,
        )
    if command.pool.type == PoolType.RBD:
        return create_rbd_volume(command, size_bytes=_checked_size(command.size_bytes))
    # A directory pool, or an NFS pool mounted on this host (then its mount point).
    pool = open_pool(command.pool, nfs)
    assert isinstance(pool, StoragePool)  # the user-space NFS pool went above
    name = validate_file_name(command.name, what="volume name")
    size_bytes = _checked_size(command.size_bytes)
    pool.check()
    backing = _inspect_backing(pool, command, qemu_img)
    if size_bytes is not None:
        wanted_size = size_bytes
    elif backing is not None:
        wanted_size = backing.virtual_size_bytes
    else:
        raise BadCommandError(f"volume {name!r}: a blank volume needs size_bytes")
    if backing is not None and wanted_size < backing.virtual_size_bytes:
        raise BadCommandError(
            f"volume {name!r}: size_bytes {wanted_size} is smaller than the "
            f"{backing.virtual_size_bytes} bytes of its backing file {backing.path.name}"
        )
    path = pool.path / name
    if path.exists() or path.is_symlink():
        return _existing_volume(path, backing, wanted_size, qemu_img)

    temp = pool.temp_path(name, attempt_id)
    try:
        qemu_img.create(
            temp,
            size_bytes=size_bytes,
            backing=backing.path if backing is not None else None,
            backing_format=backing.format if backing is not None else None,
        )
        pool.install(temp, name, overwrite=False)
    except FileExistsError:
        # The same volume was published by a concurrent request while we made ours.
        return _existing_volume(path, backing, wanted_size, qemu_img)
    except CommandError as exc:
        raise VolumeFailureError(f"cannot create volume {path}: {exc}") from exc
    finally:
        temp.unlink(missing_ok=True)
    logger.info(
        "created volume %s (%s)",
        path,
        f"overlay on {backing.path.name}" if backing is not None else "blank",
    )
    return _volume_result(path, qemu_img)


def _checked_size(size_bytes: int | None) -> int | None:
    if size_bytes is None:
        return None
    if not 0 < size_bytes <= MAX_VOLUME_BYTES or size_bytes % SIZE_ALIGNMENT_BYTES:
        raise BadCommandError(
            f"size_bytes must be a positive multiple of {SIZE_ALIGNMENT_BYTES} up to "
            f"{MAX_VOLUME_BYTES}, not {size_bytes}"
        )
    return size_bytes


def _inspect_backing(
    pool: StoragePool, command: CreateVolumeCommand, qemu_img: VolumeImages
) -> _Backing | None:
    backing_format = requested_backing_format(command)
    if backing_format is None or command.backing_name is None:
        return None
    path = pool.path / validate_file_name(command.backing_name, what="backing name")
    if not path.is_file():
        raise VolumeFailureError(f"backing file {path} is not in pool {pool.spec.uuid}")
    info = _info(path, qemu_img)
    check_backing_info(path, info, backing_format)
    return _Backing(path=path, format=backing_format, virtual_size_bytes=info.virtual_size_bytes)


def _existing_volume(
    path: Path, backing: _Backing | None, size_bytes: int, qemu_img: VolumeImages
) -> VolumeResult:
    if path.is_symlink():
        raise VolumeFailureError(f"{path} is a symbolic link; refusing to use it as a volume")
    info = _info(path, qemu_img)
    wanted_backing = str(backing.path) if backing is not None else None
    check_existing_volume(path, info, wanted_backing, size_bytes)
    logger.info("volume %s already exists as requested", path)
    return _volume_result(path, qemu_img)


def _volume_result(path: Path, qemu_img: VolumeImages) -> VolumeResult:
    info = _info(path, qemu_img)
    physical = info.actual_size_bytes
    if physical is None:
        physical = path.stat().st_blocks * _STAT_BLOCK_BYTES
    return VolumeResult(
        path=str(path), virtual_size_bytes=info.virtual_size_bytes, physical_size_bytes=physical
    )


def _info(path: Path, qemu_img: VolumeImages) -> ImageInfo:
    try:
        return qemu_img.info(path)
    except (CommandError, QemuImgOutputError) as exc:
        raise VolumeFailureError(f"cannot inspect {path}: {exc}") from exc
