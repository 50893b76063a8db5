"""Range, If-Range and Content-Range for resuming an HTTP transfer (RFC 9110 §14, §13.1.5)."""

import re
from dataclasses import dataclass

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_STRONG_ETAG = re.compile(r'"[\x21\x23-\x7e\x80-\xff]*"')


@dataclass(frozen=True, slots=True)
class ContentRange:
    """``Content-Range: bytes first-last/complete``; ``complete_length`` None for ``*``."""

    first: int
    last: int
    complete_length: int | None


def parse_content_range(value: str | None) -> ContentRange | None:
    """Parse a 206 response's ``Content-Range``; None when absent or malformed."""
    match = _CONTENT_RANGE.match(value.strip()) if value else None
    if match is None:
        return None
    first, last, complete = match.groups()
    content_range = ContentRange(int(first), int(last), None if complete == "*" else int(complete))
    if content_range.last < content_range.first:
        return None
    return content_range


def resume_validator(etag: str | None, last_modified: str | None) -> str | None:
    """Return what proves, in ``If-Range``, that the object is the one half-received.

    A strong ``ETag`` when the response had one, else its ``Last-Modified`` date; None
    when it had neither, and then a broken transfer must start again from byte 0. A weak
    ETag (``W/"…"``) says "equivalent", not "byte-identical", and RFC 9110 forbids it in
    If-Range.
    """
    if etag is not None and _STRONG_ETAG.fullmatch(etag.strip()):
        return etag.strip()
    if last_modified is not None and last_modified.strip() and last_modified.isprintable():
        return last_modified.strip()
    return None


def resume_headers(offset: int, validator: str | None) -> dict[str, str]:
    """Return the headers asking for the object from byte ``offset`` on.

    With a ``validator`` the server sends the rest (206) only if the object is unchanged,
    and the whole new object (200) otherwise; without one it sends the rest of whatever
    it has (the caller vouches it is the same object, as metalink piece hashes do).

    Raises:
        ValueError: ``offset`` is negative.
    """
    if offset < 0:
        raise ValueError(f"offset must not be negative, not {offset}")
    headers = {"Range": f"bytes={offset}-"}
    if validator is not None:
        headers["If-Range"] = validator
    return headers


def continues_at(content_range: ContentRange | None, offset: int, total: int | None) -> bool:
    """Tell whether a 206 answer is the rest of the expected object from ``offset``."""
    if content_range is None or content_range.first != offset:
        return False
    if content_range.complete_length is None:
        return True
    if total is not None and content_range.complete_length != total:
        return False
    return content_range.last == content_range.complete_length - 1
