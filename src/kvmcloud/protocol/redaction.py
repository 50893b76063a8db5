"""redact_url (pure): a URL fit for logs, events, errors and responses, its credentials masked."""

import re

MASK = "***"

# Whatever precedes the authority: leading blanks (which URL parsers strip), an optional
# scheme, then any run of slashes or backslashes (which lenient parsers accept in place
# of "//"). A scheme-less or slash-less string is still searched for a userinfo.
_PREFIX = re.compile(r"[\x00-\x20]*(?:[A-Za-z][A-Za-z0-9+.\-]*:)?[/\\]*")

# What a query parameter's name looks like; anything else is masked with its value.
_NAME = re.compile(r"[A-Za-z0-9._~%+\-\[\]]*")


def redact_url(url: str, *, keep_query: bool = False) -> str:
    """Return ``url`` with its credentials masked; never raises, never returns a secret.

    - a userinfo password is masked (``user:***@``); a userinfo without a password is
      masked whole (``***@``), as a lone user name is often a token;
    - every query value is masked, names kept (``?X-Amz-Signature=***&X-Amz-Date=***``);
      a query item without ``=``, or whose name is no plain name, is masked whole;
    - a fragment is masked (``#***``).

    With ``keep_query`` the query and the fragment are kept as they are: the view the
    owner of a presigned URL gets. The password is masked either way.

    Plain string operations, not urlsplit(), so that malformed URLs are masked too: the
    query starts at the first ``?``, the fragment at the first ``#``, and the userinfo
    ends at the last ``@`` before the path, which is what URL parsers do. Where what
    stands before the path is no ``host[:port]``, the password is taken to hold a ``/``
    and everything up to the last ``@`` is masked.
    """
    rest, hash_mark, fragment = url.partition("#")
    rest, question_mark, query = rest.partition("?")
    prefix = _PREFIX.match(rest)
    start = prefix.end() if prefix else 0
    authority_end = len(rest)
    for separator in "/\\":
        found = rest.find(separator, start)
        if found != -1:
            authority_end = min(authority_end, found)
    at = rest.rfind("@", start, authority_end)
    if at == -1 and not _is_host_and_port(rest[start:authority_end]):
        # Not a host: a password with a "/" in it ("u:pa/ss@host"), or one cut short by
        # a "?" or "#" that the query or fragment masking covers.
        at = rest.rfind("@", start)
        if at == -1:
            user = rest[start:authority_end].partition(":")[0]
            rest = f"{rest[:start]}{user}:{MASK}{rest[authority_end:]}"
    if at != -1:
        user, colon, _password = rest[start:at].partition(":")
        userinfo = f"{user}:{MASK}" if colon else MASK
        rest = f"{rest[:start]}{userinfo}{rest[at:]}"
    if keep_query:
        return f"{rest}{question_mark}{query}{hash_mark}{fragment}"
    if question_mark:
        rest = f"{rest}?{_masked_query(query)}"
    if hash_mark:
        rest = f"{rest}#{MASK if fragment else ''}"
    return rest


def redact_url_in(text: str, url: str) -> str:
    """Return ``text`` with every whole occurrence of ``url`` replaced by ``redact_url(url)``.

    For texts the code did not write (a library's exception, another program's answer)
    that may quote a URL it knows.
    """
    return text.replace(url, redact_url(url)) if url else text


def _is_host_and_port(authority: str) -> bool:
    """Tell whether ``authority`` (without a userinfo) is a host with an optional port."""
    host = authority
    if host.startswith("["):
        closing = host.find("]")
        if closing == -1:
            return True
        host = host[closing + 1 :]
    _host, colon, port = host.partition(":")
    return not colon or port.isdigit() or not port


def _masked_query(query: str) -> str:
    items = []
    for item in query.split("&"):
        name, equals, value = item.partition("=")
        if equals and _NAME.fullmatch(name):
            items.append(f"{name}={MASK if value else ''}")
        else:
            # No "name=value" form: the whole item may be the secret.
            items.append(MASK if item else "")
    return "&".join(items)
