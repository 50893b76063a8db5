"""validate_source_url(): which template URLs can be registered (http, https, nfs, metalink)."""

import ipaddress
import re
from urllib.parse import urlsplit

from kvmcloud.protocol.egress import REFUSED, EgressPolicy, EgressRefusedError
from kvmcloud.protocol.redaction import redact_url
from kvmcloud.server.errors import InvalidParameterError

SCHEMES = ("http", "https", "nfs")
METALINK_SUFFIXES = (".metalink", ".meta4")
# What the hosts' NFS client accepts (agent/downloads/nfs_urls.py).
NFS_MAX_URL_CHARS = 1024
_DNS_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
# NFS paths are handed to a client program: keep them to a conservative character class
# (reference section 9, item 10: CloudStack built shell strings from them).
_NFS_SEGMENT = re.compile(r"^[A-Za-z0-9._+~@=,-]+$")


def is_metalink(url: str) -> bool:
    """Tell whether the URL names a Metalink document (v3 ``.metalink``, v4 ``.meta4``)."""
    return urlsplit(url).path.lower().endswith(METALINK_SUFFIXES)


def validate_source_url(url: str) -> str:
    """Return the URL stripped, or raise InvalidParameterError saying what is wrong with it."""
    text = url.strip()
    if any(ord(ch) < 0x21 or ch == "\x7f" for ch in text):
        raise InvalidParameterError("url", "url must not contain spaces or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        # Not the parser's text: it quotes the port, which may be a password cut at a "/".
        raise InvalidParameterError(
            "url", f"url {redact_url(text)!r} is malformed: its host or port cannot be parsed"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidParameterError(
            "url",
            f"URL scheme {parts.scheme or '(none)'!r} is not supported; use http://, https:// "
            "or nfs:// (a Metalink is an http(s) URL ending in .metalink or .meta4)",
        )
    host = parts.hostname
    if not host:
        raise InvalidParameterError("url", f"URL {redact_url(text)!r} has no host")
    _check_host(host)
    if scheme == "nfs":
        if len(text) > NFS_MAX_URL_CHARS:
            raise InvalidParameterError(
                "url", f"an nfs:// url is at most {NFS_MAX_URL_CHARS} characters"
            )
        if parts.username is not None:
            raise InvalidParameterError("url", "an nfs:// url cannot carry a user name")
        _check_nfs(parts.path, parts.query, parts.fragment, port)
        if is_metalink(text):
            raise InvalidParameterError("url", "A Metalink must be fetched over http or https")
    return text


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if host.startswith("-") or not all(_DNS_LABEL.match(label) for label in labels):
        raise InvalidParameterError("url", f"url host {host!r} is not a valid host name")


def _check_nfs(path: str, query: str, fragment: str, port: int | None) -> None:
    if query or fragment:
        raise InvalidParameterError("url", "an nfs:// url cannot have a query or a fragment")
    segments = path.split("/")[1:]
    if len(segments) < 2:
        raise InvalidParameterError(
            "url", "an nfs:// url needs an export and a file: nfs://server/export/path/file"
        )
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidParameterError(
                "url", "an nfs:// url path cannot have empty, '.' or '..' segments"
            )
        if not _NFS_SEGMENT.match(segment):
            raise InvalidParameterError(
                "url",
                f"nfs:// path segment {segment!r} has characters outside "
                "letters, digits and ._+~@=,-",
            )
    if port is not None and not 0 < port < 65536:
        raise InvalidParameterError("url", "the nfs:// port must be between 1 and 65535")


def check_egress(url: str, policy: EgressPolicy, zone_name: str) -> None:
    """Refuse at once a URL whose host the zone's egress policy refuses without resolving it.

    That is a literal or numeric address (``127.0.0.1``, ``0x7f.1``, ``[::1]``…), a
    number-like host that is no valid address, or a name a deny entry lists. Other names
    are resolved and checked by the host that fetches the URL: the server need not share
    the hosts' DNS view, and the hosts check every address they connect to anyway.

    Raises:
        InvalidParameterError: the policy refuses the host (431 naming ``url``).
    """
    host = urlsplit(url).hostname or ""
    try:
        policy.check_host(host)
    except EgressRefusedError as exc:
        raise InvalidParameterError(
            "url", f"url is {REFUSED} of zone {zone_name}: {exc.reason}"
        ) from None
