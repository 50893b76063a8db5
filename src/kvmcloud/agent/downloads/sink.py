"""PoolFileSink: the engine's ImageSink, a buffer ring hashed and written on two threads."""

import errno
import fcntl
import hashlib
import logging
import mmap
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from kvmcloud.agent.downloads.decompress import (
    MAGIC_PROBE_BYTES,
    Buffer,
    CompressionFormat,
    Decompressor,
    new_decompressor,
)
from kvmcloud.agent.downloads.errors import PoolFullError
from kvmcloud.protocol.checksums import ChecksumVerifier

logger = logging.getLogger(__name__)

# The ring: the downloader reads straight into these buffers (readinto, no copy), the hasher
# thread digests them and the writer thread writes them, all three overlapping. Measured
# here (bench/, docs/performance.md): 4 MiB reads beat 1 MiB by 10 % and 16 MiB by 40 %
# (16 MiB falls out of the CPU caches between the recv and the hash); four buffers keep
# every stage busy. 16 MiB in all, whatever the image size: the agent's memory stays flat.
BUFFER_BYTES = 4 * 1024 * 1024
RING_BUFFERS = 4
# Kept for callers and tests: the sink never writes less than this except the last piece.
WRITE_CHUNK_BYTES = BUFFER_BYTES
# O_DIRECT needs the memory address, the file offset and the length aligned to the logical
# block size; 4096 covers every disk and filesystem in use (mmap buffers are page-aligned).
DIRECT_ALIGN_BYTES = 4096
# A stage that stops moving for this long is a bug or a hung disk: fail instead of hanging.
STALL_LIMIT_S = 600.0
_JOIN_S = 30.0


class _Slot:
    """One ring buffer: page-aligned memory, how much of it holds data, who still needs it."""

    __slots__ = ("length", "memory", "users", "view")

    def __init__(self, size_bytes: int) -> None:
        self.memory = mmap.mmap(-1, size_bytes)
        self.view = memoryview(self.memory)
        self.length = 0
        self.users = 0

    @property
    def data(self) -> memoryview:
        return self.view[: self.length]


class _Stop:
    """Queue marker: the worker thread ends."""


_STOP = _Stop()


