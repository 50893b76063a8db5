import hashlib

import pytest

from kvmcloud.protocol.checksums import (
    Checksum,
    ChecksumAlgorithm,
    ChecksumFormatError,
    ChecksumMismatch,
    ChecksumVerifier,
)

DATA = b"kvmcloud direct download test payload\n" * 1000

HASHLIB_NAMES = {
    ChecksumAlgorithm.MD5: "md5",
    ChecksumAlgorithm.SHA1: "sha1",
    ChecksumAlgorithm.SHA224: "sha224",
    ChecksumAlgorithm.SHA256: "sha256",
    ChecksumAlgorithm.SHA384: "sha384",
    ChecksumAlgorithm.SHA512: "sha512",
}
CANONICAL = {
    ChecksumAlgorithm.MD5: "MD5",
    ChecksumAlgorithm.SHA1: "SHA-1",
    ChecksumAlgorithm.SHA224: "SHA-224",
    ChecksumAlgorithm.SHA256: "SHA-256",
    ChecksumAlgorithm.SHA384: "SHA-384",
    ChecksumAlgorithm.SHA512: "SHA-512",
}
HEX_LENGTHS = {
    ChecksumAlgorithm.MD5: 32,
    ChecksumAlgorithm.SHA1: 40,
    ChecksumAlgorithm.SHA224: 56,
    ChecksumAlgorithm.SHA256: 64,
    ChecksumAlgorithm.SHA384: 96,
    ChecksumAlgorithm.SHA512: 128,
}


def digest_of(algorithm: ChecksumAlgorithm, data: bytes = DATA) -> str:
    return hashlib.new(HASHLIB_NAMES[algorithm], data).hexdigest()


@pytest.mark.parametrize("algorithm", list(ChecksumAlgorithm))
def test_canonical_prefix(algorithm):
    hex_digest = digest_of(algorithm)

    parsed = Checksum.parse(f"{{{CANONICAL[algorithm]}}}{hex_digest}")

    assert parsed == Checksum(algorithm, hex_digest)
    assert len(hex_digest) == HEX_LENGTHS[algorithm] == algorithm.hex_length


@pytest.mark.parametrize(
    ("name", "algorithm"),
    [
        ("md5", ChecksumAlgorithm.MD5),
        ("Md5", ChecksumAlgorithm.MD5),
        ("SHA1", ChecksumAlgorithm.SHA1),
        ("Sha-1", ChecksumAlgorithm.SHA1),
        ("sha1", ChecksumAlgorithm.SHA1),
        ("sha-224", ChecksumAlgorithm.SHA224),
        ("sha256", ChecksumAlgorithm.SHA256),
        ("SHA256", ChecksumAlgorithm.SHA256),
        ("sha-256", ChecksumAlgorithm.SHA256),
        ("Sha-256", ChecksumAlgorithm.SHA256),
        ("SHA384", ChecksumAlgorithm.SHA384),
        ("sha-512", ChecksumAlgorithm.SHA512),
        ("SHA512", ChecksumAlgorithm.SHA512),
    ],
)
def test_algorithm_aliases(name, algorithm):
    hex_digest = digest_of(algorithm)

    assert Checksum.parse(f"{{{name}}}{hex_digest}") == Checksum(algorithm, hex_digest)


def test_upper_case_hex_is_normalised_to_lower():
    hex_digest = digest_of(ChecksumAlgorithm.SHA256)

    parsed = Checksum.parse("{SHA-256}" + hex_digest.upper())

    assert parsed.hex_digest == hex_digest


def test_surrounding_whitespace_is_ignored():
    hex_digest = digest_of(ChecksumAlgorithm.SHA1)

    assert Checksum.parse(f"  {{SHA-1}}{hex_digest}\n") == Checksum(
        ChecksumAlgorithm.SHA1, hex_digest
    )


@pytest.mark.parametrize("algorithm", list(ChecksumAlgorithm))
def test_bare_digest_algorithm_inferred_from_length(algorithm):
    hex_digest = digest_of(algorithm)

    assert Checksum.parse(hex_digest) == Checksum(algorithm, hex_digest)


def test_bare_upper_case_digest():
    hex_digest = digest_of(ChecksumAlgorithm.MD5)

    assert Checksum.parse(hex_digest.upper()) == Checksum(ChecksumAlgorithm.MD5, hex_digest)


