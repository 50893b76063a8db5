import bz2
import errno
import gzip
import hashlib
import lzma
from pathlib import Path

import pytest
import zstandard

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


def test_corrupt_compressed_source_is_rejected_while_writing(path):
    served = bytearray(bz2.compress(IMAGE))
    served[100:120] = bytes(20)
    with PoolFileSink(path, None) as sink, pytest.raises(ImageRejectedError, match="bzip2"):
        feed(sink, bytes(served))


def test_bomb_is_refused_before_it_fills_the_pool(path):
    bomb = gzip.compress(bytes(64 * 1024 * 1024))
    limit = 5 * 1024 * 1024
    with PoolFileSink(path, None, max_output_bytes=limit) as sink:
        with pytest.raises(PoolFullError, match=f"decompressed from gzip, grows past {limit}"):
            feed(sink, bomb, chunk=len(bomb))
        assert sink.output_bytes <= limit
    assert path.stat().st_size <= limit


def test_uncompressed_image_larger_than_the_bound_is_refused(path):
    with (
        PoolFileSink(path, None, max_output_bytes=len(IMAGE) - 1) as sink,
        pytest.raises(PoolFullError, match="the image grows past"),
    ):
        feed(sink, IMAGE)


def test_image_exactly_at_the_bound_is_fine(path):
    with PoolFileSink(path, None, max_output_bytes=len(IMAGE)) as sink:
        feed(sink, IMAGE)
        sink.finish()
    assert path.stat().st_size == len(IMAGE)


def test_small_pieces_are_gathered_into_large_writes(path, monkeypatch):
    sizes: list[int] = []
    with PoolFileSink(path, None) as sink:
        real_write = sink._file.write

        def spy(data):
            sizes.append(len(data))
            return real_write(data)

        monkeypatch.setattr(sink._file, "write", spy)
        feed(sink, IMAGE, chunk=4096)
        sink.finish()
    assert path.read_bytes() == IMAGE
    assert all(size >= WRITE_CHUNK_BYTES for size in sizes[:-1])


def test_write_errors_propagate_as_oserror(path, monkeypatch):
    with PoolFileSink(path, None) as sink:

        def full(data):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(sink._file, "write", full)
        with pytest.raises(OSError, match="No space left") as caught:
            sink.write(bytes(2 * WRITE_CHUNK_BYTES))
    assert caught.value.errno == errno.ENOSPC


def test_finish_fsyncs(path, monkeypatch):
    synced: list[int] = []
    monkeypatch.setattr("os.fsync", synced.append)
    with PoolFileSink(path, None) as sink:
        sink.write(IMAGE)
        sink.finish()
        assert synced == [sink._file.fileno()]
