"""download_template(): pick downloader → stream into the pool → verify → inspect → install."""

import errno
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from kvmcloud.agent.downloads.base import Downloader, DownloadRequest, ProgressCallback
from kvmcloud.agent.downloads.egress import policy_from_rules
from kvmcloud.agent.downloads.errors import (
    ChecksumMismatchError,
    DownloadCancelledError,
    DownloadError,
    ImageRejectedError,
    PoolFullError,
    UnsupportedUrlError,
)
from kvmcloud.agent.downloads.peers import PeerFetcher
from kvmcloud.agent.downloads.sink import PoolFileSink
from kvmcloud.agent.errors import BadCommandError, PoolUnavailableError
from kvmcloud.agent.host.commands import CommandError
from kvmcloud.agent.host.qemu_img import ImageInfo, QemuImgOutputError
from kvmcloud.agent.nfs_modes import USERSPACE_ACCESS, NfsAccess
from kvmcloud.agent.nfs_pool import NfsStoragePool, open_pool
from kvmcloud.agent.pools import StoragePool
from kvmcloud.protocol.agent_messages import (
    ByteSource,
    DirectDownloadCommand,
    DirectDownloadResult,
    PeerSource,
)
from kvmcloud.protocol.checksums import (
    Checksum,
    ChecksumFormatError,
    ChecksumMismatch,
    ChecksumVerifier,
)
from kvmcloud.protocol.redaction import redact_url

logger = logging.getLogger(__name__)

# Registered format (CloudStack spelling) → what `qemu-img info` must report. qemu-img has
# no ISO driver: an ISO is a raw image to it.
QEMU_FORMATS = {"QCOW2": "qcow2", "RAW": "raw", "ISO": "raw"}


class ImageInspector(Protocol):
    """What the engine needs from qemu-img (``host.qemu_img.QemuImg`` implements it)."""

    def info(self, path: Path) -> ImageInfo:
        """Inspect the image at ``path``."""
        ...


METALINK = "metalink"
METALINK_SUFFIXES = (".metalink", ".meta4")
# ByteSource kinds and outcomes (protocol/agent_messages.ByteSource).
ORIGIN_SOURCE = "origin"
PEER_SOURCE = "peer"
FAILED = "failed"
REJECTED = "rejected"
DISCARDED = "discarded"


