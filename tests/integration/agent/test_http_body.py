"""BodyReader against a real origin: straight from the (TLS) socket, whole buffers, no loss."""

import hashlib
import http.client
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmcloud.agent.downloads.base import DownloadRequest
from kvmcloud.agent.downloads.body import DIRECT_MIN_BYTES, BodyReader
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.agent.downloads.sink import PoolFileSink
from kvmcloud.agent.downloads.tls import TrustStore
from kvmcloud.protocol.agent_messages import Timeouts
from kvmcloud.protocol.checksums import Checksum
from tests.support.egress import LOOPBACK_POLICY
from tests.support.origin import Origin

# 3 MiB and a bit of distinct bytes: a lost, repeated or reordered record shows.
IMAGE = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(98_500))
BUFFER_BYTES = 1024 * 1024
FAST = Timeouts(connect_s=2, read_s=2, request_s=2, total_s=20)


@pytest.fixture(params=[True, False], ids=["https", "http"])
def origin(request: pytest.FixtureRequest) -> Iterator[Origin]:
    with Origin(https=request.param) as served:
        served.files["/t.raw"] = IMAGE
        served.files["/small.raw"] = IMAGE[: DIRECT_MIN_BYTES // 2]
        yield served


def get(origin: Origin, path: str) -> tuple[socket.socket, http.client.HTTPResponse]:
    """GET ``path``; the socket as the downloader keeps it (http.client hands it over)."""
    connection: http.client.HTTPConnection
    if origin.tls is not None:
        context = ssl.create_default_context(cadata=origin.ca_pem.decode())
        connection = http.client.HTTPSConnection("127.0.0.1", origin.port, context=context)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", origin.port)
    connection.connect()
    sock = connection.sock
    assert sock is not None
    connection.request("GET", path, headers={"Connection": "close"})
    response = connection.getresponse()
    assert response.status == 200
    return sock, response


def read_all(reader: BodyReader, size: int = BUFFER_BYTES) -> tuple[bytes, list[int]]:
    buffer = memoryview(bytearray(size))
    data, counts = bytearray(), []
    for _ in range(len(IMAGE) // 1024 + 2):  # bounded: far more reads than the body needs
        count = reader.readinto(buffer)
        counts.append(count)
        if not count:
            break
        data += buffer[:count]
    return bytes(data), counts


def test_a_body_is_read_straight_from_the_socket_a_whole_buffer_at_a_time(
    origin: Origin,
) -> None:
    sock, response = get(origin, "/t.raw")
    try:
        reader = BodyReader(response, sock)

        data, counts = read_all(reader)

        assert reader.direct
        assert data == IMAGE
        full, rest = divmod(len(IMAGE), BUFFER_BYTES)
        assert counts == [BUFFER_BYTES] * full + [rest, 0]
        assert reader.readinto(memoryview(bytearray(10))) == 0  # and stays ended
    finally:
        response.close()
        sock.close()


def test_bytes_http_client_already_buffered_come_first(origin: Origin) -> None:
    sock, response = get(origin, "/t.raw")
    try:
        # A small read through http.client leaves the rest of its buffer full of body.
        head = response.read(10)
        reader = BodyReader(response, sock)

        data, _ = read_all(reader)

        assert reader.direct
        assert head + data == IMAGE
    finally:
        response.close()
        sock.close()


def test_a_small_body_stays_with_http_client(origin: Origin) -> None:
    sock, response = get(origin, "/small.raw")
    try:
        reader = BodyReader(response, sock)

        data, _ = read_all(reader)

        assert not reader.direct
        assert data == IMAGE[: DIRECT_MIN_BYTES // 2]
    finally:
        response.close()
        sock.close()


def test_small_reads_then_large_ones_switch_over_without_losing_bytes(origin: Origin) -> None:
    sock, response = get(origin, "/t.raw")
    try:
        reader = BodyReader(response, sock)
        small = memoryview(bytearray(1000))
        head = bytearray()
        for _ in range(3):
            count = reader.readinto(small)
            head += small[:count]
        assert not reader.direct

        data, _ = read_all(reader)

        assert reader.direct
        assert bytes(head) + data == IMAGE
    finally:
        response.close()
        sock.close()


def test_a_body_cut_short_ends_early_without_an_error(origin: Origin) -> None:
    origin.truncate["/t.raw"] = len(IMAGE) // 2 + 12345
    sock, response = get(origin, "/t.raw")
    try:
        reader = BodyReader(response, sock)

        data, counts = read_all(reader)

        # The origin closes the connection (over TLS without close_notify): the body ends
        # where it stopped, and the caller compares with Content-Length.
        assert data == IMAGE[: len(IMAGE) // 2 + 12345]
        assert counts[-1] == 0
    finally:
        response.close()
        sock.close()


def test_a_stalled_body_times_out(origin: Origin) -> None:
    origin.delay_s = 1.0
    sock, response = get(origin, "/t.raw")
    try:
        sock.settimeout(0.2)
        reader = BodyReader(response, sock)

        with pytest.raises(TimeoutError):
            reader.readinto(memoryview(bytearray(BUFFER_BYTES)))
    finally:
        response.close()
        sock.close()


def test_https_into_the_engine_sink_verifies_and_resumes(tmp_path: Path) -> None:
    with Origin(https=True) as origin:
        (tmp_path / "origin.pem").write_bytes(origin.ca_pem)
        origin.files["/t.raw"] = IMAGE
        origin.break_after["/t.raw"] = len(IMAGE) // 2 + 777
        downloader = HttpDownloader(trust=TrustStore(tmp_path), reconnect_pause_s=0.01)
        expected = Checksum.parse(f"{{SHA-256}}{hashlib.sha256(IMAGE).hexdigest()}")
        target = tmp_path / "image.raw"

        with PoolFileSink(target, expected.new_verifier(), direct=False) as sink:
            downloader.fetch(
                DownloadRequest(egress=LOOPBACK_POLICY, url=origin.url("/t.raw"), timeouts=FAST),
                sink,
            )
            sink.finish()
            assert sink.verifier is not None
            sink.verifier.verify()

        assert target.read_bytes() == IMAGE
        assert origin.bytes_sent("/t.raw") <= 1.05 * len(IMAGE)
