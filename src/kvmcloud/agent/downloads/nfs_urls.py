"""parse_nfs_url (pure): the rules an ``nfs://`` template URL must meet, and NfsLocation.

NfsDownloader (nfs.py) hands libnfs only URLs rebuilt from a location's checked parts, so
nothing in a template URL reaches libnfs as an option or a shell as a word.
"""

import ipaddress
import re
from dataclasses import dataclass

from kvmcloud.agent.downloads.errors import UnsupportedUrlError
from kvmcloud.protocol.redaction import redact_url

SCHEME = "nfs"
MAX_URL_CHARS = 1024
MAX_HOST_CHARS = 253
MAX_SEGMENT_CHARS = 255

# Path segments after percent-decoding: no shell or libnfs metacharacters, no whitespace.
SEGMENT_CHARACTERS = "A-Z a-z 0-9 . _ - ~ + = , @"
_SEGMENT = re.compile(r"[A-Za-z0-9._~+=,@-]+")
_RAW_PATH = re.compile(r"[A-Za-z0-9._~+=,@%/-]*")
_PERCENT = re.compile(r"%(?P<hex>[0-9A-Fa-f]{2})?")
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_IPV4_LIKE = re.compile(r"[0-9.]+")
_PORT = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True, slots=True)
class NfsLocation:
    """A validated ``nfs://`` URL, split into the parts libnfs needs.

    ``host`` is IPv6 without brackets; ``directory`` is the file's directory as an absolute
    path on the server and ``file_name`` its name, both percent-decoded. ``address``, once
    the egress policy checked it, is what libnfs connects to instead of ``host``.
    """

    url: str
    host: str
    port: int | None
    directory: str
    file_name: str
    address: str | None = None

    @property
    def path(self) -> str:
        """The file's absolute path on the server."""
        return f"{self.directory}/{self.file_name}"

    @property
    def is_dns_name(self) -> bool:
        """True when ``host`` is a name to resolve rather than an address."""
        return not _is_ip_address(self.host)

    def libnfs_url(self, path: str) -> str:
        """The URL handed to libnfs for ``path``, rebuilt from validated parts only."""
        query = f"?nfsport={self.port}" if self.port is not None else ""
        return f"nfs://{self.address or self.host}{path}{query}"

    @property
    def server(self) -> str:
        """``host`` or ``host:port`` (``[v6]:port``), for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


def parse_nfs_url(url: str) -> NfsLocation:
    """Validate ``nfs://server[:port]/export/path/file`` and split it.

    The rules (the management server's URL check should apply the same):

    * scheme ``nfs`` (any case); at most :data:`MAX_URL_CHARS` characters, printable ASCII
      only (no whitespace or control characters);
    * no user info (``user@``), no query string (``?``), no fragment (``#``);
    * host: a DNS name (letters, digits, inner hyphens; labels of 1–63, 253 in all), a
      dotted IPv4 address, or an IPv6 address in brackets (no zone); never starting with
      ``-``; optional port 1–65535;
    * path: at least two segments (export and file); no empty segment (``//``, trailing
      ``/``), none equal to ``.`` or ``..``; each segment, after decoding ``%XX``, made of
      :data:`SEGMENT_CHARACTERS` and at most 255 characters (so ``%2F``, ``%00``, ``%0A``
      and ``%20`` are refused).

    Raises:
        UnsupportedUrlError: the URL breaks a rule; the message names which.
    """
    shown = repr(redact_url(url))
    if len(url) > MAX_URL_CHARS:
        raise UnsupportedUrlError(f"NFS URL longer than {MAX_URL_CHARS} characters: {shown}")
    bad = next((ch for ch in url if not "\x21" <= ch <= "\x7e"), None)
    if bad is not None:
        raise UnsupportedUrlError(
            f"NFS URL contains whitespace, control or non-ASCII character {bad!r}: {shown}"
        )
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() != SCHEME:
        raise UnsupportedUrlError(f"not an nfs:// URL: {shown}")
    for mark, what in (("?", "a query string"), ("#", "a fragment")):
        if mark in rest:
            raise UnsupportedUrlError(
                f"NFS URL has {what} ({mark!r}), which libnfs would read as options: {shown}"
            )
    authority, slash, raw_path = rest.partition("/")
    if not slash:
        raise UnsupportedUrlError(f"NFS URL has no path after the server: {shown}")
    host, port = _parse_authority(authority, shown)
    segments = _parse_path(raw_path, shown)
    return NfsLocation(
        url=url,
        host=host,
        port=port,
        directory="/" + "/".join(segments[:-1]),
        file_name=segments[-1],
    )


def _parse_authority(authority: str, shown: str) -> tuple[str, int | None]:
    if "@" in authority:
        raise UnsupportedUrlError(f"NFS URL must not carry user information (@): {shown}")
    if authority.startswith("["):
        inside, bracket, after = authority[1:].partition("]")
        if not bracket:
            raise UnsupportedUrlError(f"NFS URL has an unclosed '[' in its host: {shown}")
        try:
            if "%" in inside:
                # libnfs cannot take a zone, and ipaddress would accept one.
                raise ValueError("zone given")
            host = str(ipaddress.IPv6Address(inside))
        except ValueError as exc:
            raise UnsupportedUrlError(
                f"NFS URL host [{inside}] is not an IPv6 address (zones are not accepted): {shown}"
            ) from exc
        if after and not after.startswith(":"):
            raise UnsupportedUrlError(f"NFS URL has text after its IPv6 host: {shown}")
        return host, _parse_port(after[1:], shown) if after else None
    host, colon, port_text = authority.partition(":")
    _check_host(host, shown)
    return host, _parse_port(port_text, shown) if colon else None


def _check_host(host: str, shown: str) -> None:
    if not host:
        raise UnsupportedUrlError(f"NFS URL has no server: {shown}")
    if host.startswith("-"):
        raise UnsupportedUrlError(f"NFS URL host {host!r} starts with '-': {shown}")
    if _IPV4_LIKE.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError as exc:
            raise UnsupportedUrlError(
                f"NFS URL host {host!r} is not a valid IPv4 address: {shown}"
            ) from exc
        return
    labels = host.split(".")
    if len(host) > MAX_HOST_CHARS or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise UnsupportedUrlError(
            f"NFS URL host {host!r} is not a DNS name or IP address (letters, digits, "
            f"inner '-' and '.' only): {shown}"
        )


def _parse_port(text: str, shown: str) -> int:
    if not _PORT.fullmatch(text) or not 1 <= int(text) <= 65535:
        raise UnsupportedUrlError(f"NFS URL port {text!r} is not a number 1-65535: {shown}")
    return int(text)


def _parse_path(raw_path: str, shown: str) -> list[str]:
    bad = next((ch for ch in raw_path if not _RAW_PATH.fullmatch(ch)), None)
    if bad is not None:
        raise UnsupportedUrlError(f"NFS URL path contains the character {bad!r}: {shown}")
    raw_segments = raw_path.split("/")
    if len(raw_segments) < 2:
        raise UnsupportedUrlError(
            f"NFS URL needs an export and a file (nfs://server/export/file): {shown}"
        )
    segments = []
    for raw in raw_segments:
        if not raw:
            raise UnsupportedUrlError(
                f"NFS URL path has an empty segment ('//' or a trailing '/'): {shown}"
            )
        segment = _decode_segment(raw, shown)
        if segment in (".", ".."):
            raise UnsupportedUrlError(f"NFS URL path has a {segment!r} segment: {shown}")
        if len(segment) > MAX_SEGMENT_CHARS:
            raise UnsupportedUrlError(
                f"NFS URL path segment longer than {MAX_SEGMENT_CHARS} characters: {shown}"
            )
        segments.append(segment)
    return segments


def _decode_segment(raw: str, shown: str) -> str:
    def decode(match: re.Match[str]) -> str:
        if match.group("hex") is None:
            raise UnsupportedUrlError(f"NFS URL has a '%' not followed by two hex digits: {shown}")
        char = chr(int(match.group("hex"), 16))
        if not _SEGMENT.fullmatch(char):
            kind = "control character" if ord(char) < 0x20 or ord(char) == 0x7F else "character"
            raise UnsupportedUrlError(
                f"NFS URL path has a percent-encoded {kind} {char!r}: {shown}"
            )
        return char

    return _PERCENT.sub(decode, raw)


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
