import contextlib
import os
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from kvmcloud.agent.downloads.base import DownloadRequest
from kvmcloud.agent.downloads.errors import (
    DownloadCancelledError,
    DownloadTimeoutError,
    SourceDeniedError,
    SourceNotFoundError,
    SourceUnavailableError,
)
from kvmcloud.agent.downloads.nfs import NfsDownloader
from kvmcloud.agent.host import commands
from kvmcloud.agent.host.commands import ProcessStream
from kvmcloud.protocol.agent_messages import Timeouts
from tests.support.egress import LOOPBACK_POLICY
from tests.support.hashing_sink import HashingSink
from tests.support.images import make_qcow2, sha256_of
from tests.support.nfs import GaneshaServer, nfs_or_skip
from tests.support.processes import free_port, process_gone

pytestmark = pytest.mark.allow_commands("nfs-ls", "nfs-cat")

FAST = Timeouts(connect_s=3, request_s=3, read_s=3, total_s=30)
QCOW2_VIRTUAL_BYTES = 8 * 1024 * 1024
BIG_BYTES = 48 * 1024 * 1024


def request(url: str, **kwargs: object) -> DownloadRequest:
    kwargs.setdefault("timeouts", FAST)
    return DownloadRequest(egress=LOOPBACK_POLICY, url=url, **kwargs)  # type: ignore[arg-type]


class PidSpy:
    """A commands.stream stand-in that records the PID of every process it starts."""

    def __init__(self) -> None:
        self.pids: list[int] = []

    @contextlib.contextmanager
    def __call__(self, argv: Sequence[str], *, timeout_s: float) -> Iterator[ProcessStream]:
        with commands.stream(argv, timeout_s=timeout_s) as running:
            self.pids.append(running.pid)
            yield running


# Against nfs-ganesha on loopback ---------------------------------------------------------


