"""parse_metalink(data): a Metalink v3 or v4 (RFC 5854) document, safely, as a Metalink."""

import math
import xml.etree.ElementTree as StdElementTree
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

import defusedxml
from defusedxml import ElementTree as SafeElementTree

from kvmcloud.agent.downloads.errors import ImageRejectedError, UnsupportedUrlError
from kvmcloud.protocol.checksums import Checksum, ChecksumAlgorithm, ChecksumFormatError

METALINK_V3_NAMESPACE = "http://www.metalinker.org/"
METALINK_V4_NAMESPACE = "urn:ietf:params:xml:ns:metalink"
MAX_DOCUMENT_BYTES = 1024 * 1024
# Every mirror is probed at registration; the server allows the check a few rounds only.
MAX_MIRRORS = 16
MIRROR_SCHEMES = ("http", "https", "nfs")
# Strongest first: the order strongest_checksum() and the choice among <pieces> follow.
ALGORITHM_STRENGTH = (
    ChecksumAlgorithm.SHA512,
    ChecksumAlgorithm.SHA384,
    ChecksumAlgorithm.SHA256,
    ChecksumAlgorithm.SHA224,
    ChecksumAlgorithm.SHA1,
    ChecksumAlgorithm.MD5,
)
_BY_NAME = {algorithm.hashlib_name: algorithm for algorithm in ChecksumAlgorithm}
_TORRENT_TYPES = frozenset({"bittorrent", "torrent"})


class MetalinkError(ImageRejectedError):
    """The document is not a Metalink this agent can use; the message says why."""


@dataclass(frozen=True, slots=True)
class Pieces:
    """Hashes of consecutive ``length_bytes`` slices of the file (the last may be shorter)."""

    algorithm: ChecksumAlgorithm
    length_bytes: int
    hex_digests: tuple[str, ...]

    def expected_length(self, index: int, size_bytes: int | None) -> int:
        """Return how long piece ``index`` is: a full piece unless it is the last one."""
        if size_bytes is None or index < len(self.hex_digests) - 1:
            return self.length_bytes
        return size_bytes - index * self.length_bytes


@dataclass(frozen=True, slots=True)
class SkippedUrl:
    """A ``<url>``/``<metaurl>`` the agent will not use, and why."""

    url: str
    reason: str


@dataclass(frozen=True, slots=True)
class Metalink:
    """The one file a Metalink describes: its mirrors (best first) and its hashes."""

    version: int
    name: str
    size_bytes: int | None
    mirrors: tuple[str, ...]
    checksums: tuple[Checksum, ...]
    pieces: Pieces | None
    skipped: tuple[SkippedUrl, ...] = ()

    def strongest_checksum(self) -> Checksum | None:
        """Return the strongest whole-file hash (SHA-512 first, MD5 last); None if none."""
        by_algorithm = {checksum.algorithm: checksum for checksum in self.checksums}
        for algorithm in ALGORITHM_STRENGTH:
            if algorithm in by_algorithm:
                return by_algorithm[algorithm]
        return None


def parse_metalink(data: bytes) -> Metalink:
    """Parse a Metalink document describing exactly one file.

    DTDs, entities and external references are refused (defusedxml), as are documents
    over :data:`MAX_DOCUMENT_BYTES`. Mirrors are ordered by v4 ``priority`` ascending or v3
    ``preference`` descending, a missing one last, ties in document order; torrents and
    schemes other than http, https and nfs are skipped. Piece hashes are kept apart from
    the whole-file hashes and never stand in for one.

    Raises:
        MetalinkError: the document is too large, not well-formed XML, not a Metalink, or
            describes other than one file or has a malformed size or hash.
        UnsupportedUrlError: no mirror has a scheme the agent can download.
    """
    if len(data) > MAX_DOCUMENT_BYTES:
        raise MetalinkError(f"Metalink document is larger than {MAX_DOCUMENT_BYTES} bytes; refused")
    root = _parse_xml(data)
    if root.tag == f"{{{METALINK_V4_NAMESPACE}}}metalink":
        return _parse_file(_only_file(root.findall(f"{{{METALINK_V4_NAMESPACE}}}file")), 4)
    if root.tag == f"{{{METALINK_V3_NAMESPACE}}}metalink":
        files = root.findall(f"{{{METALINK_V3_NAMESPACE}}}files/{{{METALINK_V3_NAMESPACE}}}file")
        return _parse_file(_only_file(files), 3)
    raise MetalinkError(
        f"document is not a Metalink: root element is {root.tag!r}, expected <metalink> in "
        f"namespace {METALINK_V4_NAMESPACE!r} (v4) or {METALINK_V3_NAMESPACE!r} (v3)"
    )