def pick_downloader(
    url: str, downloaders: Mapping[str, Downloader], *, metalink: bool = False
) -> Downloader:
    """Return the downloader for ``url``: by its path for metalinks, else by its scheme.

    A path ending in ``.metalink`` (v3) or ``.meta4`` (v4), or ``metalink=True`` (the URL
    check saw a Metalink media type), goes to the ``"metalink"`` downloader when one is
    registered; every other URL goes to the downloader registered under its scheme
    (``http``, ``https``, ``nfs``).

    Raises:
        UnsupportedUrlError: the URL is malformed, or nothing handles its scheme.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UnsupportedUrlError(f"malformed URL {redact_url(url)}: {exc}") from exc
    if (metalink or parts.path.lower().endswith(METALINK_SUFFIXES)) and METALINK in downloaders:
        return downloaders[METALINK]
    scheme = parts.scheme.lower()
    downloader = downloaders.get(scheme) if scheme != METALINK else None
    if downloader is None:
        supported = ", ".join(sorted(name for name in downloaders if name != METALINK)) or "none"
        raise UnsupportedUrlError(
            f"no downloader for scheme {scheme!r} of {redact_url(url)} (supported: {supported})"
        )
    return downloader


def expected_qemu_format(image_format: str) -> str:
    """Return the qemu-img format name a registered format must show on disk.

    Raises:
        ImageRejectedError: the format cannot be direct-downloaded to a pool.
    """
    qemu_format = QEMU_FORMATS.get(image_format.upper())
    if qemu_format is None:
        supported = ", ".join(sorted(QEMU_FORMATS))
        raise ImageRejectedError(
            f"format {image_format!r} is not supported for direct download (supported: {supported})"
        )
    return qemu_format


def download_template(
    command: DirectDownloadCommand,
    *,
    attempt_id: str,
    downloaders: Mapping[str, Downloader],
    qemu_img: ImageInspector,
    cancel: threading.Event,
    progress: ProgressCallback,
    nfs: NfsAccess = USERSPACE_ACCESS,
    peers: PeerFetcher | None = None,
) -> DirectDownloadResult:
    """Download, verify, inspect and publish one template; leave nothing behind on failure.

    The command's peers (other agents' verified copies) are tried first, in order, when
    ``peers`` is given and the command has a checksum; then the origin (``command.url``).
    See :func:`_fetch_from_sources`.

    Raises:
        DownloadError: the subclass says what failed.
    """
    downloader = pick_downloader(command.url, downloaders, metalink=command.metalink)
    qemu_format = expected_qemu_format(command.format)
    new_verifier(command.checksum)  # a malformed checksum is refused before any transfer
    pool = open_pool(command.pool, nfs)
    pool.check()
    temp = pool.temp_path(command.install_name, attempt_id)
    if cancel.is_set():
        raise DownloadCancelledError(f"download of {redact_url(command.url)} cancelled")

    def report_progress(bytes_done: int, bytes_total: int | None) -> None:
        # Called with bytes_done == 0 before anything is written: the one moment to refuse
        # an image that cannot fit, before filling the pool with part of it.
        if bytes_done == 0 and bytes_total is not None:
            _ensure_space(pool, bytes_total)
        progress(bytes_done, bytes_total)

    request = download_request(command, cancel, report_progress)
    try:
        logger.info("downloading %s into %s", redact_url(command.url), temp)
        fetched = _fetch_from_sources(
            command,
            _Transfer(downloader, request, pool, temp),
            peers if command.checksum else None,
        )
        info = inspect_image(qemu_img, temp)
        check_image(info, command.format, qemu_format)
        install_path, physical_size_bytes = pool.publish_download(temp, command.install_name)
        return DirectDownloadResult(
            install_path=install_path,
            physical_size_bytes=physical_size_bytes,
            virtual_size_bytes=info.virtual_size_bytes,
            format=command.format.upper(),
            sources=fetched.sources,
            image_checksum=command.checksum if fetched.verified and fetched.as_served else None,
        )
    finally:
        # After a successful install the temp name is gone; on any failure (including
        # cancellation) this is what keeps the pool clean.
        _remove_quietly(temp)


def download_request(
    command: DirectDownloadCommand, cancel: threading.Event, progress: ProgressCallback
) -> DownloadRequest:
    """Return what a downloader needs of ``command``, reporting to ``progress``."""
    return DownloadRequest(
        url=command.url,
        image_format=command.format,
        headers=command.headers,
        timeouts=command.timeouts,
        follow_redirects=command.follow_redirects,
        egress=policy_from_rules(command.egress),
        cancel=cancel,
        progress=progress,
    )


def verify_download(verifier: ChecksumVerifier | None, url: str) -> None:
    """Check the whole file's digest (nothing to check without one).

    Raises:
        ChecksumMismatchError: the bytes received are not the registered ones.
    """
    if verifier is None:
        return
    try:
        verifier.verify()
    except ChecksumMismatch as exc:
        raise ChecksumMismatchError(str(exc.expected), exc.actual_hex, url=redact_url(url)) from exc


@dataclass(frozen=True, slots=True)
class _Transfer:
    """The origin's downloader and request, and the pool file the bytes go to."""

    downloader: Downloader
    request: DownloadRequest
    pool: StoragePool | NfsStoragePool
    temp: Path


@dataclass(frozen=True, slots=True)
class _Fetched:
    """Where the verified bytes came from; whether they were verified and kept as served."""

    sources: list[ByteSource]
    verified: bool
    as_served: bool


def _fetch_from_sources(
    command: DirectDownloadCommand, transfer: _Transfer, peers: PeerFetcher | None
) -> _Fetched:
    """Fill ``transfer.temp`` from the peers in order, then the origin; verify the whole file.

    A peer whose transfer breaks is skipped: the next source continues from the bytes
    received so far (every byte is checked by the whole-file digest in the end). When the
    digest does not match and peers gave bytes, those peers are rejected (reported in the
    result) and the file is fetched again from the sources left, ending with the origin
    alone; a mismatch with the origin's bytes alone fails as without peers.
    """
    remaining = list(command.peers) if peers is not None else []
    log: list[ByteSource] = []
    for _round in range(len(remaining) + 1):
        round_start = len(log)
        verifier, as_served = _fetch_round(
            transfer, new_verifier(command.checksum), remaining, peers, log
        )
        if verifier is None:
            return _Fetched(log, verified=False, as_served=as_served)
        try:
            verifier.verify()
            return _Fetched(log, verified=True, as_served=as_served)
        except ChecksumMismatch as exc:
            suspects = {
                s.host_uuid for s in log[round_start:] if s.kind == PEER_SOURCE and s.bytes > 0
            }
            if not suspects:
                raise ChecksumMismatchError(
                    str(exc.expected), exc.actual_hex, url=redact_url(command.url)
                ) from exc
            for index in range(round_start, len(log)):
                if log[index].host_uuid in suspects:
                    log[index] = replace(
                        log[index], outcome=REJECTED, message=f"checksum mismatch: {exc}"
                    )
            logger.warning(
                "bytes from peers %s do not match %s; fetching again without them",
                ", ".join(sorted(str(s) for s in suspects)),
                exc.expected,
            )
            remaining = [peer for peer in remaining if peer.host_uuid not in suspects]
    raise AssertionError("the last round has no peers left, so it returned or raised")


