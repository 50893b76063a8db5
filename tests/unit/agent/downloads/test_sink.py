import bz2
import errno
import gzip
import hashlib
import lzma
import os
from pathlib import Path

import pytest
import zstandard

from kvmcloud.agent.downloads.base import BufferedImageSink
from kvmcloud.agent.downloads.decompress import CompressionFormat
from kvmcloud.agent.downloads.errors import ImageRejectedError, PoolFullError
from kvmcloud.agent.downloads.sink import WRITE_CHUNK_BYTES, PoolFileSink
from kvmcloud.protocol.checksums import Checksum, ChecksumMismatch, ChecksumVerifier

IMAGE = b"QFI\xfb" + (hashlib.sha256(b"image").digest() * 4096 + bytes(200_000)) * 3


def verifier_for(data: bytes) -> ChecksumVerifier:
    return Checksum.parse(hashlib.sha256(data).hexdigest()).new_verifier()


def feed(sink: PoolFileSink, data: bytes, chunk: int = 65536) -> None:
    view = memoryview(data)
    for offset in range(0, len(data), chunk):
        sink.write(view[offset : offset + chunk])


def feed_and_finish(sink: PoolFileSink, data: bytes, chunk: int = 65536) -> None:
    """Feed and finish: the sink's threads report errors on a later call, at the latest here."""
    feed(sink, data, chunk)
    sink.finish()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "t.part"


def test_uncompressed_bytes_land_as_they_are_and_are_hashed(path):
    with PoolFileSink(path, verifier_for(IMAGE)) as sink:
        feed(sink, IMAGE)
        sink.finish()

        assert sink.compression is None
        assert sink.received_bytes == sink.output_bytes == len(IMAGE)
        assert sink.verifier is not None
        sink.verifier.verify()
    assert path.read_bytes() == IMAGE


@pytest.mark.parametrize(
    ("compress", "compression"),
    [
        (gzip.compress, CompressionFormat.GZIP),
        (bz2.compress, CompressionFormat.BZIP2),
        (lzma.compress, CompressionFormat.XZ),
        (zstandard.ZstdCompressor().compress, CompressionFormat.ZSTD),
    ],
)
def test_compressed_source_is_hashed_as_served_and_written_decompressed(
    path, compress, compression
):
    served = compress(IMAGE)
    with PoolFileSink(path, verifier_for(served)) as sink:
        feed(sink, served, chunk=10_000)
        sink.finish()

        assert sink.compression is compression
        assert sink.received_bytes == len(served)
        assert sink.output_bytes == len(IMAGE)
        assert sink.verifier is not None
        sink.verifier.verify()  # the digest is of the compressed bytes
    assert path.read_bytes() == IMAGE


def test_magic_split_over_tiny_writes_is_still_detected(path):
    served = lzma.compress(IMAGE)  # xz: the longest magic, 6 bytes
    with PoolFileSink(path, None) as sink:
        for byte in served[:7]:
            sink.write(bytes([byte]))
        sink.write(served[7:])
        sink.finish()
        assert sink.compression is CompressionFormat.XZ
    assert path.read_bytes() == IMAGE


def test_source_shorter_than_any_magic_is_written_at_finish(path):
    with PoolFileSink(path, verifier_for(b"abc")) as sink:
        sink.write(b"abc")
        assert path.read_bytes() == b""  # still deciding
        sink.finish()
        assert sink.verifier is not None
        sink.verifier.verify()
    assert path.read_bytes() == b"abc"


def test_empty_source_gives_an_empty_file(path):
    with PoolFileSink(path, None) as sink:
        sink.finish()
    assert path.read_bytes() == b""