@pytest.fixture(scope="module")
def nfs_server() -> Iterator[GaneshaServer]:
    with nfs_or_skip() as server:
        export = server.export_dir
        make_qcow2(export / "t.qcow2", QCOW2_VIRTUAL_BYTES)
        (export / "t.raw").write_bytes(bytes(range(256)) * 4096)
        (export / "templates").mkdir()
        with (export / "templates" / "big.raw").open("wb") as big:
            # Random-looking but cheap: a 1 MiB block repeated, so the hash covers order.
            block = os.urandom(1024 * 1024)
            for index in range(BIG_BYTES // len(block)):
                big.write(index.to_bytes(8, "big") + block[8:])
        (export / "latest.raw").symlink_to("t.raw")
        (export / "passwd.raw").symlink_to("/etc/passwd")
        secret = server.squashed_dir / "secret.raw"
        secret.write_bytes(b"x" * 4096)
        secret.chmod(stat.S_IRUSR | stat.S_IWUSR)
        (server.squashed_dir / "open.raw").write_bytes(b"y" * 4096)
        yield server


@pytest.fixture
def downloader() -> NfsDownloader:
    return NfsDownloader()


def test_probe_of_qcow2_reads_sizes_from_the_listing_and_the_header(
    nfs_server: GaneshaServer, downloader: NfsDownloader
) -> None:
    info = downloader.probe(request(nfs_server.url("t.qcow2"), image_format="QCOW2"))

    assert info.physical_size_bytes == (nfs_server.export_dir / "t.qcow2").stat().st_size
    assert info.virtual_size_bytes == QCOW2_VIRTUAL_BYTES


def test_probe_of_raw_reports_its_size_twice(
    nfs_server: GaneshaServer, downloader: NfsDownloader
) -> None:
    info = downloader.probe(request(nfs_server.url("t.raw"), image_format="RAW"))

    assert (info.physical_size_bytes, info.virtual_size_bytes) == (1048576, 1048576)


def test_probe_of_a_file_in_a_subdirectory_of_the_export(
    nfs_server: GaneshaServer, downloader: NfsDownloader
) -> None:
    info = downloader.probe(request(nfs_server.url("templates/big.raw"), image_format="RAW"))

    assert info.physical_size_bytes == BIG_BYTES


def test_probe_of_a_missing_file_is_not_found(
    nfs_server: GaneshaServer, downloader: NfsDownloader
) -> None:
    with pytest.raises(SourceNotFoundError, match=r"missing\.qcow2 does not exist"):
        downloader.probe(request(nfs_server.url("missing.qcow2"), image_format="QCOW2"))


def test_probe_of_a_directory_is_not_found(
    nfs_server: GaneshaServer, downloader: NfsDownloader
) -> None:
    with pytest.raises(SourceNotFoundError, match="is a directory"):
        downloader.probe(request(nfs_server.url("templates")))


def test_probe_of_a_path_outside_every_export_is_refused(
    nfs_server: GaneshaServer, downloader: NfsDownloader
) -> None:
    url = nfs_server.url("t.qcow2", directory=nfs_server.directory / "not-exported")

    with pytest.raises(SourceDeniedError, match=r"refused to mount .*MNT3ERR_ACCES"):
        downloader.probe(request(url))


def test_probe_of_a_file_root_may_not_read_is_denied(
    nfs_server: GaneshaServer, downloader: NfsDownloader
) -> None:
    squashed = nfs_server.squashed_dir
    assert downloader.probe(request(nfs_server.url("open.raw", directory=squashed)))

    with pytest.raises(SourceDeniedError, match=r"permission denied .*ACCESS denied"):
        downloader.probe(request(nfs_server.url("secret.raw", directory=squashed)))


def test_probe_of_a_port_nothing_listens_on_is_unavailable(
    nfs_server: GaneshaServer, downloader: NfsDownloader
) -> None:
    url = nfs_server.url("t.raw").replace(f":{nfs_server.port}/", f":{free_port()}/")

    with pytest.raises(SourceUnavailableError, match="cannot reach NFS server"):
        downloader.probe(request(url))


def test_fetch_streams_the_file_into_the_sink_with_progress(
    nfs_server: GaneshaServer, downloader: NfsDownloader
) -> None:
    path = nfs_server.export_dir / "t.qcow2"
    reports: list[tuple[int, int | None]] = []
    sink = HashingSink()

    downloader.fetch(
        request(nfs_server.url("t.qcow2"), progress=lambda d, t: reports.append((d, t))), sink
    )

    size = path.stat().st_size
    assert sink.sha256() == sha256_of(path)
    assert (sink.received_bytes, sink.restarts) == (size, 0)
    assert reports[0] == (0, size)
    assert reports[-1] == (size, size)


def test_fetch_of_a_large_file_uses_large_writes(
    nfs_server: GaneshaServer, downloader: NfsDownloader
) -> None:
    path = nfs_server.export_dir / "templates" / "big.raw"
    sink = HashingSink()
    started = time.monotonic()

    downloader.fetch(request(nfs_server.url("templates/big.raw")), sink)

    assert sink.sha256() == sha256_of(path)
    assert sink.largest_write >= 1024 * 1024
    assert time.monotonic() - started < 15


class CancellingSink(HashingSink):
    """Sets the request's cancel flag once ``after_bytes`` have been written."""

    def __init__(self, cancel: threading.Event, after_bytes: int) -> None:
        super().__init__(after_bytes=after_bytes)
        self._cancel = cancel

    def write(self, data: bytes | bytearray | memoryview) -> None:
        super().write(data)
        if self.reached.is_set():
            self._cancel.set()


def test_cancel_mid_stream_kills_nfs_cat(nfs_server: GaneshaServer) -> None:
    spy = PidSpy()
    downloader = NfsDownloader(stream=spy)
    cancel = threading.Event()
    sink = CancellingSink(cancel, after_bytes=1024 * 1024)

    with pytest.raises(DownloadCancelledError, match="cancelled after"):
        downloader.fetch(request(nfs_server.url("templates/big.raw"), cancel=cancel), sink)

    assert len(spy.pids) == 1
    assert process_gone(spy.pids[0])
    assert sink.received_bytes < BIG_BYTES


def test_a_symbolic_link_in_the_export_is_followed_with_its_size_unknown(
    nfs_server: GaneshaServer, downloader: NfsDownloader
) -> None:
    url = nfs_server.url("latest.raw")
    reports: list[tuple[int, int | None]] = []
    sink = HashingSink()

    info = downloader.probe(request(url, image_format="RAW"))
    downloader.fetch(request(url, progress=lambda d, t: reports.append((d, t))), sink)

    assert (info.physical_size_bytes, info.virtual_size_bytes) == (None, None)
    assert sink.sha256() == sha256_of(nfs_server.export_dir / "t.raw")
    assert reports[-1] == (1048576, None)


def test_a_symbolic_link_out_of_the_export_is_refused(
    nfs_server: GaneshaServer, downloader: NfsDownloader
) -> None:
    with pytest.raises(SourceDeniedError, match="symbolic link out of the export"):
        downloader.probe(request(nfs_server.url("passwd.raw")))


def test_fetch_of_a_missing_file_fails_before_any_byte(
    nfs_server: GaneshaServer, downloader: NfsDownloader
) -> None:
    sink = HashingSink()

    with pytest.raises(SourceNotFoundError):
        downloader.fetch(request(nfs_server.url("missing.raw")), sink)

    assert (sink.received_bytes, sink.restarts) == (0, 0)


# Against scripted stand-ins for nfs-ls and nfs-cat ----------------------------------------

DATA = bytes(range(256)) * 4096  # 1 MiB


class FakeTools:
    """``nfs-ls`` and ``nfs-cat`` shell scripts in a bin directory, told what to do per run.

    ``cat_runs`` holds one shell fragment per nfs-cat run (the last one repeats); each
    sees ``$DATA`` (a file holding DATA). Every run appends its arguments to ``args.log``.
    """

    def __init__(self, directory: Path, cat_runs: Sequence[str], size: int = len(DATA)) -> None:
        self.directory = directory
        (directory / "data").write_bytes(DATA)
        self.log = directory / "args.log"
        for index, fragment in enumerate(cat_runs):
            (directory / f"run{index}.sh").write_text(fragment + "\n")
        last = len(cat_runs) - 1
        self.nfs_cat = self._script(
            "nfs-cat",
            f"""DATA="{directory}/data"
n=$(cat "{directory}/count" 2>/dev/null || echo 0)
echo $((n + 1)) > "{directory}/count"
[ "$n" -gt {last} ] && n={last}
. "{directory}/run$n.sh"
""",
        )
        self.nfs_ls = self._script(
            "nfs-ls",
            f'printf "%s\\n" "-rw-r--r--  1     0     0 {size:12d} t.raw"\n',
        )

    def _script(self, name: str, body: str) -> str:
        path = self.directory / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{self.log}"\n{body}')
        path.chmod(0o755)
        return str(path)

    def downloader(self, **kwargs: object) -> NfsDownloader:
        kwargs.setdefault("retry_pause_s", 0.05)
        return NfsDownloader(nfs_ls=self.nfs_ls, nfs_cat=self.nfs_cat, **kwargs)  # type: ignore[arg-type]

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()


URL = "nfs://127.0.0.1:20490/srv/export/t.raw"
BREAK_HALF_WAY = 'head -c 300000 "$DATA"; echo "Failed to read from file" >&2; exit 10'
WHOLE = 'cat "$DATA"'


def test_tools_get_the_url_rebuilt_with_nfsport_and_no_shell(tmp_path: Path) -> None:
    tools = FakeTools(tmp_path, [WHOLE])

    tools.downloader().fetch(request(URL), HashingSink())

    assert tools.calls() == [
        "nfs-ls nfs://127.0.0.1/srv/export?nfsport=20490",
        "nfs-cat nfs://127.0.0.1/srv/export/t.raw?nfsport=20490",
    ]


def test_a_broken_stream_restarts_once_from_byte_zero(tmp_path: Path) -> None:
    tools = FakeTools(tmp_path, [BREAK_HALF_WAY, WHOLE])
    sink = HashingSink()
    reports: list[tuple[int, int | None]] = []

    tools.downloader().fetch(request(URL, progress=lambda d, t: reports.append((d, t))), sink)

    assert sink.restarts == 1
    assert sink.received_bytes == len(DATA)
    assert sink.sha256() == HashingSink.of(DATA)
    assert reports.count((0, len(DATA))) == 2
    assert reports[-1] == (len(DATA), len(DATA))


def test_a_stream_that_breaks_twice_fails_with_libnfs_words(tmp_path: Path) -> None:
    tools = FakeTools(tmp_path, [BREAK_HALF_WAY])
    sink = HashingSink()

    with pytest.raises(SourceUnavailableError, match="Failed to read from file"):
        tools.downloader().fetch(request(URL), sink)

    assert sink.restarts == 1


def test_a_short_stream_restarts(tmp_path: Path) -> None:
    tools = FakeTools(tmp_path, ['head -c 1000 "$DATA"', WHOLE])
    sink = HashingSink()

    tools.downloader().fetch(request(URL), sink)

    assert (sink.restarts, sink.sha256()) == (1, HashingSink.of(DATA))


def test_a_failure_before_any_byte_is_not_retried(tmp_path: Path) -> None:
    tools = FakeTools(
        tmp_path,
        [
            'echo "Failed to open file /t.raw: open call failed with \\"NFS: ACCESS denied. '
            'Required access r--. Allowed access ---\\"" >&2; exit 10'
        ],
    )
    sink = HashingSink()

    with pytest.raises(SourceDeniedError, match="permission denied"):
        tools.downloader().fetch(request(URL), sink)

    assert sink.restarts == 0
    assert len([c for c in tools.calls() if c.startswith("nfs-cat")]) == 1


STALL_AFTER_DATA = 'head -c 1000 "$DATA"; exec sleep 30'


def test_a_stream_that_stalls_after_data_restarts(tmp_path: Path) -> None:
    tools = FakeTools(tmp_path, [STALL_AFTER_DATA, WHOLE])
    spy = PidSpy()
    timeouts = Timeouts(connect_s=0.5, request_s=0.5, read_s=0.5, total_s=20)
    sink = HashingSink()

    tools.downloader(stream=spy).fetch(request(URL, timeouts=timeouts), sink)

    assert (sink.restarts, sink.sha256()) == (1, HashingSink.of(DATA))
    assert process_gone(spy.pids[0])


def test_a_stream_that_stalls_twice_times_out_and_nfs_cat_is_killed(tmp_path: Path) -> None:
    tools = FakeTools(tmp_path, [STALL_AFTER_DATA])
    spy = PidSpy()
    timeouts = Timeouts(connect_s=0.5, request_s=0.5, read_s=0.5, total_s=20)
    started = time.monotonic()

    with pytest.raises(
        DownloadTimeoutError, match=r"no data from NFS server 127\.0\.0\.1:20490 for 0\.5 s"
    ):
        tools.downloader(stream=spy).fetch(request(URL, timeouts=timeouts), HashingSink())

    assert time.monotonic() - started < 5
    assert len(spy.pids) == 2
    assert all(process_gone(pid) for pid in spy.pids)


def test_silence_before_the_first_byte_is_not_retried(tmp_path: Path) -> None:
    tools = FakeTools(tmp_path, ["exec sleep 30"])
    spy = PidSpy()
    timeouts = Timeouts(connect_s=0.2, request_s=0.2, read_s=0.2, total_s=20)

    with pytest.raises(DownloadTimeoutError, match="connect, response and read timeouts"):
        tools.downloader(stream=spy).fetch(request(URL, timeouts=timeouts), HashingSink())

    assert len(spy.pids) == 1
    assert process_gone(spy.pids[0])


def test_a_sink_already_holding_bytes_is_restarted_first(tmp_path: Path) -> None:
    tools = FakeTools(tmp_path, [WHOLE])
    sink = HashingSink()
    sink.write(DATA[:1000])
    reports: list[tuple[int, int | None]] = []

    tools.downloader().fetch(request(URL, progress=lambda d, t: reports.append((d, t))), sink)

    assert (sink.restarts, sink.sha256()) == (1, HashingSink.of(DATA))
    assert reports[0] == (0, len(DATA))


def test_cancel_during_the_pause_before_a_restart(tmp_path: Path) -> None:
    tools = FakeTools(tmp_path, [BREAK_HALF_WAY, WHOLE])
    cancel = threading.Event()
    sink = CancellingSink(cancel, after_bytes=len(DATA) + 1)  # never reached by itself
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    try:
        with pytest.raises(DownloadCancelledError, match="before restarting"):
            tools.downloader(retry_pause_s=10).fetch(request(URL, cancel=cancel), sink)
    finally:
        timer.cancel()
    assert sink.restarts == 0


def test_the_total_time_limit_stops_a_slow_stream(tmp_path: Path) -> None:
    # A byte every 0.2 s never stalls for read_s, but never finishes in total_s either.
    slow = 'while true; do head -c 1 "$DATA"; sleep 0.2; done'
    tools = FakeTools(tmp_path, [slow])
    timeouts = Timeouts(connect_s=1, request_s=1, read_s=1, total_s=1.5)
    started = time.monotonic()

    with pytest.raises(DownloadTimeoutError):
        tools.downloader().fetch(request(URL, timeouts=timeouts), HashingSink())

    assert time.monotonic() - started < 5
