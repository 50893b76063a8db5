import bz2
import gzip
import hashlib
import lzma
import shutil
import subprocess
import zlib
from collections.abc import Callable

import pytest
import zstandard

from kvmcloud.agent.downloads import decompress as decompress_module
from kvmcloud.agent.downloads.decompress import (
    OUTPUT_CHUNK_BYTES,
    ZSTD_MAX_BLOCK_BYTES,
    CompressionFormat,
    Decompressor,
    detect_compression,
    new_decompressor,
)
from kvmcloud.agent.downloads.errors import ImageRejectedError

# Compressible but not trivially so: repeated random-looking blocks and runs of zeros.
IMAGE = (hashlib.sha256(b"seed").digest() * 2048 + bytes(100_000)) * 6
COMPRESSORS: dict[CompressionFormat, Callable[[bytes], bytes]] = {
    CompressionFormat.GZIP: gzip.compress,
    CompressionFormat.BZIP2: bz2.compress,
    CompressionFormat.XZ: lzma.compress,
    CompressionFormat.ZSTD: zstandard.ZstdCompressor().compress,
}


def decompress(data: bytes, *, chunk: int = 65536) -> tuple[bytes, list[int]]:
    """Feed ``data`` in ``chunk``-sized pieces; return the output and each piece's size."""
    decompressor = new_decompressor(data[:6])
    assert decompressor is not None
    pieces: list[bytes] = []
    view = memoryview(data)
    for offset in range(0, len(data), chunk):
        pieces.extend(decompressor.feed(view[offset : offset + chunk]))
    decompressor.finish()
    return b"".join(pieces), [len(p) for p in pieces]


# detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", list(CompressionFormat))
def test_detects_each_format_by_magic(compression):
    assert detect_compression(COMPRESSORS[compression](b"x")[:6]) is compression


@pytest.mark.parametrize(
    "prefix",
    [b"QFI\xfb\x00\x00", bytes(6), b"\xfa\x31\xc0\x8e\xd8\xbe", b"", b"\x1f", b"BZ", b"\xfd7zXZ"],
)
def test_uncompressed_and_too_short_prefixes_are_not_compressed(prefix):
    assert detect_compression(prefix) is None
    assert new_decompressor(prefix) is None


def test_detection_ignores_file_names_and_uses_only_the_first_bytes():
    assert detect_compression(b"\x1f\x8b" + b"anything") is CompressionFormat.GZIP
    assert detect_compression(b"BZh9" + bytes(100)) is CompressionFormat.BZIP2
    assert detect_compression(b"\x50\x2a\x4d\x18") is CompressionFormat.ZSTD  # skippable


# round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", list(CompressionFormat))
@pytest.mark.parametrize("chunk", [1000, 65536, 4 * 1024 * 1024])
def test_round_trip_in_any_chunking(compression, chunk):
    output, _ = decompress(COMPRESSORS[compression](IMAGE), chunk=chunk)
    assert output == IMAGE


@pytest.mark.parametrize("compression", list(CompressionFormat))
def test_byte_by_byte_feeding(compression):
    small = IMAGE[:20_000]
    output, _ = decompress(COMPRESSORS[compression](small), chunk=1)
    assert output == small


def test_gzip_multi_member_and_nul_padding():
    members = gzip.compress(IMAGE[:5000]) + gzip.compress(IMAGE[5000:]) + bytes(512)
    assert decompress(members, chunk=777)[0] == IMAGE


def test_gzip_with_optional_header_fields():
    # gzip(1) stores the original name (FNAME) and a header CRC with --name; zlib skips both.
    flags = 0x08 | 0x02  # FNAME, FHCRC
    header = b"\x1f\x8b\x08" + bytes([flags]) + bytes(4) + b"\x00\x03" + b"image.qcow2\x00"
    header += (zlib.crc32(header) & 0xFFFF).to_bytes(2, "little")
    body = zlib.compressobj(wbits=-15)
    deflated = body.compress(IMAGE) + body.flush()
    trailer = zlib.crc32(IMAGE).to_bytes(4, "little") + len(IMAGE).to_bytes(4, "little")
    assert decompress(header + deflated + trailer)[0] == IMAGE


def test_bzip2_multi_stream_as_pbzip2_writes():
    streams = bz2.compress(IMAGE[:300_000]) + bz2.compress(IMAGE[300_000:])
    assert decompress(streams, chunk=4096)[0] == IMAGE


def test_xz_multi_stream_with_stream_padding():
    streams = lzma.compress(IMAGE[:1]) + lzma.compress(IMAGE[1:]) + bytes(8)
    assert decompress(streams)[0] == IMAGE


def test_zstd_multi_frame_with_skippable_frame_first_as_pzstd_writes():
    compressor = zstandard.ZstdCompressor(write_checksum=True)
    skippable = b"\x50\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"size"
    frames = skippable + compressor.compress(IMAGE[:1234]) + compressor.compress(IMAGE[1234:])
    assert decompress(frames, chunk=3000)[0] == IMAGE


