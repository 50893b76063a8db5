"""parse_range(): the one byte range of a ``Range`` request header a file is served for (pure)."""

import re
from dataclasses import dataclass

_SINGLE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class UnsatisfiableRangeError(ValueError):
    """The range asks for no byte of the file (HTTP 416)."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``first`` to ``last`` inclusive of a file of ``size`` bytes."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        """How many bytes the range holds."""
        return self.last - self.first + 1

    def content_range(self) -> str:
        """The ``Content-Range`` header value of a 206 answer."""
        return f"bytes {self.first}-{self.last}/{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """Return the range to serve, or None to serve the whole file (RFC 9110 §14.2).

    Only a single range is honoured; a header that does not parse, or asks for several
    ranges, is ignored as the RFC allows, and the whole file is served.

    Raises:
        UnsatisfiableRangeError: the range starts past the end (or the file is empty).
    """
    match = _SINGLE_RANGE.match(header) if header else None
    if match is None:
        return None
    start_text, end_text = match.groups()
    if not start_text and not end_text:
        return None
    if not start_text:
        suffix = int(end_text)
        if suffix == 0 or size == 0:
            raise UnsatisfiableRangeError(f"bytes */{size}")
        return ByteRange(max(0, size - suffix), size - 1, size)
    first = int(start_text)
    if end_text and int(end_text) < first:
        return None
    if first >= size:
        raise UnsatisfiableRangeError(f"bytes */{size}")
    last = int(end_text) if end_text else size - 1
    return ByteRange(first, min(last, size - 1), size)
