"""EgressPolicy (pure): which source hosts and addresses hosts may fetch from, and why not.

Both sides use it: the server refuses a literal address at registration, and the agent
checks every address it is about to connect to (each redirect hop, each Metalink mirror,
each NFS server). Numeric host forms are read exactly as the C resolver's ``inet_aton``
reads them (``0x7f.1``, ``2130706433``, ``0177.0.0.1``, ``127.1`` are all 127.0.0.1), so
that no spelling of a refused address slips through as a "name".

Precedence: a deny entry (address range or name) refuses; otherwise an allow entry allows;
otherwise an address in a default-denied range (loopback, link-local, private, shared,
any-local, multicast, reserved, documentation…) is refused; anything else is allowed.
Every address a name resolves to must pass.
"""

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSED = "refused by the egress policy"
MAX_ENTRIES = 256
MAX_ENTRY_CHARS = 253

_v4 = ipaddress.IPv4Network
_v6 = ipaddress.IPv6Network
# The default deny list: (range, what it is). First match names the category.
DEFAULT_DENIED: tuple[tuple[IPNetwork, str], ...] = (
    (_v4("0.0.0.0/8"), "any-local"),
    (_v4("127.0.0.0/8"), "loopback"),
    (_v4("169.254.0.0/16"), "link-local"),
    (_v4("10.0.0.0/8"), "private"),
    (_v4("172.16.0.0/12"), "private"),
    (_v4("192.168.0.0/16"), "private"),
    (_v4("100.64.0.0/10"), "shared (carrier-grade NAT)"),
    (_v4("192.0.0.0/24"), "reserved (IETF protocol assignments)"),
    (_v4("192.0.2.0/24"), "reserved (documentation)"),
    (_v4("198.51.100.0/24"), "reserved (documentation)"),
    (_v4("203.0.113.0/24"), "reserved (documentation)"),
    (_v4("192.88.99.0/24"), "reserved (6to4 relay anycast)"),
    (_v4("198.18.0.0/15"), "reserved (benchmarking)"),
    (_v4("224.0.0.0/4"), "multicast"),
    (_v4("240.0.0.0/4"), "reserved"),
    (_v6("::/128"), "any-local"),
    (_v6("::1/128"), "loopback"),
    (_v6("fe80::/10"), "link-local"),
    (_v6("fec0::/10"), "site-local"),
    (_v6("fc00::/7"), "private (unique local)"),
    (_v6("ff00::/8"), "multicast"),
    (_v6("64:ff9b:1::/48"), "private (local-use NAT64)"),
    (_v6("100::/64"), "reserved (discard-only)"),
    (_v6("2001:db8::/32"), "reserved (documentation)"),
    (_v6("3fff::/20"), "reserved (documentation)"),
    (_v6("2001::/23"), "reserved (IETF protocol assignments, Teredo)"),
)
# Only 2000::/3 is global unicast; everything else in IPv6 that is not named above (and
# does not embed an IPv4 address) is reserved.
_GLOBAL_UNICAST = _v6("2000::/3")
_NAT64 = _v6("64:ff9b::/96")
_COMPATIBLE = _v6("::/96")

_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(r"0[xX][0-9A-Fa-f]*")
_NAME_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