class PoolFileSink:
    """Writes one download into ``path``, the pool's temporary file.

    Every byte accepted goes to ``verifier`` as it is (the checksum is of the bytes
    published at the URL); the first bytes decide the compression (gzip, bzip2, xz, zstd,
    by magic number), and the decompressed image is what lands in the file.
    ``max_output_bytes`` bounds the file: a stream that would grow past it (a decompression
    bomb, or simply an image bigger than the pool's free space) is refused with
    ``PoolFullError`` before the pool fills up.

    **Pipeline.** The downloader's thread fills a ring of :data:`RING_BUFFERS` page-aligned
    buffers (:meth:`buffer`/:meth:`commit` with no copy, or :meth:`write` with one); a hasher
    thread feeds the verifier and a writer thread decompresses (if needed) and writes, both
    on the same buffer at once. hashlib and ``os.write`` release the GIL, so the digest, the
    disk and the network each get a core's worth of time. Because the work happens behind
    the caller, an error of the hasher or the writer (``OSError``, ``ImageRejectedError``,
    ``PoolFullError``) is raised by the next call into the sink, at the latest by
    :meth:`finish`.

    **Writes.** Full 4 MiB buffers are written with ``O_DIRECT`` when the filesystem takes
    it. Measured here for 2 GiB (docs/performance.md): buffered writes into fresh page-cache
    pages cost 1.1-1.3 s of system time and make the whole download 1.6x slower than
    O_DIRECT from a writer thread, which costs 0.1 s of CPU and also leaves the host's page
    cache to the VMs. A filesystem that refuses ``O_DIRECT`` (tmpfs, some FUSE and network
    filesystems) gets plain buffered writes of the same size. The tail (under 4 KiB of
    alignment) is written padded and the file truncated to the image's size.

    The file is created (or truncated) on construction; :meth:`close` stops the threads and
    releases it, and the caller, who owns the path, removes it on failure. One transfer:
    the public methods are called from one thread.
    """

    def __init__(
        self,
        path: Path,
        verifier: ChecksumVerifier | None,
        *,
        max_output_bytes: int | None = None,
        direct: bool = True,
        buffer_bytes: int = BUFFER_BYTES,
        buffers: int = RING_BUFFERS,
    ) -> None:
        if buffer_bytes <= 0 or buffer_bytes % DIRECT_ALIGN_BYTES or buffers < 2:
            raise ValueError("buffer_bytes must be a positive multiple of 4096, buffers >= 2")
        self.path = path
        self._initial_verifier = verifier
        self._verifier = verifier
        self._max_output_bytes = max_output_bytes
        self._fd = _open_for_writing(path, direct=direct)
        self._direct = direct and _has_direct_flag(self._fd)
        self._slots = [_Slot(buffer_bytes) for _ in range(buffers)]
        self._free = list(self._slots)
        self._open: _Slot | None = None
        self._lock = threading.Condition()
        self._error: BaseException | None = None
        self._received = 0
        self._restarts = 0
        # Extra whole-stream digests (a Metalink's hash), computed by the hasher thread.
        self._extra: dict[str, hashlib._Hash] = {}
        # Writer-side state: touched by the writer thread, or by the caller once drained.
        self._output_bytes = 0
        self._written = 0
        self._head = bytearray()
        self._decided = False
        self._decompressor: Decompressor | None = None
        self._stage = _Slot(buffer_bytes)
        self._hash_queue: queue.SimpleQueue[_Slot | _Stop] = queue.SimpleQueue()
        self._write_queue: queue.SimpleQueue[_Slot | _Stop] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._hash_loop, name=f"sink-hash-{path.name}", daemon=True),
            threading.Thread(target=self._write_loop, name=f"sink-write-{path.name}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # --- ImageSink ------------------------------------------------------------------------

    @property
    def received_bytes(self) -> int:
        """Bytes of the source accepted so far: where a resumed transfer continues."""
        return self._received

    @property
    def restarts(self) -> int:
        """How many times :meth:`restart` threw away what was received."""
        return self._restarts

    @property
    def output_bytes(self) -> int:
        """Bytes of the image (decompressed) produced so far (exact once drained)."""
        return self._output_bytes

    @property
    def compression(self) -> CompressionFormat | None:
        """The compression found in the first bytes; None if none (or not decided yet)."""
        return None if self._decompressor is None else self._decompressor.compression

    @property
    def direct(self) -> bool:
        """Whether the file is written with O_DIRECT."""
        return self._direct

    @property
    def verifier(self) -> ChecksumVerifier | None:
        """The verifier holding the digest of everything accepted since the last restart.

        Complete once :meth:`finish` has returned.
        """
        return self._verifier

    def buffer(self) -> memoryview:
        """Return free space to read the next bytes of the source into (no copy).

        Valid until the next :meth:`commit`; only the bytes committed count.

        Raises:
            OSError, ImageRejectedError, PoolFullError: a background stage failed.
        """
        slot = self._open_slot()
        return slot.view[slot.length :]

    def commit(self, count: int) -> None:
        """Accept the first ``count`` bytes of the last :meth:`buffer` as the next bytes.

        Raises:
            OSError, ImageRejectedError, PoolFullError: a background stage failed.
        """
        slot = self._open
        if slot is None or count < 0 or slot.length + count > len(slot.view):
            raise ValueError("commit() of more than the last buffer() holds")
        slot.length += count
        self._received += count
        if slot.length == len(slot.view):
            self._submit()

    def write(self, data: Buffer) -> None:
        """Accept the next bytes of the source (copied: ``data`` is not kept).

        Raises:
            OSError, ImageRejectedError, PoolFullError: a background stage failed.
        """
        view = memoryview(data).cast("B")
        # Bounded: every pass copies at least one byte (the open slot has room).
        while view:
            space = self.buffer()
            count = min(len(space), len(view))
            space[:count] = view[:count]
            view = view[count:]
            self.commit(count)

    def restart(self) -> None:
        """Forget everything: empty file, fresh digest, compression undecided.

        Raises:
            OSError: truncating the file failed (or an earlier write did).
        """
        if self._open is not None:
            self._open.length = 0
        self._drain()
        self._raise_error()
        os.ftruncate(self._fd, 0)
        if self._initial_verifier is not None:
            self._verifier = self._initial_verifier.expected.new_verifier()
        self._extra = {name: hashlib.new(name) for name in self._extra}
        self._received = 0
        self._restarts += 1
        self._output_bytes = 0
        self._written = 0
        self._stage.length = 0
        self._head.clear()
        self._decided = False
        self._decompressor = None

    def track_digest(self, hashlib_name: str) -> Callable[[], str]:
        """Also digest the stream with ``hashlib_name``; return how to read the hex digest.

        For a wrapper that checks its own whole-stream hash (a Metalink's): the hasher
        thread computes it next to the verifier's, and reuses the verifier's when the
        algorithm is the same, instead of the wrapper hashing every byte again on the
        downloader's thread. Must be called before the first byte. The returned function
        waits for the bytes accepted so far to be hashed; a :meth:`restart` starts the
        digest over.
        """
        if self._received:
            raise ValueError("track_digest() must be called before the first byte")
        verifier = self._verifier
        if verifier is None or verifier.expected.algorithm.hashlib_name != hashlib_name:
            self._extra[hashlib_name] = hashlib.new(hashlib_name)

        def hex_digest() -> str:
            self._submit()
            self._drain()
            self._raise_error()
            current = self._verifier
            if hashlib_name not in self._extra and current is not None:
                return current.hex_digest()
            return self._extra[hashlib_name].hexdigest()

        return hex_digest

    def finish(self) -> None:
        """Check the source ended properly, write what is pending and fsync the file.

        Raises:
            ImageRejectedError: a compressed source stopped before the end of its stream,
                or was not a valid stream.
            OSError: writing or syncing the file failed.
            PoolFullError: the image grew past ``max_output_bytes``.
        """
        self._submit()
        self._drain()
        self._raise_error()
        if not self._decided:
            self._accept(self._decide(b""))
        if self._decompressor is not None:
            self._decompressor.finish()
        self._flush_stage()
        if self._written != self._output_bytes:
            # The padding of the last O_DIRECT write.
            os.ftruncate(self._fd, self._output_bytes)
        os.fsync(self._fd)

    def close(self) -> None:
        """Stop the threads and release the file (it stays on disk for the caller)."""
        if self._fd < 0:
            return
        for work in (self._hash_queue, self._write_queue):
            work.put(_STOP)
        for thread in self._threads:
            thread.join(_JOIN_S)
            if thread.is_alive():
                logger.error("%s did not stop within %g s", thread.name, _JOIN_S)
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> "PoolFileSink":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the ring -------------------------------------------------------------------------

    def _open_slot(self) -> _Slot:
        if self._open is not None:
            return self._open
        with self._lock:
            self._wait(lambda: bool(self._free) or self._error is not None)
            self._raise_error()
            slot = self._free.pop()
        slot.length = 0
        self._open = slot
        return slot

    def _submit(self) -> None:
        """Hand the open slot to the hasher and the writer (if it holds anything)."""
        slot, self._open = self._open, None
        if slot is None:
            return
        if not slot.length:
            with self._lock:
                self._free.append(slot)
            return
        hashing = self._verifier is not None or bool(self._extra)
        slot.users = 2 if hashing else 1
        if hashing:
            self._hash_queue.put(slot)
        self._write_queue.put(slot)

    def _release(self, slot: _Slot) -> None:
        with self._lock:
            slot.users -= 1
            if slot.users == 0:
                self._free.append(slot)
                self._lock.notify_all()

    def _drain(self) -> None:
        """Wait until the hasher and the writer have finished every submitted slot."""
        with self._lock:
            self._wait(lambda: len(self._free) + (self._open is not None) == len(self._slots))

    def _wait(self, ready: Callable[[], bool]) -> None:
        # Bounded: the workers free a slot per buffer processed, and they always process
        # (after an error they only release); STALL_LIMIT_S catches a hung disk.
        if not self._lock.wait_for(ready, STALL_LIMIT_S):
            raise OSError(
                errno.ETIMEDOUT,
                f"writing {self.path} made no progress for {STALL_LIMIT_S:g} s",
            )

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = exc
            self._lock.notify_all()

    def _raise_error(self) -> None:
        error = self._error
        if error is not None:
            raise error

    def _hash_loop(self) -> None:
        # Bounded: ends at the _STOP that close() always sends.
        while True:
            slot = self._hash_queue.get()
            if isinstance(slot, _Stop):
                return
            try:
                if self._error is None:
                    data = slot.data
                    if self._verifier is not None:
                        self._verifier.update(data)
                    for digest in self._extra.values():
                        digest.update(data)
            except BaseException as exc:  # re-raised in the caller's thread
                self._fail(exc)
            finally:
                self._release(slot)

    def _write_loop(self) -> None:
        # Bounded: ends at the _STOP that close() always sends.
        while True:
            slot = self._write_queue.get()
            if isinstance(slot, _Stop):
                return
            try:
                if self._error is None:
                    self._process(slot.data)
            except BaseException as exc:  # re-raised in the caller's thread
                self._fail(exc)
            finally:
                self._release(slot)

    # --- the writer's side ----------------------------------------------------------------

    def _process(self, data: memoryview) -> None:
        if not self._decided:
            if len(self._head) + len(data) < MAGIC_PROBE_BYTES:
                # The magic numbers are at most 6 bytes; a source may deliver fewer at first.
                self._head += data
                return
            head = self._decide(data)
            if head:
                self._accept(head)
        self._accept(data)

    def _decide(self, data: Buffer) -> bytes:
        """Choose the decompressor from the first bytes; return the held-back head."""
        head = bytes(self._head)
        probe = head + bytes(data[: MAGIC_PROBE_BYTES - len(head)]) if data else head
        self._head.clear()
        self._decided = True
        self._decompressor = new_decompressor(probe)
        return head

    def _accept(self, data: Buffer) -> None:
        if self._decompressor is None:
            self._output(memoryview(data))
            return
        for piece in self._decompressor.feed(data):
            self._output(memoryview(piece))

    def _output(self, piece: memoryview) -> None:
        size = len(piece)
        limit = self._max_output_bytes
        if limit is not None and self._output_bytes + size > limit:
            raise PoolFullError(self._too_large_message())
        self._output_bytes += size
        stage = self._stage
        if not stage.length and size == len(stage.view):
            # A whole ring buffer (the common case): written as it is, no copy.
            self._write_all(piece)
            return
        # Bounded: every pass copies at least one byte into the stage or writes it out.
        while piece:
            count = min(len(stage.view) - stage.length, len(piece))
            stage.view[stage.length : stage.length + count] = piece[:count]
            stage.length += count
            piece = piece[count:]
            if stage.length == len(stage.view):
                self._flush_stage()

    def _flush_stage(self) -> None:
        stage = self._stage
        if not stage.length:
            return
        length = stage.length
        if self._direct and length % DIRECT_ALIGN_BYTES:
            # The tail: padded to the alignment, the file truncated back at finish().
            padded = -(-length // DIRECT_ALIGN_BYTES) * DIRECT_ALIGN_BYTES
            stage.view[length:padded] = bytes(padded - length)
            length = padded
        self._write_all(stage.view[:length])
        stage.length = 0

    def _write_all(self, data: memoryview) -> None:
        # Bounded: every pass writes at least one byte or raises.
        while data:
            try:
                written = os.pwrite(self._fd, data, self._written)
            except OSError as exc:
                if exc.errno != errno.EINVAL or not self._direct:
                    raise
                # The filesystem took the flag at open() but refuses direct I/O now.
                logger.info("O_DIRECT refused writing %s (%s); writing buffered", self.path, exc)
                _clear_direct_flag(self._fd)
                self._direct = False
                continue
            if not written:
                raise OSError(errno.EIO, f"writing {self.path} made no progress")
            self._written += written
            data = data[written:]

    def _too_large_message(self) -> str:
        what = "the image"
        if self._decompressor is not None:
            what = f"the image, decompressed from {self._decompressor.compression},"
        return (
            f"{what} grows past {self._max_output_bytes} bytes, the space available for it "
            f"in the pool (after {self._received} bytes of the source)"
        )


def _open_for_writing(path: Path, *, direct: bool) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    direct_flag = getattr(os, "O_DIRECT", 0)
    if direct and direct_flag:
        try:
            return os.open(path, flags | direct_flag, 0o666)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            logger.info("%s does not take O_DIRECT; writing buffered", path.parent)
    return os.open(path, flags, 0o666)


def _has_direct_flag(fd: int) -> bool:
    direct_flag = getattr(os, "O_DIRECT", 0)
    return bool(direct_flag and fcntl.fcntl(fd, fcntl.F_GETFL) & direct_flag)


def _clear_direct_flag(fd: int) -> None:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~getattr(os, "O_DIRECT", 0))
