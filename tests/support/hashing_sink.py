"""HashingSink: an ImageSink double that hashes what a downloader writes and counts restarts."""

import hashlib
import threading


class HashingSink:
    """Accepts a source's bytes like the engine's sink, keeping only their sha256.

    ``after_bytes`` / ``reached`` let a test act mid-transfer: ``reached`` is set once that
    many bytes have been written. ``restarts`` counts :meth:`restart` calls.
    """

    def __init__(self, *, after_bytes: int | None = None) -> None:
        self._digest = hashlib.sha256()
        self._received = 0
        self.restarts = 0
        self.writes = 0
        self.largest_write = 0
        self.after_bytes = after_bytes
        self.reached = threading.Event()

    @property
    def received_bytes(self) -> int:
        return self._received

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._digest.update(data)
        self._received += len(data)
        self.writes += 1
        self.largest_write = max(self.largest_write, len(data))
        if self.after_bytes is not None and self._received >= self.after_bytes:
            self.reached.set()

    def restart(self) -> None:
        self._digest = hashlib.sha256()
        self._received = 0
        self.restarts += 1

    def sha256(self) -> str:
        return self._digest.hexdigest()

    @staticmethod
    def of(data: bytes) -> str:
        """The sha256 a sink holds after ``data`` was written to it."""
        return hashlib.sha256(data).hexdigest()