def test_empty_braces_with_32_hex_is_md5():
    hex_digest = digest_of(ChecksumAlgorithm.MD5)

    assert Checksum.parse("{}" + hex_digest) == Checksum(ChecksumAlgorithm.MD5, hex_digest)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{CRC32}" + "a" * 8, "'CRC32' is not supported"),
        ("{SHA-3}" + "a" * 64, "'SHA-3' is not supported"),
        ("{SHA-256}" + "g" * 64, "only hexadecimal digits"),
        ("{MD5}" + "0x" + "a" * 30, "only hexadecimal digits"),
        ("{MD5}" + "a" * 64, "MD5 digest length should be 32 instead of 64"),
        ("{SHA-256}" + "a" * 40, "SHA-256 digest length should be 64 instead of 40"),
        ("a" * 30, "30 hex digits matches no algorithm"),
        ("", "empty"),
        ("   ", "empty"),
        ("{SHA-256" + "a" * 64, "without a closing '}'"),
        ("{SHA-256}", "no digest"),
    ],
)
def test_parse_errors_say_what_is_wrong(text, fragment):
    with pytest.raises(ChecksumFormatError) as info:
        Checksum.parse(text)

    assert fragment in str(info.value)


def test_unknown_algorithm_message_lists_supported_ones():
    with pytest.raises(ChecksumFormatError) as info:
        Checksum.parse("{whirlpool}" + "a" * 128)

    for name in CANONICAL.values():
        assert name in str(info.value)


def test_format_error_is_a_value_error():
    assert issubclass(ChecksumFormatError, ValueError)


@pytest.mark.parametrize("algorithm", list(ChecksumAlgorithm))
def test_str_round_trip(algorithm):
    hex_digest = digest_of(algorithm)
    parsed = Checksum.parse(f"{{{HASHLIB_NAMES[algorithm]}}}{hex_digest.upper()}")

    assert str(parsed) == f"{{{CANONICAL[algorithm]}}}{hex_digest}"
    assert Checksum.parse(str(parsed)) == parsed


@pytest.mark.parametrize("algorithm", list(ChecksumAlgorithm))
@pytest.mark.parametrize("chunk_size", [1, 7, 4096, len(DATA)])
def test_streaming_verifier_matches_hashlib(algorithm, chunk_size):
    verifier = Checksum(algorithm, digest_of(algorithm)).new_verifier()
    view = memoryview(DATA)

    for start in range(0, len(DATA), chunk_size):
        verifier.update(view[start : start + chunk_size])

    assert verifier.hex_digest() == digest_of(algorithm)
    verifier.verify()


def test_verifier_accepts_bytes_bytearray_and_memoryview():
    verifier = ChecksumVerifier(Checksum.parse(digest_of(ChecksumAlgorithm.SHA256, b"abcdef")))

    verifier.update(b"ab")
    verifier.update(bytearray(b"cd"))
    verifier.update(memoryview(b"ef"))

    verifier.verify()


def test_verifier_against_upper_case_input_checksum():
    checksum = Checksum.parse("{SHA-256}" + digest_of(ChecksumAlgorithm.SHA256).upper())
    verifier = checksum.new_verifier()

    verifier.update(DATA)

    verifier.verify()


def test_mismatch_carries_expected_and_actual():
    expected = Checksum.parse("{SHA-256}" + "0" * 64)
    verifier = expected.new_verifier()
    verifier.update(DATA)

    with pytest.raises(ChecksumMismatch) as info:
        verifier.verify()

    assert info.value.expected == expected
    assert info.value.actual_hex == digest_of(ChecksumAlgorithm.SHA256)
    assert str(expected) in str(info.value)
    assert digest_of(ChecksumAlgorithm.SHA256) in str(info.value)


def test_truncated_stream_mismatches():
    verifier = Checksum.parse(digest_of(ChecksumAlgorithm.MD5)).new_verifier()
    verifier.update(DATA[:-1])

    with pytest.raises(ChecksumMismatch):
        verifier.verify()


@pytest.mark.parametrize(
    ("data", "hex_digest"),
    [
        (b"abc_10499", "0006b0937ea9cc2065e594848eb23ace266c16c1519cce4c1efa7e9268c766a5"),
        (b"abc_1573", "000b3ccb41c3d2219ca3a3b80a6a533c"),
    ],
)
def test_digest_with_leading_zeros(data, hex_digest):
    assert hashlib.new(Checksum.parse(hex_digest).algorithm.hashlib_name, data).hexdigest() == (
        hex_digest
    )
    verifier = Checksum.parse(hex_digest).new_verifier()
    verifier.update(data)

    assert verifier.hex_digest() == hex_digest
    verifier.verify()
