"""Fakes for the agent's seams: a Downloader serving bytes from memory, a fake qemu-img."""

import threading
from dataclasses import dataclass, field
from pathlib import Path

from kvmcloud.agent.downloads.base import DownloadRequest, Fetched, SourceInfo
from kvmcloud.agent.downloads.errors import DownloadCancelledError, DownloadError
from kvmcloud.agent.host.qemu_img import ImageInfo
from kvmcloud.protocol.checksums import ChecksumVerifier


@dataclass
class FakeDownloader:
    """Serves ``bodies[url]`` in chunks; ``errors[url]`` is raised instead when set."""

    bodies: dict[str, bytes] = field(default_factory=dict)
    errors: dict[str, DownloadError] = field(default_factory=dict)
    chunk_size_bytes: int = 4096
    announce_size: bool = True
    fetches: list[str] = field(default_factory=list)
    # Set after the first chunk is written; lets a test act mid-transfer.
    first_chunk_written: threading.Event = field(default_factory=threading.Event)
    # When set, fetch() waits for it after the first chunk (until cancelled).
    hold: threading.Event | None = None

    def probe(self, request: DownloadRequest) -> SourceInfo:
        if request.url in self.errors:
            raise self.errors[request.url]
        size = len(self.bodies[request.url])
        return SourceInfo(size, size)

    def fetch(
        self, request: DownloadRequest, into: Path, verifier: ChecksumVerifier | None
    ) -> Fetched:
        self.fetches.append(request.url)
        if request.url in self.errors:
            raise self.errors[request.url]
        body = self.bodies[request.url]
        total = len(body) if self.announce_size else None
        request.progress(0, total)
        done = 0
        with into.open("wb") as out:
            for offset in range(0, len(body), self.chunk_size_bytes):
                if request.cancel.is_set():
                    raise DownloadCancelledError(f"cancelled after {done} bytes")
                chunk = body[offset : offset + self.chunk_size_bytes]
                out.write(chunk)
                out.flush()
                if verifier is not None:
                    verifier.update(chunk)
                done += len(chunk)
                request.progress(done, total)
                self.first_chunk_written.set()
                if self.hold is not None:
                    # Bounded: returns when released or cancelled, at most 10 s.
                    for _ in range(1000):
                        if self.hold.is_set() or request.cancel.is_set():
                            break
                        self.hold.wait(0.01)
        return Fetched(into, done)


@dataclass
class FakeQemuImg:
    """Answers ``info()`` with ``image`` (or raises ``error``), recording the paths seen."""

    image: ImageInfo = field(
        default_factory=lambda: ImageInfo(
            format="qcow2",
            virtual_size_bytes=10 * 1024 * 1024,
            actual_size_bytes=None,
            backing_file=None,
        )
    )
    error: Exception | None = None
    paths: list[Path] = field(default_factory=list)

    def info(self, path: Path) -> ImageInfo:
        assert path.exists(), f"qemu-img asked about a missing file {path}"
        self.paths.append(path)
        if self.error is not None:
            raise self.error
        return self.image
