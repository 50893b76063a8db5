import gzip
import hashlib
import io

import pytest
import zstandard

from kvmcloud.agent.downloads.errors import ImageRejectedError, PoolFullError
from kvmcloud.agent.rbd.errors import RbdStreamRestartError
from kvmcloud.agent.rbd.sink import RbdStreamSink
from kvmcloud.protocol.checksums import Checksum, ChecksumMismatch

IMAGE = b"\xeb\x3c\x90" + bytes(range(256)) * 4000


def feed(sink: RbdStreamSink, data: bytes, piece: int) -> None:
    for offset in range(0, len(data), piece):
        sink.write(data[offset : offset + piece])
    sink.finish()


@pytest.mark.parametrize("piece", [1, 5, 4096, 1 << 20])
def test_a_raw_source_goes_through_unchanged_and_hashed(piece: int) -> None:
    out = io.BytesIO()
    verifier = Checksum.parse("{SHA-256}" + hashlib.sha256(IMAGE).hexdigest()).new_verifier()
    sink = RbdStreamSink(out, verifier)

    feed(sink, IMAGE, piece)

    assert out.getvalue() == IMAGE
    assert sink.received_bytes == sink.output_bytes == len(IMAGE)
    assert sink.compression is None
    verifier.verify()


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_a_compressed_source_is_hashed_as_published_and_written_decompressed(
    compression: str,
) -> None:
    if compression == "gzip":
        published = gzip.compress(IMAGE)
    else:
        published = zstandard.ZstdCompressor().compress(IMAGE)
    out = io.BytesIO()
    verifier = Checksum.parse("{SHA-256}" + hashlib.sha256(published).hexdigest()).new_verifier()
    sink = RbdStreamSink(out, verifier)

    feed(sink, published, 3)

    assert out.getvalue() == IMAGE
    assert sink.received_bytes == len(published)
    assert sink.compression is not None
    verifier.verify()


def test_a_wrong_checksum_is_caught_by_the_caller() -> None:
    verifier = Checksum.parse("{SHA-256}" + "0" * 64).new_verifier()
    sink = RbdStreamSink(io.BytesIO(), verifier)
    feed(sink, IMAGE, 1000)

    with pytest.raises(ChecksumMismatch):
        verifier.verify()


def test_a_tiny_source_is_written_at_finish() -> None:
    out = io.BytesIO()
    sink = RbdStreamSink(out, None)
    sink.write(b"ab")
    assert out.getvalue() == b""

    sink.finish()

    assert out.getvalue() == b"ab"


def test_a_truncated_compressed_source_is_rejected() -> None:
    sink = RbdStreamSink(io.BytesIO(), None)
    with pytest.raises(ImageRejectedError, match="truncated"):
        feed(sink, gzip.compress(IMAGE)[:-20], 4096)


def test_an_image_bigger_than_the_pool_can_take_is_refused() -> None:
    sink = RbdStreamSink(io.BytesIO(), None, max_output_bytes=len(IMAGE) - 1)
    with pytest.raises(PoolFullError, match=str(len(IMAGE) - 1)):
        feed(sink, gzip.compress(IMAGE), 4096)


def test_restart_fails_the_transfer() -> None:
    sink = RbdStreamSink(io.BytesIO(), None)
    sink.write(IMAGE[:100])
    with pytest.raises(RbdStreamRestartError, match="after 100 bytes"):
        sink.restart()