def _parse_xml(data: bytes) -> Element:
    try:
        root: Element = SafeElementTree.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DefusedXmlException as exc:
        raise MetalinkError(
            f"Metalink document refused: it declares a DTD, entities or external references "
            f"({type(exc).__name__})"
        ) from exc
    except StdElementTree.ParseError as exc:
        raise MetalinkError(f"Metalink document is not well-formed XML: {exc}") from exc
    return root


def _only_file(files: list[Element]) -> Element:
    # A template is one image: picking one of several files would be a guess.
    if len(files) != 1:
        raise MetalinkError(f"Metalink describes {len(files)} files; a template needs exactly 1")
    return files[0]


def _parse_file(file: Element, version: int) -> Metalink:
    ns = METALINK_V4_NAMESPACE if version == 4 else METALINK_V3_NAMESPACE
    verification = file if version == 4 else file.find(f"{{{ns}}}verification")
    hash_elements = [] if verification is None else verification.findall(f"{{{ns}}}hash")
    pieces_elements = [] if verification is None else verification.findall(f"{{{ns}}}pieces")
    urls = (
        file.findall(f"{{{ns}}}url")
        if version == 4
        else file.findall(f"{{{ns}}}resources/{{{ns}}}url")
    )
    size_bytes = _size(file.find(f"{{{ns}}}size"))
    mirrors, skipped = _mirrors(urls, version)
    skipped += tuple(
        SkippedUrl(_text(metaurl), f"a <metaurl> ({metaurl.get('mediatype', 'unknown')})")
        for metaurl in file.findall(f"{{{ns}}}metaurl")
    )
    if not mirrors:
        reasons = "; ".join(f"{entry.url or '(empty)'}: {entry.reason}" for entry in skipped)
        raise UnsupportedUrlError(
            "Metalink lists no mirror the agent can download (http, https or nfs)"
            + (f": {reasons}" if reasons else "")
        )
    return Metalink(
        version=version,
        name=file.get("name", ""),
        size_bytes=size_bytes,
        mirrors=mirrors,
        checksums=_whole_file_checksums(hash_elements),
        pieces=_strongest_pieces(pieces_elements, ns, size_bytes),
        skipped=skipped,
    )


def _text(element: Element) -> str:
    return (element.text or "").strip()


def _size(element: Element | None) -> int | None:
    if element is None:
        return None
    text = _text(element)
    if not text.isdigit():
        raise MetalinkError(f"Metalink <size> must be a non-negative integer, not {text!r}")
    return int(text)


def _mirrors(urls: list[Element], version: int) -> tuple[tuple[str, ...], tuple[SkippedUrl, ...]]:
    ranked: list[tuple[float, int, str]] = []
    skipped: list[SkippedUrl] = []
    for position, element in enumerate(urls):
        url = _text(element)
        reason = _unusable(url, element.get("type", ""))
        if reason is not None:
            skipped.append(SkippedUrl(url, reason))
            continue
        ranked.append((_rank(element, version), position, url))
    # sort() is stable and position breaks ties anyway: equal ranks keep document order.
    ranked.sort()
    kept = [url for _, _, url in ranked[:MAX_MIRRORS]]
    skipped += [
        SkippedUrl(url, f"beyond the first {MAX_MIRRORS} mirrors")
        for _, _, url in ranked[MAX_MIRRORS:]
    ]
    return tuple(kept), tuple(skipped)


