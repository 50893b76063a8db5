"""Fakes for the agent's seams: a Downloader and an ImageSink in memory, qemu-img, libvirt."""

import dataclasses
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from kvmcloud.agent.downloads.base import DownloadRequest, ImageSink, SourceInfo
from kvmcloud.agent.downloads.errors import DownloadCancelledError, DownloadError
from kvmcloud.agent.host.qemu_img import ImageInfo
from kvmcloud.agent.vms.errors import VmFailureError, VmNotFoundError
from kvmcloud.protocol.agent_messages import VmPowerState


@dataclass
class MemorySink:
    """An ImageSink keeping the bytes in memory; counts writes and restarts."""

    data: bytearray = field(default_factory=bytearray)
    writes: int = 0
    restarts: int = 0

    @property
    def received_bytes(self) -> int:
        return len(self.data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data
        self.writes += 1

    def restart(self) -> None:
        self.data.clear()
        self.restarts += 1


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

    def fetch(self, request: DownloadRequest, sink: ImageSink) -> None:
        self.fetches.append(request.url)
        if request.url in self.errors:
            raise self.errors[request.url]
        body = self.bodies[request.url]
        total = len(body) if self.announce_size else None
        request.progress(sink.received_bytes, total)
        for offset in range(sink.received_bytes, len(body), self.chunk_size_bytes):
            if request.cancel.is_set():
                raise DownloadCancelledError(f"cancelled after {sink.received_bytes} bytes")
            sink.write(body[offset : offset + self.chunk_size_bytes])
            request.progress(sink.received_bytes, total)
            self.first_chunk_written.set()
            if self.hold is not None:
                # Bounded: returns when released or cancelled, at most 10 s.
                for _ in range(1000):
                    if self.hold.is_set() or request.cancel.is_set():
                        break
                    self.hold.wait(0.01)


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


@dataclass
class FakeVolumeImages:
    """Plays qemu-img for volumes: files it creates hold their ImageInfo as JSON.

    ``images`` describes files it did not create (template copies), by file name.
    ``create_error`` is raised by ``create()`` instead of writing anything.
    """

    images: dict[str, ImageInfo] = field(default_factory=dict)
    create_error: Exception | None = None
    created: list[dict[str, object]] = field(default_factory=list)

    def info(self, path: Path) -> ImageInfo:
        if path.name in self.images:
            return self.images[path.name]
        data = json.loads(path.read_text())
        return ImageInfo(**data)

    def create(
        self,
        path: Path,
        *,
        size_bytes: int | None,
        backing: Path | None = None,
        backing_format: str | None = None,
    ) -> None:
        self.created.append(
            {"path": path, "size_bytes": size_bytes, "backing": backing, "format": backing_format}
        )
        if self.create_error is not None:
            path.write_text("half-written")
            raise self.create_error
        virtual_size = size_bytes
        if virtual_size is None:
            assert backing is not None
            virtual_size = self.info(backing).virtual_size_bytes
        info = ImageInfo(
            format="qcow2",
            virtual_size_bytes=virtual_size,
            actual_size_bytes=196608,
            backing_file=str(backing) if backing is not None else None,
            backing_format=backing_format,
        )
        path.write_text(json.dumps(dataclasses.asdict(info)))


@dataclass
class FakeDomain:
    xml: str
    state: VmPowerState = VmPowerState.STOPPED
    cdrom: str | None = None


@dataclass
class FakeHypervisor:
    """Plays LibvirtHost in memory; ``error`` is raised by every call when set."""

    domains: dict[str, FakeDomain] = field(default_factory=dict)
    networks: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, bytes] = field(default_factory=dict)
    error: Exception | None = None
    calls: list[tuple[object, ...]] = field(default_factory=list)

    def start(self, name: str, xml: str) -> VmPowerState:
        self._call("start", name)
        domain = self.domains.setdefault(name, FakeDomain(xml))
        domain.xml = xml
        domain.state = VmPowerState.RUNNING
        return domain.state

    def stop(self, name: str, *, forced: bool, graceful_timeout_s: float) -> VmPowerState:
        self._call("stop", name, forced, graceful_timeout_s)
        domain = self._domain(name)
        domain.state = VmPowerState.STOPPED
        return domain.state

    def reset(self, name: str) -> VmPowerState:
        self._call("reset", name)
        domain = self._domain(name)
        if domain.state is not VmPowerState.RUNNING:
            raise VmFailureError(f"cannot reset domain {name!r}: domain is not running")
        return domain.state

    def destroy_and_undefine(self, name: str) -> bool:
        self._call("destroy_and_undefine", name)
        return self.domains.pop(name, None) is not None

    def set_cdrom(self, name: str, iso_path: str | None) -> VmPowerState:
        self._call("set_cdrom", name, iso_path)
        domain = self._domain(name)
        domain.cdrom = iso_path
        return domain.state

    def states(self) -> dict[str, VmPowerState]:
        self._call("states")
        return {name: domain.state for name, domain in self.domains.items()}

    def ensure_network(self, name: str, xml: str) -> None:
        self._call("ensure_network", name)
        self.networks.setdefault(name, xml)

    def ensure_secret(self, secret_uuid: str, xml: str, value: bytes) -> None:
        self._call("ensure_secret", secret_uuid)
        self.secrets[secret_uuid] = value

    def remove_network(self, name: str) -> bool:
        self._call("remove_network", name)
        return self.networks.pop(name, None) is not None

    def _call(self, *call: object) -> None:
        self.calls.append(call)
        if self.error is not None:
            raise self.error

    def _domain(self, name: str) -> FakeDomain:
        if name not in self.domains:
            raise VmNotFoundError(f"there is no kvmcloud domain named {name!r} on this host")
        return self.domains[name]
