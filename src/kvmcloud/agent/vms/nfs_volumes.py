"""create_nfs_volume(): a qcow2 volume in a NetworkFilesystem pool, made by qemu-img over nfs://.

User-space mode: nothing is mounted, so qemu-img works on ``nfs://`` URLs (QEMU's libnfs
block driver, Debian package qemu-block-extra). An overlay's backing file is always the
absolute ``nfs://`` URL of the template copy with ``-F``: QEMU 7.2 resolves a relative
backing name inside an ``nfs://`` image against the wrong path (MNT3ERR_ACCES), and
without ``-F`` newer QEMUs refuse to create the overlay.
"""

import logging
from dataclasses import dataclass

from kvmcloud.agent.errors import BadCommandError
from kvmcloud.agent.host.commands import CommandError
from kvmcloud.agent.host.qemu_img import ImageInfo, QemuImgOutputError
from kvmcloud.agent.nfs_pool import NfsStoragePool
from kvmcloud.agent.pool_files import PARTIAL_SUFFIX
from kvmcloud.agent.pools import PARTIAL_DIR_NAME, validate_file_name
from kvmcloud.agent.vms.errors import VolumeFailureError
from kvmcloud.agent.vms.volume_checks import (
    VolumeImages,
    check_backing_info,
    check_existing_volume,
    requested_backing_format,
)
from kvmcloud.protocol.agent_messages import CreateVolumeCommand, VolumeResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Backing:
    url: str
    format: str
    virtual_size_bytes: int


def create_nfs_volume(
    command: CreateVolumeCommand,
    *,
    size_bytes: int | None,
    qemu_img: VolumeImages,
    attempt_id: str,
) -> VolumeResult:
    """Create ``<export>/<name>`` as qcow2 (see ``volumes.create_volume``); path is its URL.

    Raises:
        BadCommandError: a name is unsafe, a size or format is invalid.
        PoolUnavailableError: the export cannot be reached.
        VolumeFailureError: the backing file is missing or unfit, qemu-img failed, or a
            different volume already has this name.
    """
    pool = NfsStoragePool(command.pool)
    name = validate_file_name(command.name, what="volume name")
    validate_file_name(attempt_id, what="attempt id")
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
            f"{backing.virtual_size_bytes} bytes of its backing file"
        )
    url = pool.url(name)
    if pool.stat_published(name) is not None:
        return _existing_volume(url, backing, wanted_size, qemu_img)
    partial = f"{PARTIAL_DIR_NAME}/{name}.{attempt_id}{PARTIAL_SUFFIX}"
    try:
        qemu_img.create(
            pool.url(partial),
            size_bytes=size_bytes,
            backing=backing.url if backing is not None else None,
            backing_format=backing.format if backing is not None else None,
        )
    except CommandError as exc:
        pool.remove_partial(partial)
        raise VolumeFailureError(f"cannot create volume {url}: {exc}") from exc
    if not pool.rename_into_place(partial, name):
        # A concurrent request published the same volume while we made ours.
        return _existing_volume(url, backing, wanted_size, qemu_img)
    logger.info("created volume %s (%s)", url, "overlay" if backing is not None else "blank")
    return _volume_result(url, qemu_img)


def _inspect_backing(
    pool: NfsStoragePool, command: CreateVolumeCommand, qemu_img: VolumeImages
) -> _Backing | None:
    backing_format = requested_backing_format(command)
    if backing_format is None or command.backing_name is None:
        return None
    name = validate_file_name(command.backing_name, what="backing name")
    url = pool.url(name)
    if pool.stat_published(name) is None:
        raise VolumeFailureError(f"backing file {url} is not in pool {pool.spec.uuid}")
    info = _info(url, qemu_img)
    check_backing_info(url, info, backing_format)
    return _Backing(url=url, format=backing_format, virtual_size_bytes=info.virtual_size_bytes)


def _existing_volume(
    url: str, backing: _Backing | None, size_bytes: int, qemu_img: VolumeImages
) -> VolumeResult:
    info = _info(url, qemu_img)
    wanted_backing = backing.url if backing is not None else None
    check_existing_volume(url, info, wanted_backing, size_bytes)
    logger.info("volume %s already exists as requested", url)
    return _volume_result(url, qemu_img)


def _volume_result(url: str, qemu_img: VolumeImages) -> VolumeResult:
    info = _info(url, qemu_img)
    return VolumeResult(
        path=url,
        virtual_size_bytes=info.virtual_size_bytes,
        physical_size_bytes=info.actual_size_bytes or 0,
    )


def _info(url: str, qemu_img: VolumeImages) -> ImageInfo:
    try:
        return qemu_img.info(url)
    except (CommandError, QemuImgOutputError) as exc:
        raise VolumeFailureError(f"cannot inspect {url}: {exc}") from exc
