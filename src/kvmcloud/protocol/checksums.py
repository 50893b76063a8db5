"""Checksum.parse("{SHA-256}…") and the streaming ChecksumVerifier both sides use.

CloudStack's convention is ``{ALGORITHM}hexdigest``. We accept what CloudStack accepts and
fix its known weaknesses (reference section 9, item 3): algorithm names are matched without
regard to case or dashes (``SHA-256``, ``sha256``, ``SHA256``), hex digits in either case, and
a bare digest has its algorithm inferred from its length (32 → MD5 as in CloudStack, 40 →
SHA-1, 56 → SHA-224, 64 → SHA-256, 96 → SHA-384, 128 → SHA-512).
"""

import hashlib
import hmac
import string
from dataclasses import dataclass
from enum import StrEnum


class ChecksumAlgorithm(StrEnum):
    """A supported digest; the value is CloudStack's canonical spelling."""

    MD5 = "MD5"
    SHA1 = "SHA-1"
    SHA224 = "SHA-224"
    SHA256 = "SHA-256"
    SHA384 = "SHA-384"
    SHA512 = "SHA-512"

    @property
    def hashlib_name(self) -> str:
        """Name of the algorithm in :mod:`hashlib`."""
        return self.value.replace("-", "").lower()

    @property
    def hex_length(self) -> int:
        """Number of hex digits in a digest of this algorithm."""
        return _HEX_LENGTHS[self]


_HEX_LENGTHS = {
    ChecksumAlgorithm.MD5: 32,
    ChecksumAlgorithm.SHA1: 40,
    ChecksumAlgorithm.SHA224: 56,
    ChecksumAlgorithm.SHA256: 64,
    ChecksumAlgorithm.SHA384: 96,
    ChecksumAlgorithm.SHA512: 128,
}
_BY_LENGTH = {length: algorithm for algorithm, length in _HEX_LENGTHS.items()}
_BY_NAME = {algorithm.hashlib_name: algorithm for algorithm in ChecksumAlgorithm}
_HEX_DIGITS = frozenset(string.hexdigits)


class ChecksumFormatError(ValueError):
    """The checksum string is malformed; the message says what is wrong."""


class ChecksumMismatch(Exception):  # noqa: N818 - a fact, raised by verify(); callers wrap it
    """The computed digest differs from the expected one."""

    def __init__(self, expected: "Checksum", actual_hex: str) -> None:
        super().__init__(f"checksum mismatch: expected {expected}, got {actual_hex}")
        self.expected = expected
        self.actual_hex = actual_hex


@dataclass(frozen=True, slots=True)
class Checksum:
    """An algorithm and a lower-case hex digest."""

    algorithm: ChecksumAlgorithm
    hex_digest: str

    @classmethod
    def parse(cls, text: str) -> "Checksum":
        """Parse ``{ALGORITHM}hex`` or a bare hex digest.

        Raises:
            ChecksumFormatError: unknown algorithm, non-hex digits or a wrong length.
        """
        text = text.strip()
        if not text:
            raise ChecksumFormatError("checksum is empty")
        algorithm: ChecksumAlgorithm | None = None
        digest = text
        if text.startswith("{"):
            end = text.find("}")
            if end < 0:
                raise ChecksumFormatError("checksum has '{' without a closing '}'")
            name, digest = text[1:end].strip(), text[end + 1 :].strip()
            if name:
                algorithm = _algorithm_named(name)
        if not digest:
            raise ChecksumFormatError("checksum has no digest after the algorithm")
        if not _HEX_DIGITS.issuperset(digest):
            raise ChecksumFormatError("checksum digest must contain only hexadecimal digits")
        if algorithm is None:
            algorithm = _BY_LENGTH.get(len(digest))
            if algorithm is None:
                lengths = ", ".join(str(n) for n in sorted(_BY_LENGTH))
                raise ChecksumFormatError(
                    f"checksum digest of {len(digest)} hex digits matches no algorithm "
                    f"(expected one of {lengths}, or an {{ALGORITHM}} prefix)"
                )
        if len(digest) != algorithm.hex_length:
            raise ChecksumFormatError(
                f"{algorithm} digest length should be {algorithm.hex_length} "
                f"instead of {len(digest)}"
            )
        return cls(algorithm=algorithm, hex_digest=digest.lower())

    def __str__(self) -> str:
        return f"{{{self.algorithm}}}{self.hex_digest}"

    def new_verifier(self) -> "ChecksumVerifier":
        """Start a streaming verification against this checksum."""
        return ChecksumVerifier(self)


def _algorithm_named(name: str) -> ChecksumAlgorithm:
    key = name.replace("-", "").replace("_", "").lower()
    try:
        return _BY_NAME[key]
    except KeyError:
        supported = ", ".join(a.value for a in ChecksumAlgorithm)
        raise ChecksumFormatError(
            f"checksum algorithm '{name}' is not supported (use one of {supported})"
        ) from None


class ChecksumVerifier:
    """Feed bytes as they stream by; verify() compares the digest at the end."""

    def __init__(self, expected: Checksum) -> None:
        self.expected = expected
        self._hash = hashlib.new(expected.algorithm.hashlib_name)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Add the next chunk of the stream."""
        self._hash.update(data)

    def hex_digest(self) -> str:
        """Return the digest of everything fed so far."""
        return self._hash.hexdigest()

    def verify(self) -> None:
        """Raise ChecksumMismatch unless the stream matched the expected digest."""
        actual = self.hex_digest()
        if not hmac.compare_digest(actual, self.expected.hex_digest):
            raise ChecksumMismatch(self.expected, actual)
