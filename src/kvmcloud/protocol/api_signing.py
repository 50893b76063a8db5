"""CloudStack request signature: sorted query, Java URL-encoding, lower-cased, HMAC-SHA1, base64.

The server verifies exactly what Apache CloudStack's ``ApiServer.verifyRequest`` computes.
Python and Go clients encode a few characters differently from Java's ``URLEncoder``
(``~``, ``*``, ``[``, ``]``), so :func:`candidate_signatures` also yields the variants those
clients send (cs/Marvin/CloudMonkey, libcloud, cloudstack-go); every variant is an HMAC over
the same parameters, so nothing is weakened.
"""

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from urllib.parse import quote


def java_url_encode(value: str) -> str:
    """Encode like ``URLEncoder.encode(value, "UTF-8").replace("+", "%20")``.

    URLEncoder leaves only ``a-z A-Z 0-9 . - * _`` alone; Python's ``quote`` always keeps
    ``~`` as well, so it is escaped by hand.
    """
    return quote(value, safe="-_.*").replace("~", "%7E")


def _client_encoders() -> tuple[Callable[[str], str], ...]:
    # How real clients encode values when they sign (reference: cloudstack-api.md 1.5).
    return (
        lambda v: quote(v, safe="*"),  # cs, Marvin, CloudMonkey: "~" literal, brackets escaped
        lambda v: quote(v, safe="[]*"),  # Apache Libcloud: "~", "[" and "]" literal
        lambda v: quote(v, safe=""),  # cloudstack-go (Terraform): "*" escaped, "~" literal
    )


def string_to_sign(
    params: Mapping[str, str], *, encode: Callable[[str], str] = java_url_encode
) -> str:
    """Build the lower-cased string CloudStack signs, leaving out ``signature``."""
    names = sorted(name for name in params if name.lower() != "signature")
    return "&".join(f"{name}={encode(params[name])}" for name in names).lower()


def sign(params: Mapping[str, str], secret_key: str) -> str:
    """Return the base64 HMAC-SHA1 signature of ``params`` as CloudStack computes it."""
    return _hmac_b64(string_to_sign(params), secret_key)


def candidate_signatures(params: Mapping[str, str], secret_key: str) -> Iterator[str]:
    """Yield the Java signature first, then each distinct form a real client may have signed."""
    seen = {string_to_sign(params)}
    yield _hmac_b64(next(iter(seen)), secret_key)
    for encode in _client_encoders():
        text = string_to_sign(params, encode=encode)
        if text not in seen:
            seen.add(text)
            yield _hmac_b64(text, secret_key)


def is_valid_signature(params: Mapping[str, str], secret_key: str, signature: str) -> bool:
    """Tell whether ``signature`` matches any accepted form, comparing in constant time."""
    offered = signature.encode()
    matches = [
        hmac.compare_digest(candidate.encode(), offered)
        for candidate in candidate_signatures(params, secret_key)
    ]
    return any(matches)


def _hmac_b64(message: str, secret_key: str) -> str:
    digest = hmac.new(secret_key.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def parse_expires(text: str) -> datetime | None:
    """Parse an ``expires`` value in the forms CloudStack accepts; None if it does not parse.

    ``2024-01-01T12:00:00+0000`` (what cs and CloudMonkey send), ``…+00:00``, ``…Z``, and
    the same with fractional seconds. A value without a zone is refused: it is ambiguous.
    """
    candidate = text.strip()
    if candidate.endswith("Z") and "+" not in candidate:
        candidate = candidate[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment


def format_expires(moment: datetime) -> str:
    """Format an ``expires`` value the way cs does (``%Y-%m-%dT%H:%M:%S+0000``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
