"""Builders for Metalink v3 and v4 documents in tests: meta4(), metalink_v3(), pieces_of()."""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr


@dataclass(frozen=True)
class PieceList:
    """``<pieces length=… type=…>`` with one hex digest per piece."""

    type: str
    length: int
    digests: Sequence[str]


def pieces_of(data: bytes, length: int, type_: str = "sha-256") -> PieceList:
    """Return the piece hashes of ``data`` in pieces of ``length`` bytes."""
    name = type_.replace("-", "").lower()
    digests = [
        hashlib.new(name, data[offset : offset + length]).hexdigest()
        for offset in range(0, len(data), length)
    ]
    return PieceList(type_, length, digests)


def meta4(
    mirrors: Sequence[tuple[str, int | None]],
    *,
    size: int | None = None,
    hashes: Mapping[str, str] | None = None,
    pieces: PieceList | None = None,
    name: str = "image",
    extra: str = "",
    files: int = 1,
) -> bytes:
    """A Metalink v4 (RFC 5854) document; ``mirrors`` are ``(url, priority or None)``."""
    body = [f"<size>{size}</size>"] if size is not None else []
    body += [f"<hash type={quoteattr(t)}>{h}</hash>" for t, h in (hashes or {}).items()]
    if pieces is not None:
        body.append(f'<pieces length="{pieces.length}" type={quoteattr(pieces.type)}>')
        body += [f"<hash>{digest}</hash>" for digest in pieces.digests]
        body.append("</pieces>")
    for url, priority in mirrors:
        attribute = f' priority="{priority}"' if priority is not None else ""
        body.append(f"<url{attribute}>{escape(url)}</url>")
    body.append(extra)
    file = f"<file name={quoteattr(name)}>{''.join(body)}</file>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<metalink xmlns="urn:ietf:params:xml:ns:metalink">'
        f"<generator>kvmcloud tests</generator>{file * files}</metalink>"
    ).encode()


def metalink_v3(
    mirrors: Sequence[tuple[str, int | None, str]],
    *,
    size: int | None = None,
    hashes: Mapping[str, str] | None = None,
    pieces: PieceList | None = None,
    piece_order: Sequence[int] | None = None,
) -> bytes:
    """A Metalink v3 document; ``mirrors`` are ``(url, preference or None, type)``."""
    verification = [f"<hash type={quoteattr(t)}>{h}</hash>" for t, h in (hashes or {}).items()]
    if pieces is not None:
        order = piece_order if piece_order is not None else range(len(pieces.digests))
        verification.append(f'<pieces length="{pieces.length}" type={quoteattr(pieces.type)}>')
        verification += [f'<hash piece="{i}">{pieces.digests[i]}</hash>' for i in order]
        verification.append("</pieces>")
    urls = []
    for url, preference, type_ in mirrors:
        attribute = f' preference="{preference}"' if preference is not None else ""
        urls.append(f"<url type={quoteattr(type_)}{attribute}>{escape(url)}</url>")
    size_element = f"<size>{size}</size>" if size is not None else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<metalink version="3.0" xmlns="http://www.metalinker.org/"><files><file name="image">'
        f"{size_element}<verification>{''.join(verification)}</verification>"
        f"<resources>{''.join(urls)}</resources></file></files></metalink>"
    ).encode()