def test_restart_truncates_and_resets_hash_and_decompressor(path):
    served = gzip.compress(IMAGE)
    with PoolFileSink(path, verifier_for(IMAGE)) as sink:
        feed(sink, served[: len(served) // 2])  # a gzip source, abandoned half-way
        sink.restart()
        assert (sink.received_bytes, sink.output_bytes, sink.compression) == (0, 0, None)
        assert path.stat().st_size == 0

        feed(sink, IMAGE)  # the source changed into an uncompressed image
        sink.finish()

        assert sink.verifier is not None
        sink.verifier.verify()
    assert path.read_bytes() == IMAGE


def test_restart_gives_a_new_verifier_with_the_same_expected_digest(path):
    verifier = verifier_for(IMAGE)
    with PoolFileSink(path, verifier) as sink:
        sink.write(b"wrong bytes")
        sink.restart()
        feed(sink, IMAGE)
        sink.finish()
        assert sink.verifier is not verifier
        assert sink.verifier is not None
        sink.verifier.verify()
    with pytest.raises(ChecksumMismatch):
        verifier.verify()


def test_truncated_compressed_source_is_rejected_at_finish(path):
    served = zstandard.ZstdCompressor().compress(IMAGE)
    with PoolFileSink(path, None) as sink:
        feed(sink, served[:-10])
        with pytest.raises(ImageRejectedError, match="zstd-compressed image is truncated"):
            sink.finish()


def test_corrupt_compressed_source_is_rejected_by_a_later_call(path):
    served = bytearray(bz2.compress(IMAGE))
    served[100:120] = bytes(20)
    with PoolFileSink(path, None) as sink, pytest.raises(ImageRejectedError, match="bzip2"):
        feed_and_finish(sink, bytes(served))


def test_bomb_is_refused_before_it_fills_the_pool(path):
    bomb = gzip.compress(bytes(64 * 1024 * 1024))
    limit = 5 * 1024 * 1024
    with PoolFileSink(path, None, max_output_bytes=limit) as sink:
        with pytest.raises(PoolFullError, match=f"decompressed from gzip, grows past {limit}"):
            feed_and_finish(sink, bomb, chunk=len(bomb))
        assert sink.output_bytes <= limit
    assert path.stat().st_size <= limit


def test_uncompressed_image_larger_than_the_bound_is_refused(path):
    with (
        PoolFileSink(path, None, max_output_bytes=len(IMAGE) - 1) as sink,
        pytest.raises(PoolFullError, match="the image grows past"),
    ):
        feed_and_finish(sink, IMAGE)


def test_image_exactly_at_the_bound_is_fine(path):
    with PoolFileSink(path, None, max_output_bytes=len(IMAGE)) as sink:
        feed(sink, IMAGE)
        sink.finish()
    assert path.stat().st_size == len(IMAGE)


def test_small_pieces_are_gathered_into_large_writes(path, monkeypatch):
    sizes: list[int] = []
    real_pwrite = os.pwrite

    def spy(fd, data, offset):
        sizes.append(len(data))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", spy)
    with PoolFileSink(path, None) as sink:
        feed(sink, IMAGE, chunk=4096)
        sink.finish()
    assert path.read_bytes() == IMAGE
    assert all(size >= WRITE_CHUNK_BYTES for size in sizes[:-1])


def test_write_errors_propagate_as_oserror(path, monkeypatch):
    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with (
        PoolFileSink(path, None) as sink,
        pytest.raises(OSError, match="No space left") as caught,
    ):
        feed_and_finish(sink, bytes(2 * WRITE_CHUNK_BYTES))
    assert caught.value.errno == errno.ENOSPC


def test_finish_fsyncs(path, monkeypatch):
    synced: list[int] = []
    monkeypatch.setattr("os.fsync", synced.append)
    with PoolFileSink(path, None) as sink:
        sink.write(IMAGE)
        sink.finish()
        assert synced == [sink._fd]


def test_lent_buffers_take_the_bytes_without_a_copy(path):
    served = IMAGE + b"tail that is not a multiple of the block size"
    with PoolFileSink(path, verifier_for(served), buffer_bytes=65536) as sink:
        assert isinstance(sink, BufferedImageSink)
        view = memoryview(served)
        # Bounded: every pass commits at least one byte.
        while view:
            space = sink.buffer()
            count = min(len(space), len(view), 50_000)
            space[:count] = view[:count]
            sink.commit(count)
            view = view[count:]
        assert sink.received_bytes == len(served)
        sink.finish()
        assert sink.verifier is not None
        sink.verifier.verify()
        assert sink.output_bytes == len(served)
    assert path.read_bytes() == served


def test_commit_of_more_than_the_buffer_is_refused(path):
    with PoolFileSink(path, None, buffer_bytes=8192) as sink:
        space = sink.buffer()
        with pytest.raises(ValueError, match="commit"):
            sink.commit(len(space) + 1)


def test_restart_forgets_a_partly_filled_buffer(path):
    with PoolFileSink(path, verifier_for(IMAGE)) as sink:
        sink.buffer()[:5] = b"wrong"
        sink.commit(5)
        sink.restart()
        feed(sink, IMAGE)
        sink.finish()
        assert sink.verifier is not None
        sink.verifier.verify()
    assert path.read_bytes() == IMAGE


def test_buffered_writes_when_the_filesystem_refuses_direct_io(path, monkeypatch):
    real_pwrite = os.pwrite
    refused: list[int] = []

    def refuse_once(fd, data, offset):
        if not refused:
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", refuse_once)
    with PoolFileSink(path, None) as sink:
        feed(sink, IMAGE)
        sink.finish()
        assert not sink.direct
    assert refused and path.read_bytes() == IMAGE


def test_without_direct_io_the_file_is_the_same(path):
    with PoolFileSink(path, verifier_for(IMAGE), direct=False) as sink:
        feed(sink, IMAGE, chunk=100_000)
        sink.finish()
        assert not sink.direct
    assert path.read_bytes() == IMAGE


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_track_digest_hashes_what_was_accepted_since_byte_0(path, algorithm):
    with PoolFileSink(path, verifier_for(IMAGE)) as sink:
        digest = sink.track_digest(algorithm)
        sink.write(b"garbage")
        sink.restart()
        feed(sink, IMAGE)
        assert digest() == hashlib.new(algorithm, IMAGE).hexdigest()
        sink.finish()
    assert path.read_bytes() == IMAGE


def test_track_digest_after_the_first_byte_is_refused(path):
    with PoolFileSink(path, None) as sink:
        sink.write(b"x")
        with pytest.raises(ValueError, match="before the first byte"):
            sink.track_digest("sha256")