def _fetch_round(
    transfer: _Transfer,
    verifier: ChecksumVerifier | None,
    peers_left: list[PeerSource],
    peers: PeerFetcher | None,
    log: list[ByteSource],
) -> tuple[ChecksumVerifier | None, bool]:
    """One pass: stream the sources into a fresh file.

    Returns the sink's final verifier (a restart replaces it) and whether the file holds
    the bytes as served (not decompressed).
    """
    pool, temp, request = transfer.pool, transfer.temp, transfer.request
    round_start = len(log)
    try:
        # The free space bounds what a compressed source may expand to (a bomb, or an
        # image that simply does not fit): refused before the pool fills up.
        with PoolFileSink(temp, verifier, max_output_bytes=pool.available_bytes()) as sink:
            done = False
            for peer in peers_left if peers is not None else []:
                assert peers is not None
                before = sink.received_bytes
                try:
                    peers.fetch(peer, request, sink)
                except DownloadCancelledError:
                    raise
                except DownloadError as exc:
                    logger.warning("peer %s failed, trying the next source: %s", peer.url, exc)
                    log.append(
                        ByteSource(
                            kind=PEER_SOURCE,
                            host_uuid=peer.host_uuid,
                            bytes=sink.received_bytes - before,
                            outcome=FAILED,
                            message=str(exc)[:512],
                        )
                    )
                    continue
                log.append(
                    ByteSource(
                        kind=PEER_SOURCE,
                        host_uuid=peer.host_uuid,
                        bytes=sink.received_bytes - before,
                    )
                )
                done = True
                break
            if not done:
                before, restarts = sink.received_bytes, sink.restarts
                transfer.downloader.fetch(request, sink)
                if sink.restarts != restarts:
                    # The origin could not continue where the peers stopped and sent it
                    # all: the peers' bytes of this round were thrown away.
                    before = 0
                    for index in range(round_start, len(log)):
                        log[index] = replace(log[index], outcome=DISCARDED)
                log.append(ByteSource(kind=ORIGIN_SOURCE, bytes=sink.received_bytes - before))
            sink.finish()
            logger.info(
                "received %d bytes from %s (%s); image is %d bytes",
                sink.received_bytes,
                ", ".join(f"{s.kind} {s.host_uuid or ''}: {s.bytes}" for s in log),
                sink.compression or "not compressed",
                sink.output_bytes,
            )
            return sink.verifier, sink.compression is None
    except OSError as exc:
        raise _pool_write_error(pool, temp, exc) from exc


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        # Never mask the error that got us here; the operator needs to hear about both.
        logger.error("could not remove temp file %s: %s", path, exc)


def new_verifier(checksum: str | None) -> ChecksumVerifier | None:
    """Return a verifier for ``checksum`` (None without one); BadCommandError if malformed."""
    if not checksum:
        return None
    try:
        return Checksum.parse(checksum).new_verifier()
    except ChecksumFormatError as exc:
        raise BadCommandError(f"invalid checksum: {exc}") from exc


def _ensure_space(pool: StoragePool | NfsStoragePool, size_bytes: int) -> None:
    available_bytes = pool.available_bytes()
    if size_bytes > available_bytes:
        raise PoolFullError(
            f"pool {pool.spec.uuid} at {pool.path} has {available_bytes} bytes available; "
            f"the image needs {size_bytes} bytes"
        )


def _pool_write_error(pool: StoragePool | NfsStoragePool, temp: Path, exc: OSError) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return PoolFullError(f"pool {pool.spec.uuid} at {pool.path} ran out of space: {exc}")
    return PoolUnavailableError(f"writing {temp} in pool {pool.spec.uuid} failed: {exc}")


def inspect_image(qemu_img: ImageInspector, temp: Path) -> ImageInfo:
    """``qemu-img info`` of a downloaded file; ImageRejectedError if it cannot be read."""
    try:
        return qemu_img.info(temp)
    except (CommandError, QemuImgOutputError) as exc:
        raise ImageRejectedError(f"qemu-img could not read the downloaded image: {exc}") from exc


def check_image(info: ImageInfo, registered_format: str, qemu_format: str) -> None:
    """Refuse an image of another format, with a backing or data file, or corrupt."""
    if info.format != qemu_format:
        raise ImageRejectedError(
            f"image was registered as {registered_format.upper()} but qemu-img reports "
            f"format {info.format!r} (expected {qemu_format!r})"
        )
    # A backing file or external data file would make the guest read another file on the
    # host (CloudStack issue #11260): a template must be self-contained.
    if info.backing_file is not None:
        raise ImageRejectedError(
            f"image has a backing file ({info.backing_file!r}); templates must be self-contained"
        )
    if info.data_file is not None:
        raise ImageRejectedError(
            f"image has an external data file ({info.data_file!r}); templates must be "
            "self-contained"
        )
    if info.corrupt:
        raise ImageRejectedError("qemu-img reports the image as corrupt")
