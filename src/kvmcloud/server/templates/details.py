"""Template details: which are download request headers, and splitting them out (pure)."""

import re
from collections.abc import Mapping

from kvmcloud.server.errors import InvalidParameterError

HTTP_HEADER_PREFIX = "HTTP_HEADER:"
# Set by the URL check when the URL serves a Metalink document; never shown.
METALINK_DETAIL = "kvmcloud.metalink"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Header values are stored sealed in a 4096-character column; sealing adds about a third.
MAX_HEADER_VALUE_BYTES = 2048


def parse_details(details: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Split ``details[0].*`` into request headers (``HTTP_HEADER:<Name>``) and other details."""
    headers: dict[str, str] = {}
    others: dict[str, str] = {}
    for key, value in details.items():
        if not is_header_detail(key):
            others[key] = value
            continue
        name = key[len(HTTP_HEADER_PREFIX) :].strip()
        if not _HEADER_NAME.match(name):
            raise InvalidParameterError(
                "details", f"details key {key!r} does not name a valid HTTP header"
            )
        if any(ch in value for ch in "\r\n\x00"):
            raise InvalidParameterError(
                "details", f"the value of HTTP header {name} contains a line break"
            )
        if len(value.encode()) > MAX_HEADER_VALUE_BYTES:
            raise InvalidParameterError(
                "details",
                f"the value of HTTP header {name} is longer than {MAX_HEADER_VALUE_BYTES} bytes",
            )
        headers[name] = value
    return headers, others


def is_header_detail(name: str) -> bool:
    """Tell whether a detail is a download request header (its value is a secret)."""
    return name.upper().startswith(HTTP_HEADER_PREFIX)


def header_detail_name(header: str) -> str:
    """Return the detail name a request header is stored under."""
    return f"{HTTP_HEADER_PREFIX}{header}"


def header_name(detail_name: str) -> str:
    """Return the request header a header detail stands for."""
    return detail_name[len(HTTP_HEADER_PREFIX) :]
