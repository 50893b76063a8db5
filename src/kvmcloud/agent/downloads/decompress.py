"""Streaming gzip, bzip2, xz and zstd decompression, chosen by magic bytes, in bounded pieces."""

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Protocol

import zstandard

from kvmcloud.agent.downloads.errors import ImageRejectedError

Buffer = bytes | bytearray | memoryview

# Each decompression call returns at most about this much, so a small compressed input
# that expands enormously (a "bomb") never has to fit in memory at once.
OUTPUT_CHUNK_BYTES = 1024 * 1024
# The longest magic number below (xz); fewer bytes than this cannot rule a format out.
MAGIC_PROBE_BYTES = 6
# Decoder memory an xz stream may ask for: xz -9 needs 65 MiB; larger dictionaries are
# made on purpose and could exhaust the host.
XZ_MEMORY_LIMIT_BYTES = 256 * 1024 * 1024
# RFC 8878: no zstd block holds, or regenerates, more than 128 KiB.
ZSTD_MAX_BLOCK_BYTES = 128 * 1024


class CompressionFormat(StrEnum):
    """A compression the agent undoes while downloading."""

    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    ZSTD = "zstd"


_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Skippable zstd frames (pzstd starts with one): 0x184D2A50-0x184D2A5F, little-endian.
_ZSTD_SKIPPABLE_TAIL = b"\x2a\x4d\x18"


def detect_compression(prefix: Buffer) -> CompressionFormat | None:
    """Return the compression whose magic number starts ``prefix``; None for none.

    ``prefix`` should hold :data:`MAGIC_PROBE_BYTES` bytes unless the stream is shorter.
    The file name is never consulted: a ``.qcow2.gz`` and an ``image`` are the same bytes.
    """
    head = bytes(prefix[:MAGIC_PROBE_BYTES])
    if head.startswith(_GZIP_MAGIC):
        return CompressionFormat.GZIP
    if head.startswith(_BZIP2_MAGIC):
        return CompressionFormat.BZIP2
    if head.startswith(_XZ_MAGIC):
        return CompressionFormat.XZ
    if head.startswith(_ZSTD_MAGIC) or _is_zstd_skippable(head):
        return CompressionFormat.ZSTD
    return None


def _is_zstd_skippable(head: bytes) -> bool:
    return len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == _ZSTD_SKIPPABLE_TAIL


class _Stream(Protocol):
    """One compressed stream, as :class:`bz2.BZ2Decompressor` presents it."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: Buffer, max_length: int) -> bytes: ...


class _Engine(Protocol):
    """A whole compressed input, stream after stream; ``complete`` when it may end here."""

    @property
    def complete(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: Buffer, max_length: int) -> bytes: ...


class _GzipStream:
    """One gzip member through zlib, with bz2's interface (zlib keeps unread input apart)."""

    def __init__(self) -> None:
        # wbits=31: a gzip header and trailer (CRC-32 and length, both checked by zlib).
        self._zlib = zlib.decompressobj(wbits=31)
        self._needs_input = True

    @property
    def eof(self) -> bool:
        return self._zlib.eof

    @property
    def unused_data(self) -> bytes:
        return self._zlib.unused_data

    @property
    def needs_input(self) -> bool:
        return self._needs_input

    def decompress(self, data: Buffer, max_length: int) -> bytes:
        if not data:
            data = self._zlib.unconsumed_tail
        output = self._zlib.decompress(data, max_length)
        # A full output may leave more inside zlib even with no input left: ask again.
        self._needs_input = not self._zlib.unconsumed_tail and len(output) < max_length
        return output


