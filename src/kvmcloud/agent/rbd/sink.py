"""RbdStreamSink: the download engine's ImageSink for a raw image going into rbd import."""

from typing import Protocol

from kvmcloud.agent.downloads.decompress import (
    MAGIC_PROBE_BYTES,
    Buffer,
    CompressionFormat,
    Decompressor,
    new_decompressor,
)
from kvmcloud.agent.downloads.errors import PoolFullError
from kvmcloud.agent.rbd.errors import RbdStreamRestartError
from kvmcloud.protocol.checksums import ChecksumVerifier


class Writer(Protocol):
    """Where the image's bytes go: the stdin of ``rbd import -`` (a ProcessFeed)."""

    def write(self, data: Buffer) -> None:
        """Write all of ``data``."""
        ...


class RbdStreamSink:
    """One pass over a download with no temporary file: hash, decompress, write to rbd.

    Every byte accepted goes to ``verifier`` as it is (the checksum is of the bytes
    published at the URL); the first bytes decide the compression (gzip, bzip2, xz, zstd,
    by magic number) and the decompressed image is written to ``out``. The caller checks
    the digest before it lets the image take its final name
    (:meth:`~kvmcloud.agent.rbd.client.RbdClient.importing` renames only on success).

    Only for sources that are raw images: ``rbd import`` stores the bytes as they come.
    ``max_output_bytes`` bounds the image (a decompression bomb, or more than the pool
    can take) with ``PoolFullError``. A pipe cannot be rewound, so :meth:`restart` fails
    the transfer (resuming with ranges from :attr:`received_bytes` works).
    """

    def __init__(
        self,
        out: Writer,
        verifier: ChecksumVerifier | None,
        *,
        max_output_bytes: int | None = None,
    ) -> None:
        self.verifier = verifier
        self._out = out
        self._max_output_bytes = max_output_bytes
        self._received = 0
        self._output = 0
        self._decided = False
        self._pending = bytearray()
        self._decompressor: Decompressor | None = None
        self.compression: CompressionFormat | None = None

    @property
    def received_bytes(self) -> int:
        """Bytes of the source accepted so far: where a resumed transfer continues."""
        return self._received

    @property
    def output_bytes(self) -> int:
        """Bytes of the image written to rbd so far."""
        return self._output

    def write(self, data: Buffer) -> None:
        """Accept the next bytes of the source.

        Raises:
            ImageRejectedError: the bytes are not a valid compressed stream.
            PoolFullError: the image grew past ``max_output_bytes``.
            OSError, CommandError: writing to rbd failed.
        """
        if not len(data):
            return
        if self.verifier is not None:
            self.verifier.update(data)
        self._received += len(data)
        if self._decided:
            self._accept(data)
            return
        # Hold the first few bytes until the magic number can be judged.
        self._pending += data
        if len(self._pending) >= MAGIC_PROBE_BYTES:
            self._decide()

    def restart(self) -> None:
        """Refuse: what went into ``rbd import`` cannot be taken back."""
        raise RbdStreamRestartError(
            f"the source restarted after {self._received} bytes had gone into rbd import; "
            "the transfer is retried from the top"
        )

    def finish(self) -> None:
        """Write what is pending; check a compressed source ended properly.

        Raises:
            ImageRejectedError: a compressed source stopped before the end of its stream.
        """
        if not self._decided:
            self._decide()
        if self._decompressor is not None:
            self._decompressor.finish()

    def _decide(self) -> None:
        self._decided = True
        head, self._pending = bytes(self._pending), bytearray()
        self._decompressor = new_decompressor(head)
        if self._decompressor is not None:
            self.compression = self._decompressor.compression
        self._accept(head)

    def _accept(self, data: Buffer) -> None:
        if self._decompressor is None:
            self._emit(data)
            return
        for chunk in self._decompressor.feed(data):
            self._emit(chunk)

    def _emit(self, data: Buffer) -> None:
        if not len(data):
            return
        self._output += len(data)
        if self._max_output_bytes is not None and self._output > self._max_output_bytes:
            raise PoolFullError(
                f"the image grew past {self._max_output_bytes} bytes, what the RBD pool can take"
            )
        self._out.write(data)
