"""download_into_rbd(): a direct download into an RBD pool, streamed or spooled and converted.

A RAW source that is not compressed is streamed straight into ``rbd import -`` under a
temporary image name (``RbdStreamSink`` hashes on the way); the image is renamed to its
final name only after the checksum matched. Any other source is received into a local
spool file by the engine's ``PoolFileSink``, verified and inspected with ``qemu-img``, then
converted into a temporary image with ``qemu-img convert -O raw`` and renamed. Either
way a failed or mismatched download leaves no image behind. The published image then
gets its protected base snapshot, which VM disks are cloned from.
"""

import logging
import threading
from collections.abc import Mapping

from kvmcloud.agent.downloads.base import Downloader, DownloadRequest, ProgressCallback
from kvmcloud.agent.downloads.decompress import Buffer
from kvmcloud.agent.downloads.engine import (
    ImageInspector,
    check_image,
    download_request,
    expected_qemu_format,
    inspect_image,
    new_verifier,
    pick_downloader,
    verify_download,
)
from kvmcloud.agent.downloads.errors import (
    DownloadCancelledError,
    ImageRejectedError,
    PoolFullError,
)
from kvmcloud.agent.downloads.sink import PoolFileSink
from kvmcloud.agent.errors import PoolUnavailableError
from kvmcloud.agent.host.commands import CommandError
from kvmcloud.agent.rbd.errors import RbdError
from kvmcloud.agent.rbd.pool import RbdStoragePool, partial_image_name
from kvmcloud.agent.rbd.routes import RbdRoute, looks_like_qcow2, rbd_route
from kvmcloud.agent.rbd.sink import RbdStreamSink, Writer
from kvmcloud.protocol.agent_messages import DirectDownloadCommand, DirectDownloadResult
from kvmcloud.protocol.redaction import redact_url

logger = logging.getLogger(__name__)


class _RawOnly:
    """Passes bytes to ``rbd import``, refusing a stream whose first bytes are qcow2."""

    def __init__(self, out: Writer) -> None:
        self._out = out
        self._checked = False

    def write(self, data: Buffer) -> None:
        if not self._checked:
            self._checked = True
            if looks_like_qcow2(bytes(data[:4])):
                raise ImageRejectedError(
                    "image was registered as RAW but its bytes are a qcow2 image"
                )
        self._out.write(data)


def download_into_rbd(
    command: DirectDownloadCommand,
    *,
    attempt_id: str,
    downloaders: Mapping[str, Downloader],
    qemu_img: ImageInspector,
    cancel: threading.Event,
    progress: ProgressCallback,
) -> DirectDownloadResult:
    """Download, verify and publish one template as an RBD image with its base snapshot.

    Raises:
        DownloadError: the subclass says what failed.
        PoolUnavailableError: the cluster cannot be reached or refused.
    """
    downloader = pick_downloader(command.url, downloaders, metalink=command.metalink)
    qemu_format = expected_qemu_format(command.format)
    try:
        route = rbd_route(command.format, command.url)
    except ValueError as exc:
        raise ImageRejectedError(str(exc)) from exc
    pool = RbdStoragePool(command.pool)
    _, available = pool.usage()
    if cancel.is_set():
        raise DownloadCancelledError(f"download of {redact_url(command.url)} cancelled")

    def report_progress(bytes_done: int, bytes_total: int | None) -> None:
        if bytes_done == 0 and bytes_total is not None and bytes_total > available:
            raise PoolFullError(
                f"RBD pool {pool.access.pool} has {available} bytes available; the image "
                f"needs {bytes_total} bytes"
            )
        progress(bytes_done, bytes_total)

    request = download_request(command, cancel, report_progress)
    image = command.install_name
    partial = partial_image_name(attempt_id)
    logger.info(
        "downloading %s into %s (%s)", redact_url(command.url), pool.access.spec(image), route
    )
    try:
        if route == RbdRoute.STREAM:
            virtual_size = _stream(pool, downloader, request, command, image, partial, available)
        else:
            virtual_size = _convert(
                pool, downloader, request, command, qemu_img, qemu_format, attempt_id, available
            )
    except RbdError as exc:
        raise PoolUnavailableError(f"writing {pool.access.spec(image)} failed: {exc}") from exc
    pool.protect_template(image)
    return DirectDownloadResult(
        install_path=image,
        physical_size_bytes=virtual_size,
        virtual_size_bytes=virtual_size,
        format="RAW",
    )


def _stream(
    pool: RbdStoragePool,
    downloader: Downloader,
    request: DownloadRequest,
    command: DirectDownloadCommand,
    image: str,
    partial: str,
    available: int,
) -> int:
    """Stream into ``rbd import -``; the rename happens only if the block ends normally."""
    verifier = new_verifier(command.checksum)
    received: list[RbdStreamSink] = []

    def verify() -> None:
        # After rbd wrote the whole image, before the rename: a mismatch removes it.
        verify_download(received[0].verifier, command.url)

    try:
        with pool.client.importing(image, partial=partial, before_publish=verify) as feed:
            sink = RbdStreamSink(_RawOnly(feed), verifier, max_output_bytes=available)
            received.append(sink)
            downloader.fetch(request, sink)
            sink.finish()
            logger.info(
                "streamed %d bytes from %s into rbd (%s); image is %d bytes",
                sink.received_bytes,
                redact_url(command.url),
                sink.compression or "not compressed",
                sink.output_bytes,
            )
            size = sink.output_bytes
    except (OSError, CommandError) as exc:
        raise PoolUnavailableError(
            f"rbd import into pool {pool.access.pool} failed: {exc}"
        ) from exc
    return size


def _convert(
    pool: RbdStoragePool,
    downloader: Downloader,
    request: DownloadRequest,
    command: DirectDownloadCommand,
    qemu_img: ImageInspector,
    qemu_format: str,
    attempt_id: str,
    available: int,
) -> int:
    """Spool into a local file, verify and inspect it, then qemu-img convert into RBD."""
    temp = pool.temp_path(command.install_name, attempt_id)
    try:
        try:
            with PoolFileSink(temp, new_verifier(command.checksum), max_output_bytes=None) as sink:
                downloader.fetch(request, sink)
                sink.finish()
                verifier = sink.verifier
        except OSError as exc:
            raise PoolUnavailableError(
                f"writing the local spool file {temp} failed: {exc}"
            ) from exc
        verify_download(verifier, command.url)
        info = inspect_image(qemu_img, temp)
        check_image(info, command.format, qemu_format)
        if info.virtual_size_bytes > available:
            raise PoolFullError(
                f"RBD pool {pool.access.pool} has {available} bytes available; the image "
                f"needs {info.virtual_size_bytes} bytes"
            )
        pool.client.import_file(
            temp, info.format, command.install_name, partial=partial_image_name(attempt_id)
        )
        return info.virtual_size_bytes
    finally:
        try:
            temp.unlink(missing_ok=True)
        except OSError as exc:
            logger.error("could not remove spool file %s: %s", temp, exc)
