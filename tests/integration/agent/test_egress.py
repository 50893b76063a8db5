"""Defect 5 (SSRF) at the agent: the egress policy holds for every connection it makes."""

import hashlib
import socket
import threading
from collections.abc import Iterator

import pytest

from kvmcloud.agent.downloads.base import DownloadRequest
from kvmcloud.agent.downloads.errors import DownloadError, SourceRefusedError
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.agent.downloads.metalink import MetalinkDownloader
from kvmcloud.protocol.agent_messages import Timeouts
from kvmcloud.protocol.egress import REFUSED, EgressPolicy
from kvmcloud.protocol.error_codes import ErrorCode
from tests.support.egress import LOOPBACK_POLICY
from tests.support.metalink import meta4
from tests.support.origin import Origin
from tests.unit.agent.fakes import MemorySink

FAST = Timeouts(connect_s=2, read_s=1, request_s=2, total_s=20)
DATA = bytes(range(256)) * 1024
SHA256 = hashlib.sha256(DATA).hexdigest()
# Only the first origin's address: the others on 127.0.0.0/8 stay denied by default.
ONLY_127_0_0_2 = EgressPolicy.parse(allow=["127.0.0.2/32"])


@pytest.fixture
def downloader() -> HttpDownloader:
    return HttpDownloader(buffer_size_bytes=64 * 1024, reconnect_pause_s=0.01)


@pytest.fixture
def allowed() -> Iterator[Origin]:
    with Origin(host="127.0.0.2", files={"/t.raw": DATA}) as server:
        yield server


@pytest.fixture
def denied() -> Iterator[Origin]:
    with Origin(host="127.0.0.3", files={"/t.raw": DATA}) as server:
        yield server


def requests_seen(origin: Origin, path: str) -> int:
    stats = origin.stats(path, settle_s=0.2)
    return stats.get_requests + stats.head_count


@pytest.mark.parametrize("host", ["127.0.0.1", "0x7f.1", "2130706433", "0177.0.0.1", "127.1"])
def test_the_default_policy_refuses_loopback_in_every_spelling(
    downloader: HttpDownloader, origin: Origin, host: str
) -> None:
    origin.files["/t.raw"] = DATA
    url = origin.url("/t.raw", host=host)

    with pytest.raises(SourceRefusedError, match=REFUSED) as caught:
        downloader.probe(DownloadRequest(url=url, timeouts=FAST))

    assert caught.value.code is ErrorCode.EGRESS_REFUSED
    assert "127.0.0.1" in str(caught.value) and "is a loopback address" in str(caught.value)
    # Nothing was attempted: an open port and a closed one look the same.
    assert requests_seen(origin, "/t.raw") == 0
    with pytest.raises(SourceRefusedError):
        downloader.fetch(DownloadRequest(url=url, timeouts=FAST), MemorySink())
    assert requests_seen(origin, "/t.raw") == 0


def test_a_closed_port_is_refused_in_the_same_words_as_an_open_one(
    downloader: HttpDownloader, origin: Origin
) -> None:
    origin.files["/t.raw"] = DATA
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    messages = []
    for port in (origin.port, closed):
        with pytest.raises(SourceRefusedError) as caught:
            downloader.probe(DownloadRequest(url=f"http://127.0.0.1:{port}/x", timeouts=FAST))
        messages.append(str(caught.value).replace(str(port), "P"))

    assert messages[0] == messages[1]


def test_a_name_is_checked_by_the_addresses_it_resolves_to(
    downloader: HttpDownloader, origin: Origin
) -> None:
    origin.files["/t.raw"] = DATA

    with pytest.raises(SourceRefusedError, match="host localhost resolves to an address"):
        downloader.probe(DownloadRequest(url=origin.url("/t.raw", host="localhost"), timeouts=FAST))

    assert requests_seen(origin, "/t.raw") == 0


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(
    allowed: Origin,
) -> None:
    lookups: list[str] = []

    def resolve(name: str) -> list[str]:
        lookups.append(name)
        return ["127.0.0.2"]

    downloader = HttpDownloader(resolve=resolve)
    request = DownloadRequest(
        url=allowed.url("/t.raw", host="mirror.invalid"), timeouts=FAST, egress=ONLY_127_0_0_2
    )

    info = downloader.probe(request)
    sink = MemorySink()
    downloader.fetch(request, sink)

    # "mirror.invalid" exists in no DNS: only the checked address can have been used.
    assert info.physical_size_bytes == len(DATA)
    assert hashlib.sha256(sink.data).hexdigest() == SHA256
    assert lookups and set(lookups) == {"mirror.invalid"}