class _ConcatenatedStreams:
    """gzip members, bzip2 or xz streams one after another, then optional NUL padding.

    ``gzip -c a b``, pigz, pbzip2 and ``xz`` all may write several streams in one file;
    each is a valid stream starting with the format's magic. After the last one, only NUL
    bytes may follow (gzip(1) tolerates them; the xz format calls them stream padding);
    anything else is refused rather than silently dropped.
    """

    def __init__(self, name: str, magic: bytes, new_stream: Callable[[], _Stream]) -> None:
        self._name = name
        self._magic = magic
        self._new_stream = new_stream
        self._stream = new_stream()
        self._leftover = b""
        self._padding = False
        self._needs_input = True

    @property
    def complete(self) -> bool:
        return self._padding or (self._stream.eof and not self._leftover)

    @property
    def needs_input(self) -> bool:
        return self._needs_input

    def decompress(self, data: Buffer, max_length: int) -> bytes:
        if self._padding:
            self._check_padding(data)
            return b""
        if self._stream.eof:
            data = self._start_next_stream(self._leftover + bytes(data))
            if not data:
                self._needs_input = True
                return b""
        output = self._stream.decompress(data, max_length)
        if self._stream.eof:
            self._leftover = self._stream.unused_data
            self._needs_input = not self._leftover
        else:
            self._needs_input = self._stream.needs_input
        return output

    def _start_next_stream(self, pending: bytes) -> bytes:
        """Return the input of a new stream, or b"" when more bytes are needed to decide."""
        self._leftover = b""
        if not pending:
            return b""
        if pending[0] == 0:
            self._padding = True
            self._check_padding(pending)
            return b""
        if len(pending) < len(self._magic) and self._magic.startswith(pending):
            self._leftover = pending
            return b""
        if not pending.startswith(self._magic):
            raise ImageRejectedError(
                f"unexpected data after the end of the {self._name} stream (neither another "
                f"{self._name} stream nor NUL padding)"
            )
        self._stream = self._new_stream()
        return pending

    def _check_padding(self, data: Buffer) -> None:
        if bytes(data).strip(b"\0"):
            raise ImageRejectedError(
                f"unexpected data after the NUL padding that follows the {self._name} stream"
            )


class _ZstdFrameWalker:
    """Follows zstd frame and block headers (RFC 8878) to find where each block ends.

    It reads only headers: the bytes themselves are decoded, and checked, by zstd.
    """

    _MAGIC, _DESCRIPTOR, _HEADER_REST, _BLOCK_HEADER, _BLOCK, _CHECKSUM, _SKIP_SIZE, _SKIP = range(
        8
    )
    _COLLECTED = frozenset({_MAGIC, _DESCRIPTOR, _BLOCK_HEADER, _SKIP_SIZE})

    def __init__(self) -> None:
        self.frames = 0
        self._offset = 0
        self._enter(self._MAGIC, 4)
        self._last_block = False
        self._has_checksum = False

    @property
    def at_frame_boundary(self) -> bool:
        return self._state == self._MAGIC and not self._header

    def advance(self, data: memoryview) -> int:
        """Consume ``data`` up to the end of the next block; return how many bytes that was."""
        position = 0
        # Bounded: each pass consumes at least one byte or returns.
        while position < len(data):
            take = min(self._need, len(data) - position)
            if self._state in self._COLLECTED:
                self._header += data[position : position + take]
            position += take
            self._offset += take
            self._need -= take
            if self._need == 0 and self._next_states():
                return position
        return position

    def _enter(self, state: int, need: int) -> None:
        self._state = state
        self._need = need
        self._header = bytearray()

    def _next_states(self) -> bool:
        """Move past every state already satisfied; return whether a block ended."""
        block_ended = False
        # Bounded: a zero-length state is never followed by itself; headers need bytes.
        while self._need == 0:
            block_ended = self._next_state() or block_ended
        return block_ended

    def _next_state(self) -> bool:
        header = bytes(self._header)
        match self._state:
            case self._MAGIC:
                if header == _ZSTD_MAGIC:
                    self._enter(self._DESCRIPTOR, 1)
                elif _is_zstd_skippable(header):
                    self._enter(self._SKIP_SIZE, 4)
                else:
                    raise ImageRejectedError(
                        f"corrupt zstd stream: no frame starts at compressed byte "
                        f"{self._offset - 4}"
                    )
            case self._DESCRIPTOR:
                self._enter(self._HEADER_REST, self._header_rest_bytes(header[0]))
            case self._HEADER_REST:
                self._enter(self._BLOCK_HEADER, 3)
            case self._BLOCK_HEADER:
                self._enter_block(int.from_bytes(header, "little"))
            case self._BLOCK:
                if self._last_block:
                    self._enter(self._CHECKSUM, 4 if self._has_checksum else 0)
                else:
                    self._enter(self._BLOCK_HEADER, 3)
                return True
            case self._SKIP_SIZE:
                self._enter(self._SKIP, int.from_bytes(header, "little"))
            case _:  # the checksum or a skippable frame's content: the frame is over
                self.frames += 1
                self._enter(self._MAGIC, 4)
        return False

    def _header_rest_bytes(self, descriptor: int) -> int:
        if descriptor & 0x08:
            raise ImageRejectedError("corrupt zstd stream: reserved bit set in a frame header")
        single_segment = bool(descriptor & 0x20)
        self._has_checksum = bool(descriptor & 0x04)
        window_bytes = 0 if single_segment else 1
        dictionary_id_bytes = (0, 1, 2, 4)[descriptor & 0x03]
        content_size_bytes = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
        return window_bytes + dictionary_id_bytes + content_size_bytes

    def _enter_block(self, block_header: int) -> None:
        self._last_block = bool(block_header & 1)
        block_type = (block_header >> 1) & 0x03
        block_size = block_header >> 3
        if block_type == 3 or block_size > ZSTD_MAX_BLOCK_BYTES:
            raise ImageRejectedError(
                f"corrupt zstd stream: invalid block header at compressed byte {self._offset - 3}"
            )
        # An RLE block is one byte repeated Block_Size times.
        self._enter(self._BLOCK, 1 if block_type == 1 else block_size)


