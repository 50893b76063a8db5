"""Resolve a source host and check it with the egress policy: the addresses to connect to."""

import socket
from collections.abc import Callable

from kvmcloud.agent.downloads.errors import DnsFailureError, SourceRefusedError
from kvmcloud.agent.errors import BadCommandError
from kvmcloud.protocol import egress
from kvmcloud.protocol.agent_messages import EgressRules

Resolver = Callable[[str], list[str]]
"""``resolve(name)`` returns the addresses a host name resolves to, in the resolver's order.

Raises ``socket.gaierror`` when it does not resolve.
"""


def resolve_host(name: str) -> list[str]:
    """Resolve ``name`` with the system resolver (getaddrinfo), each address once."""
    infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def policy_from_rules(rules: EgressRules) -> egress.EgressPolicy:
    """Build the policy a command carries.

    Raises:
        BadCommandError: an entry is malformed (the server validates them, so this is a
            server bug or a foreign peer).
    """
    try:
        return egress.EgressPolicy.parse(rules.allow, rules.deny)
    except egress.EgressEntryError as exc:
        raise BadCommandError(f"the command's egress rules are invalid: {exc}") from exc


def allowed_addresses(
    policy: egress.EgressPolicy, host: str, *, url: str, resolve: Resolver
) -> list[str]:
    """Return the addresses to connect to for ``host``, every one allowed by ``policy``.

    A literal or numeric host is its own (canonical) address and is never handed to the
    resolver, so what is checked is what is connected to. A name is resolved once here;
    the caller connects to these addresses, never to the name again (no DNS rebinding
    between the check and the connection). ``url`` (masked) is only for messages.

    Raises:
        SourceRefusedError: the policy refuses the host or one of its addresses.
        DnsFailureError: the name does not resolve.
    """
    try:
        canonical = policy.check_host(host)
        if not isinstance(canonical, str):
            return [str(canonical)]
        try:
            addresses = resolve(canonical)
        except socket.gaierror as exc:
            raise DnsFailureError(
                f"cannot resolve host {host!r} of {url}: {exc.strerror or exc}"
            ) from exc
        policy.check(canonical, addresses)
    except egress.EgressRefusedError as exc:
        raise SourceRefusedError(f"{exc} (URL {url})") from exc
    return addresses
