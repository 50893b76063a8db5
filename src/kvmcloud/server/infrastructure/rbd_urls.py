"""parse_rbd_url (pure): CloudStack's ``rbd://user:key@monitor[:port]/pool``, part by part.

CloudStack (``CloudStackPrimaryDataStoreLifeCycleImpl``) takes the URL's host as the
monitor, its port (none: librbd's default), its path without the leading ``/`` as the
Ceph pool and its user info, percent-decoded, as ``user:secret``; the UI percent-encodes
the key, whose base64 holds ``/``, ``+`` and ``=``. Its "multi" form names more monitors
as path segments before the pool (``rbd://u:k@mon1/mon2/pool``). Every error text masks
the key (``redact_url``).
"""

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from kvmcloud.protocol.redaction import redact_url
from kvmcloud.server.errors import InvalidParameterError

DEFAULT_MON_PORT = 6789
# What the agent accepts (agent/rbd/cli.py): names that mean nothing to rbd or QEMU.
_POOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DNS_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_USAGE = "should be rbd://<user>:<url-encoded key>@<monitor>[:port]/<pool>"


@dataclass(frozen=True, slots=True)
class RbdUrl:
    """A checked RBD pool URL; ``secret`` is the cephx key (never in a repr)."""

    monitors: tuple[str, ...]
    port: int
    pool: str
    user: str
    secret: str = field(repr=False)

    @property
    def server(self) -> str:
        """The monitors as the agent takes them: ``host:port,host:port``."""
        return ",".join(f"{host}:{self.port}" for host in self.monitors)


def parse_rbd_url(url: str) -> RbdUrl:
    """Check every part of an ``rbd://`` pool URL.

    Raises:
        InvalidParameterError: naming ``url``, with the key masked.
    """
    shown = redact_url(url)
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "rbd":
        raise _bad(f"Storage url {shown} is not an RBD url: {_USAGE}")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise _bad(f"Storage url {shown} must have no query or fragment: {_USAGE}")
    try:
        port = parts.port
    except ValueError:
        raise _bad(f"Storage url {shown} has an invalid port") from None
    host = (parts.hostname or "").lower()
    segments = [unquote(s) for s in parts.path.strip("/").split("/")] if parts.path else []
    if not host or not segments or not segments[-1]:
        raise _bad(f"Storage url {shown} is not usable: monitor or pool is missing, {_USAGE}")
    monitors = (host, *(s.lower() for s in segments[:-1]))
    for monitor in monitors:
        if not _is_host(monitor):
            raise _bad(
                f"Storage url {shown} names no valid Ceph monitor ({monitor[:64]!r}): give a "
                "DNS name or IPv4 address"
            )
    pool = segments[-1]
    if not _POOL.fullmatch(pool):
        raise _bad(
            f"Storage url {shown}: Ceph pool {pool[:64]!r} is not allowed, use 1-128 "
            "characters from A-Z a-z 0-9 . _ - starting with a letter or digit"
        )
    user, secret = _user_info(parts.username, parts.password, shown)
    return RbdUrl(
        monitors=monitors,
        port=port if port else DEFAULT_MON_PORT,
        pool=pool,
        user=user,
        secret=secret,
    )


def _user_info(raw_user: str | None, raw_secret: str | None, shown: str) -> tuple[str, str]:
    if raw_user is None or raw_secret is None:
        raise _bad(f"Storage url {shown} needs the cephx user and key: {_USAGE}")
    # CloudStack's UI sends the key as URL-safe base64 ('+' as '-', '/' as '_'; some
    # versions only the first of each): neither character is in standard base64, so
    # mapping them back is unambiguous and accepts every form CloudStack produces.
    user = unquote(raw_user)
    secret = unquote(raw_secret).replace("-", "+").replace("_", "/")
    if user.startswith("client."):
        user = user[len("client.") :]
    if not _USER.fullmatch(user):
        raise _bad(
            f"Storage url {shown}: cephx user {user[:64]!r} is not allowed, give the id "
            "without 'client.' (A-Z a-z 0-9 . _ -)"
        )
    try:
        decoded = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if not decoded:
        # Unencoded '+' and '/' are the usual cause: say so, never quote the key.
        raise _bad(
            f"Storage url {shown}: the cephx key is not base64 (as 'ceph auth get-key' "
            "prints it); percent-encode it in the URL (/ as %2F, + as %2B, = as %3D)"
        )
    return user, secret


def _is_host(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv4Address)
    except ValueError:
        return bool(_DNS_NAME.fullmatch(host)) and not host.replace(".", "").isdigit()


def _bad(message: str) -> InvalidParameterError:
    return InvalidParameterError("url", message)