class _ZstdFrames:
    """zstd frames, handed to zstandard one block at a time.

    zstandard's ``decompressobj`` returns everything its input expands to, and a zstd
    block can expand 32768-fold; stopping each call at a block boundary bounds its output
    by one block (128 KiB) plus what a partial raw block carries.
    """

    def __init__(self) -> None:
        self._zstd = zstandard.ZstdDecompressor().decompressobj(
            write_size=ZSTD_MAX_BLOCK_BYTES, read_across_frames=True
        )
        self._walker = _ZstdFrameWalker()
        self._input = memoryview(b"")

    @property
    def complete(self) -> bool:
        return self._walker.frames > 0 and self._walker.at_frame_boundary

    @property
    def needs_input(self) -> bool:
        return not self._input

    def decompress(self, data: Buffer, max_length: int) -> bytes:
        if data:
            # Copied once: the caller's buffer is reused after it hands it over.
            self._input = memoryview(bytes(data))
        if not self._input:
            return b""
        length = self._walker.advance(self._input)
        piece, self._input = self._input[:length], self._input[length:]
        return self._zstd.decompress(piece)


def _new_engine(compression: CompressionFormat) -> _Engine:
    match compression:
        case CompressionFormat.GZIP:
            return _ConcatenatedStreams("gzip", _GZIP_MAGIC, _GzipStream)
        case CompressionFormat.BZIP2:
            return _ConcatenatedStreams("bzip2", _BZIP2_MAGIC, bz2.BZ2Decompressor)
        case CompressionFormat.XZ:
            return _ConcatenatedStreams(
                "xz",
                _XZ_MAGIC,
                lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=XZ_MEMORY_LIMIT_BYTES),
            )
        case CompressionFormat.ZSTD:
            return _ZstdFrames()


# What each library raises for bad data (bz2 raises a bare OSError).
_DECODER_ERRORS = (zlib.error, OSError, EOFError, lzma.LZMAError, zstandard.ZstdError)


class Decompressor:
    """Undoes one compression while the compressed bytes stream in.

    ``feed()`` yields the decompressed bytes in pieces of at most about
    :data:`OUTPUT_CHUNK_BYTES`; ``finish()`` says whether the compressed input ended where
    a stream may end. Corrupt input raises ``ImageRejectedError`` naming the format.
    """

    def __init__(self, compression: CompressionFormat) -> None:
        self.compression = compression
        self.input_bytes = 0
        self.output_bytes = 0
        self._engine = _new_engine(compression)

    def feed(self, data: Buffer) -> Iterator[bytes]:
        """Decompress the next compressed bytes; yield the output as it is produced.

        The caller must consume the generator before feeding again; ``data`` is not kept
        once the generator is exhausted.

        Raises:
            ImageRejectedError: the bytes are not a valid stream of this format.
        """
        self.input_bytes += len(data)
        output = self._step(data)
        # Bounded: each pass yields output or drains what the decoder still holds, and a
        # decoder that holds nothing more needs input.
        while True:
            if output:
                self.output_bytes += len(output)
                yield output
            if self._engine.needs_input:
                return
            output = self._step(b"")

    def finish(self) -> None:
        """Check that the compressed input ended at the end of a stream.

        Raises:
            ImageRejectedError: the input stops inside a stream (truncated download or a
                truncated file at the source).
        """
        if not self._engine.complete:
            raise ImageRejectedError(
                f"the {self.compression}-compressed image is truncated: the compressed data "
                f"ends after {self.input_bytes} bytes, before the end of its stream "
                f"({self.output_bytes} bytes decompressed so far)"
            )

    def _step(self, data: Buffer) -> bytes:
        try:
            return self._engine.decompress(data, OUTPUT_CHUNK_BYTES)
        except _DECODER_ERRORS as exc:
            raise ImageRejectedError(
                f"invalid or unsupported {self.compression} stream after {self.input_bytes} "
                f"compressed bytes: {exc}"
            ) from exc


def new_decompressor(prefix: Buffer) -> Decompressor | None:
    """Return a Decompressor for the compression ``prefix`` starts with; None if none."""
    compression = detect_compression(prefix)
    return None if compression is None else Decompressor(compression)