def _unusable(url: str, declared_type: str) -> str | None:
    """Return why the agent will not download ``url``; None when it will."""
    if not url:
        return "empty URL"
    if declared_type.strip().lower() in _TORRENT_TYPES or url.lower().endswith(".torrent"):
        return "a torrent"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "malformed URL"
    scheme = parts.scheme.lower()
    if not scheme or not parts.netloc:
        return "not an absolute URL"
    if scheme not in MIRROR_SCHEMES:
        return f"scheme {scheme!r} is not downloaded (only {', '.join(MIRROR_SCHEMES)})"
    return None


def _rank(element: Element, version: int) -> float:
    """Sort key: lower is better; a missing or malformed attribute sorts last."""
    attribute = "priority" if version == 4 else "preference"
    text = element.get(attribute, "").strip()
    if not text.isdigit():
        return math.inf
    # v4: priority 1 is the best; v3: preference 100 is the best.
    return float(int(text)) if version == 4 else -float(int(text))


def _algorithm(name: str) -> ChecksumAlgorithm | None:
    return _BY_NAME.get(name.replace("-", "").replace("_", "").strip().lower())


def _checksum(algorithm: ChecksumAlgorithm, element: Element, what: str) -> Checksum:
    try:
        return Checksum.parse(f"{{{algorithm.value}}}{''.join(_text(element).split())}")
    except ChecksumFormatError as exc:
        raise MetalinkError(f"Metalink {what} is malformed: {exc}") from exc


def _whole_file_checksums(elements: list[Element]) -> tuple[Checksum, ...]:
    found: dict[ChecksumAlgorithm, Checksum] = {}
    for element in elements:
        algorithm = _algorithm(element.get("type", ""))
        if algorithm is None:
            continue  # e.g. sha3-256, crc32: the agent verifies what it can, others exist
        checksum = _checksum(algorithm, element, f"{algorithm} hash")
        previous = found.setdefault(algorithm, checksum)
        if previous != checksum:
            raise MetalinkError(f"Metalink gives two different {algorithm} hashes for the file")
    return tuple(found.values())


def _strongest_pieces(elements: list[Element], ns: str, size_bytes: int | None) -> Pieces | None:
    candidates: dict[ChecksumAlgorithm, Element] = {}
    for element in elements:
        algorithm = _algorithm(element.get("type", ""))
        if algorithm is not None:
            candidates.setdefault(algorithm, element)
    for algorithm in ALGORITHM_STRENGTH:
        if algorithm in candidates:
            return _pieces(algorithm, candidates[algorithm], ns, size_bytes)
    return None


def _pieces(
    algorithm: ChecksumAlgorithm, element: Element, ns: str, size_bytes: int | None
) -> Pieces:
    length_text = element.get("length", "").strip()
    if not length_text.isdigit() or int(length_text) == 0:
        raise MetalinkError(f"Metalink <pieces> length must be a positive integer: {length_text!r}")
    length = int(length_text)
    hashes = element.findall(f"{{{ns}}}hash")
    if ns == METALINK_V3_NAMESPACE:
        # v3 numbers its pieces; they must be exactly 0..n-1, in any document order.
        numbered = {hash_element.get("piece", "").strip(): hash_element for hash_element in hashes}
        if sorted(numbered) != sorted(str(index) for index in range(len(hashes))):
            raise MetalinkError("Metalink v3 piece hashes must be numbered 0 to n-1, once each")
        hashes = [numbered[str(index)] for index in range(len(hashes))]
    digests = tuple(
        _checksum(algorithm, hash_element, f"{algorithm} hash of piece {index}").hex_digest
        for index, hash_element in enumerate(hashes)
    )
    if not digests:
        raise MetalinkError("Metalink <pieces> has no piece hashes")
    if size_bytes is not None and len(digests) != math.ceil(size_bytes / length):
        raise MetalinkError(
            f"Metalink has {len(digests)} piece hashes, but a file of {size_bytes} bytes in "
            f"pieces of {length} bytes has {math.ceil(size_bytes / length)}"
        )
    return Pieces(algorithm=algorithm, length_bytes=length, hex_digests=digests)