def test_zstd_frames_with_content_size_dictionary_id_and_raw_blocks():
    # Level -5 with incompressible data produces raw blocks; no content size in the header.
    noise = b"".join(hashlib.sha512(bytes([i, j])).digest() for i in range(64) for j in range(64))
    compressor = zstandard.ZstdCompressor(level=-5, write_content_size=False)
    assert decompress(compressor.compress(noise), chunk=999)[0] == noise


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd CLI not installed")
def test_zstd_made_by_the_cli():
    compressed = subprocess.run(
        ["zstd", "-q", "-c", "-19", "--check"], input=IMAGE, capture_output=True, check=True
    ).stdout
    assert decompress(compressed, chunk=10_000)[0] == IMAGE


@pytest.mark.parametrize("tool", ["gzip", "bzip2", "xz"])
def test_streams_made_by_the_classic_clis(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")
    compressed = subprocess.run([tool, "-c"], input=IMAGE, capture_output=True, check=True).stdout
    assert decompress(compressed)[0] == IMAGE


def test_empty_data_is_a_no_op():
    decompressor = Decompressor(CompressionFormat.GZIP)
    assert list(decompressor.feed(b"")) == []


# bounded output ---------------------------------------------------------------------------


@pytest.mark.parametrize("compression", list(CompressionFormat))
def test_a_bomb_comes_out_in_bounded_pieces(compression):
    zeros = bytes(48 * 1024 * 1024)
    compressed = COMPRESSORS[compression](zeros)
    assert len(compressed) < 200_000  # the point: tiny input, huge output

    # The whole compressed input in one call must still produce bounded pieces.
    output_sizes = decompress(compressed, chunk=len(compressed))[1]

    assert sum(output_sizes) == len(zeros)
    assert max(output_sizes) <= max(OUTPUT_CHUNK_BYTES, 2 * ZSTD_MAX_BLOCK_BYTES)


# truncation and corruption ----------------------------------------------------------------


@pytest.mark.parametrize("compression", list(CompressionFormat))
@pytest.mark.parametrize("keep", [0.5, -1])
def test_truncated_stream_is_refused_at_finish(compression, keep):
    compressed = COMPRESSORS[compression](IMAGE)
    cut = int(len(compressed) * keep) if keep > 0 else len(compressed) - 1
    decompressor = Decompressor(compression)
    for _ in decompressor.feed(compressed[:cut]):
        pass

    with pytest.raises(ImageRejectedError, match=f"{compression}-compressed image is truncated"):
        decompressor.finish()


@pytest.mark.parametrize("compression", list(CompressionFormat))
def test_corrupt_stream_is_refused(compression):
    compressed = bytearray(COMPRESSORS[compression](IMAGE))
    middle = len(compressed) // 2
    compressed[middle : middle + 64] = bytes(b ^ 0x5A for b in compressed[middle : middle + 64])

    with pytest.raises(
        ImageRejectedError, match=f"invalid or unsupported {compression}|{compression}-compressed"
    ):
        decompress(bytes(compressed))


def test_gzip_crc_mismatch_is_refused():
    compressed = bytearray(gzip.compress(IMAGE))
    compressed[-8] ^= 0xFF  # CRC-32 in the trailer

    with pytest.raises(ImageRejectedError, match="invalid or unsupported gzip stream"):
        decompress(bytes(compressed))


def test_zstd_checksum_mismatch_is_refused():
    compressed = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(IMAGE))
    compressed[-1] ^= 0xFF

    with pytest.raises(ImageRejectedError, match="invalid or unsupported zstd stream"):
        decompress(bytes(compressed))


@pytest.mark.parametrize("compression", list(CompressionFormat))
def test_garbage_after_the_stream_is_refused(compression):
    with pytest.raises(ImageRejectedError, match=f"{compression}"):
        decompress(COMPRESSORS[compression](IMAGE) + b"trailing garbage")


def test_garbage_after_nul_padding_is_refused():
    with pytest.raises(ImageRejectedError, match="after the NUL padding"):
        decompress(gzip.compress(IMAGE) + bytes(16) + b"x")


def test_partial_magic_of_a_second_member_is_truncation():
    decompressor = Decompressor(CompressionFormat.XZ)
    for _ in decompressor.feed(lzma.compress(IMAGE) + b"\xfd7z"):
        pass
    with pytest.raises(ImageRejectedError, match="truncated"):
        decompressor.finish()


def test_xz_needing_too_much_memory_is_refused(monkeypatch):
    monkeypatch.setattr(decompress_module, "XZ_MEMORY_LIMIT_BYTES", 1024 * 1024)
    filters = [{"id": lzma.FILTER_LZMA2, "dict_size": 8 * 1024 * 1024}]
    compressed = lzma.compress(b"x", format=lzma.FORMAT_XZ, filters=filters)

    with pytest.raises(
        ImageRejectedError, match=r"invalid or unsupported xz stream.*Memory usage limit"
    ):
        decompress(compressed)


def test_zstd_reserved_block_type_is_refused_before_decoding():
    frame = bytearray(zstandard.ZstdCompressor(write_content_size=False).compress(IMAGE))
    # magic (4) + descriptor (1) + window (1): the first block header follows.
    frame[6] |= 0b110

    with pytest.raises(ImageRejectedError, match="invalid block header"):
        decompress(bytes(frame))
