"""describe_url (pure): a source URL fit for messages and logs, its credentials masked."""

import re

_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def describe_url(url: str) -> str:
    """Return ``url`` fit for messages and logs: any ``user:password@`` is masked.

    A regular expression rather than urlsplit(), so that it works on malformed URLs too.
    """
    return _USERINFO.sub(r"\1***@", url)