class EgressRefusedError(ValueError):
    """A source host or address is refused; ``reason`` says which and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{REFUSED}: {reason}")
        self.reason = reason


class EgressEntryError(ValueError):
    """An allow or deny entry is neither an address range nor a host name (or suffix)."""


def inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """Read ``text`` as glibc's ``inet_aton`` does; None when it is not such a number.

    One to four parts separated by dots, each decimal, octal (leading ``0``) or
    hexadecimal (``0x``); the last part fills the remaining bytes (``127.1`` is 127.0.0.1,
    ``2130706433`` too).
    """
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        value = _inet_part(part)
        if value is None:
            return None
        values.append(value)
    *leading, last = values
    if any(v > 0xFF for v in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    number = 0
    for position, value in enumerate(leading):
        number |= value << (8 * (3 - position))
    return ipaddress.IPv4Address(number | last)


def _inet_part(part: str) -> int | None:
    if _HEX.fullmatch(part):
        # A bare "0x" is no number (glibc 2.36 refuses it; older ones read 0 in some places:
        # refusing it is the safe side, as the host is then refused altogether).
        return int(part[2:], 16) if len(part) > 2 else None
    if not _DIGITS.fullmatch(part):
        return None
    if part.startswith("0") and len(part) > 1:
        if any(ch in "89" for ch in part):
            return None
        return int(part, 8)
    return int(part)


def _ends_in_a_number(host: str) -> bool:
    """Tell whether the resolver (and WHATWG's URL parser) would read ``host`` as IPv4."""
    last = host.rstrip(".").rsplit(".", 1)[-1] if host.rstrip(".") else ""
    return bool(_DIGITS.fullmatch(last) or _HEX.fullmatch(last))


def canonical_host(host: str) -> IPAddress | str:
    """Return the address a URL host denotes, or its name (lower-case, no trailing dot).

    Accepts IPv6 literals with or without brackets and with a zone (``%eth0``, ``%25eth0``,
    which is dropped: the zone does not change which address is reached), and every
    numeric IPv4 form ``inet_aton`` accepts.

    Raises:
        EgressRefusedError: the host is empty, or looks like a number but is not a valid
            address (``1.2.3.256``, ``08.1``): the resolver might read it either way.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text:
        raise EgressRefusedError("the URL has no host")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            raise EgressRefusedError(f"host {host!r} is not a valid IPv6 address") from None
    if _ends_in_a_number(text):
        address = inet_aton(text.removesuffix("."))
        if address is None:
            raise EgressRefusedError(f"host {host!r} is neither a host name nor an address")
        return address
    return text.lower().removesuffix(".")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def default_denied(address: IPAddress) -> str | None:
    """Return why ``address`` is denied by default (``"loopback"``…); None when it is public."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return default_denied(inner)
    for network, category in DEFAULT_DENIED:
        if address.version == network.version and address in network:
            return category
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST:
        return "reserved"
    if not address.is_global:
        # Whatever the table above does not name but the IANA registries do not route.
        return "reserved"
    return None


def _parse_address(value: IPAddress | str) -> IPAddress:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    return ipaddress.ip_address(value.split("%", 1)[0])


@dataclass(frozen=True, slots=True)
class _Entries:
    networks: tuple[IPNetwork, ...] = ()
    # Exact names, and suffixes kept with their leading dot (".example.com").
    names: tuple[str, ...] = ()

    def match_address(self, address: IPAddress) -> IPNetwork | None:
        forms = [address]
        inner = embedded_ipv4(address)
        if inner is not None:
            forms.append(inner)
        for form in forms:
            for network in self.networks:
                if form.version == network.version and form in network:
                    return network
        return None

    def match_name(self, name: str) -> str | None:
        for entry in self.names:
            if name == entry or (entry.startswith(".") and name.endswith(entry)):
                return entry
        return None


def parse_entries(entries: Iterable[str]) -> tuple[tuple[IPNetwork, ...], tuple[str, ...]]:
    """Split entries into address ranges and host names; the texts as an admin writes them.

    An entry is an address or CIDR range (``127.0.0.0/8``, ``fd00::/8``, ``10.1.2.3``),
    a host name (``mirror.example.com``: that name only) or a suffix (``.example.com`` or
    ``*.example.com``: any name under it). Empty entries are skipped.

    Raises:
        EgressEntryError: an entry is none of these; the message names it.
    """
    networks: list[IPNetwork] = []
    names: list[str] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        if len(entry) > MAX_ENTRY_CHARS:
            raise EgressEntryError(f"entry {entry[:40]!r}... is longer than {MAX_ENTRY_CHARS}")
        if ":" in entry or "/" in entry or _ends_in_a_number(entry.removeprefix("*")):
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise EgressEntryError(
                    f"entry {entry!r} is not an address or CIDR range (write addresses as "
                    "dotted quads or IPv6, e.g. 127.0.0.0/8)"
                ) from None
            continue
        suffix = entry.startswith(("*.", "."))
        name = entry.removeprefix("*").removeprefix(".").lower().removesuffix(".")
        if not name or not all(_NAME_LABEL.fullmatch(label) for label in name.split(".")):
            raise EgressEntryError(
                f"entry {entry!r} is not a host name, a suffix (.example.com) or an address range"
            )
        names.append(f".{name}" if suffix else name)
    if len(networks) + len(names) > MAX_ENTRIES:
        raise EgressEntryError(f"at most {MAX_ENTRIES} entries are allowed")
    return tuple(networks), tuple(names)


def split_entries(text: str) -> list[str]:
    """Split a setting's value (comma- or space-separated entries) into entries."""
    return [part for part in re.split(r"[,\s]+", text) if part]


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """An allow list and a deny list on top of the default deny; see the module docstring.

    ``EgressPolicy()`` is the default: no allow entry, no deny entry.
    """

    allow: _Entries = _Entries()
    deny: _Entries = _Entries()

    @classmethod
    def parse(cls, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> "EgressPolicy":
        """Build a policy from entries (see :func:`parse_entries`).

        Raises:
            EgressEntryError: an entry is malformed.
        """
        return cls(_Entries(*parse_entries(allow)), _Entries(*parse_entries(deny)))

    def check_host(self, host: str) -> IPAddress | str:
        """Check what can be checked without resolving; return the canonical host.

        A literal or numeric address is checked in full. A name is refused only when a
        deny entry names it; its addresses must be checked with :meth:`check` once resolved.

        Raises:
            EgressRefusedError: the host is refused.
        """
        canonical = canonical_host(host)
        if isinstance(canonical, str):
            self._name_allowed(canonical)
        else:
            self._check_address(canonical, shown=_shown(host, canonical), name_allowed=False)
        return canonical

    def check(self, host: str, addresses: Sequence[IPAddress | str]) -> None:
        """Allow connecting to ``host`` at ``addresses`` (what it resolved to), or refuse.

        Every address must pass. For a name, the refusal says which rule refused an
        address but not the address itself: what a name resolves to inside the cloud is
        not the caller's business.

        Raises:
            EgressRefusedError: the host or one of its addresses is refused.
        """
        canonical = canonical_host(host)
        name_allowed = self._name_allowed(canonical) if isinstance(canonical, str) else False
        resolved = [_parse_address(a) for a in addresses]
        if not isinstance(canonical, str):
            resolved.insert(0, canonical)
        if not resolved:
            raise EgressRefusedError(f"host {host} resolves to no address")
        for address in resolved:
            if isinstance(canonical, str):
                shown = f"host {canonical} resolves to an address that"
            else:
                shown = _shown(host, address)
            self._check_address(address, shown=shown, name_allowed=name_allowed)

    def _name_allowed(self, name: str) -> bool:
        denied = self.deny.match_name(name)
        if denied is not None:
            raise EgressRefusedError(f"host {name} matches deny entry {denied}")
        return self.allow.match_name(name) is not None

    def _check_address(self, address: IPAddress, *, shown: str, name_allowed: bool) -> None:
        denied = self.deny.match_address(address)
        if denied is not None:
            raise EgressRefusedError(f"{shown} is in deny entry {denied}")
        if name_allowed or self.allow.match_address(address) is not None:
            return
        category = default_denied(address)
        if category is not None:
            inner = embedded_ipv4(address)
            carried = f" (IPv4 {inner})" if inner is not None else ""
            raise EgressRefusedError(
                f"{shown} is {_article(category)} {category} address{carried}, denied by default"
            )


def _shown(host: str, address: IPAddress) -> str:
    spelled = host.strip("[]")
    return str(address) if spelled == str(address) else f"{host} ({address})"


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