def test_a_name_with_one_denied_address_is_refused(allowed: Origin) -> None:
    downloader = HttpDownloader(resolve=lambda name: ["127.0.0.2", "127.0.0.3"])
    request = DownloadRequest(
        url=allowed.url("/t.raw", host="mirror.invalid"), timeouts=FAST, egress=ONLY_127_0_0_2
    )

    with pytest.raises(SourceRefusedError, match="loopback"):
        downloader.probe(request)

    assert requests_seen(allowed, "/t.raw") == 0


@pytest.mark.parametrize("method", ["probe", "fetch"])
def test_every_redirect_hop_is_checked(
    downloader: HttpDownloader, allowed: Origin, denied: Origin, method: str
) -> None:
    allowed.redirects["/start"] = denied.url("/t.raw")
    request = DownloadRequest(
        url=allowed.url("/start"), timeouts=FAST, follow_redirects=True, egress=ONLY_127_0_0_2
    )

    def run() -> None:
        if method == "probe":
            downloader.probe(request)
        else:
            downloader.fetch(request, MemorySink())

    with pytest.raises(SourceRefusedError) as caught:
        run()

    assert str(caught.value) == (
        f"{REFUSED}: 127.0.0.3 is a loopback address, denied by default "
        f"(URL {denied.url('/t.raw')})"
    )
    assert requests_seen(denied, "/t.raw") == 0


def test_a_redirect_to_an_allowed_hop_is_followed(
    downloader: HttpDownloader, allowed: Origin, denied: Origin
) -> None:
    denied.redirects["/start"] = allowed.url("/t.raw")
    policy = EgressPolicy.parse(allow=["127.0.0.2", "127.0.0.3"])
    request = DownloadRequest(
        url=denied.url("/start"), timeouts=FAST, follow_redirects=True, egress=policy
    )

    assert downloader.probe(request).physical_size_bytes == len(DATA)


def test_a_metalink_mirror_at_a_denied_address_is_refused_and_skipped(
    downloader: HttpDownloader, allowed: Origin, denied: Origin
) -> None:
    bad, good = denied.url("/t.raw"), allowed.url("/t.raw")
    allowed.files["/t.meta4"] = meta4([(bad, 1), (good, 2)], size=len(DATA))
    metalink = MetalinkDownloader(inner={"http": downloader})
    request = DownloadRequest(url=allowed.url("/t.meta4"), timeouts=FAST, egress=ONLY_127_0_0_2)

    info = metalink.probe(request)
    sink = MemorySink()
    metalink.fetch(request, sink)

    refused = info.mirrors[0]
    assert (refused.url, refused.ok) == (bad, False)
    assert refused.error is not None and refused.error.code is ErrorCode.EGRESS_REFUSED
    assert REFUSED in refused.error.message
    assert info.mirrors[1].ok
    assert hashlib.sha256(sink.data).hexdigest() == SHA256
    assert requests_seen(denied, "/t.raw") == 0


def test_a_metalink_whose_every_mirror_is_denied_fails_as_egress_refused(
    downloader: HttpDownloader, allowed: Origin, denied: Origin
) -> None:
    allowed.files["/t.meta4"] = meta4([(denied.url("/t.raw"), 1)])
    metalink = MetalinkDownloader(inner={"http": downloader})
    request = DownloadRequest(url=allowed.url("/t.meta4"), timeouts=FAST, egress=ONLY_127_0_0_2)

    with pytest.raises(SourceRefusedError, match="no mirror of Metalink"):
        metalink.fetch(request, MemorySink())


def test_the_metalink_document_itself_is_checked(
    downloader: HttpDownloader, denied: Origin
) -> None:
    denied.files["/t.meta4"] = meta4([(denied.url("/t.raw"), 1)])
    metalink = MetalinkDownloader(inner={"http": downloader})

    with pytest.raises(SourceRefusedError, match=REFUSED):
        metalink.probe(DownloadRequest(url=denied.url("/t.meta4"), timeouts=FAST))

    assert requests_seen(denied, "/t.meta4") == 0


class _RawServer:
    """Answers every connection with fixed bytes: a service that is not a web server."""

    def __init__(self, reply: bytes) -> None:
        self._reply = reply
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    connection.recv(65536)
                    connection.sendall(self._reply)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 500 SECRET-BANNER redis 7.2\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 404 SECRET-BANNER\r\nContent-Length: 0\r\n\r\n",
        b"-ERR SECRET-BANNER unknown command\r\n",
        b"SSH-2.0-OpenSSH_9.2 SECRET-BANNER\r\n",
    ],
)
def test_what_an_allowed_source_says_is_never_echoed(
    downloader: HttpDownloader, reply: bytes
) -> None:
    server = _RawServer(reply)
    try:
        with pytest.raises(DownloadError) as caught:
            downloader.probe(
                DownloadRequest(
                    url=f"http://127.0.0.1:{server.port}/x", timeouts=FAST, egress=LOOPBACK_POLICY
                )
            )
    finally:
        server.close()

    assert "SECRET-BANNER" not in str(caught.value)
