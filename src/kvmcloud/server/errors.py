"""ApiError tree; each class carries the CloudStack error code sent as HTTP status and errorcode.

ApiError                          base; .error_code, .cs_error_code
├── AuthenticationError           401  bad key, signature or expiry
├── NoCommandError                400  a session request without ``command`` (CloudStack's text)
├── InvalidParameterError         431  bad or missing parameter (.param)
├── NotFoundError                 431  an id does not resolve (CloudStack reports these as 431)
├── UnsupportedActionError        432  unknown command (by session), or not allowed in this state
├── PermissionDeniedError         531  the account may not do this
├── InsufficientCapacityError     533  no host or pool fits
├── ResourceUnavailableError      534  agent unreachable, template could not reach a pool
├── ResourceInUseError            536  e.g. deleting something still in use
├── MethodNotAllowedError         405  login over GET
├── RequestTooLargeError          413  a /client/api body over the cap (never read whole)
└── OperationFailedError          530  a refusal CloudStack answers 530, with its own text
(anything else)                   530  logged with traceback; generic text to the caller

Texts that quote a caller's value use shown(value): printable and bounded, whatever was sent.
"""

import copy
import re
import unicodedata

# A quoted value is cut here: enough to recognise it, too little to flood a log or a client.
SHOWN_VALUE_CHARS = 80
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Controls, format characters, surrogates, private use, unassigned, line/paragraph breaks.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

# CloudStack's CSExceptionErrorCode for InvalidParameterValueException; clients ignore it,
# but Marvin-era tooling prints it, so we keep the values CloudStack uses.
CS_SERVER_API_EXCEPTION = 9999
CS_INVALID_PARAMETER_VALUE = 4350


def shown(value: str, limit: int = SHOWN_VALUE_CHARS) -> str:
    r"""Return ``value`` fit to quote in an error text: control characters escaped, bounded.

    Escapes are repr-like (``\x00``, ``\r``, ``\u2028``) so the text stays one printable
    line; letters of any script are kept as they are.
    """
    cut = len(value) > limit
    text = "".join(_escaped(char) for char in value[:limit])
    return f"{text}…" if cut else text


def _escaped(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if unicodedata.category(char) not in _UNPRINTABLE:
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class ApiError(Exception):
    """An error the API reports to its caller with a CloudStack error code."""

    error_code = 530
    cs_error_code = CS_SERVER_API_EXCEPTION

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def extended(self, detail: str) -> "ApiError":
        """Return a copy of this error (same class and code) whose message ends with ``detail``."""
        clone = copy.copy(self)
        clone.message = f"{self.message} {detail}"
        clone.args = (clone.message,)
        return clone


class AuthenticationError(ApiError):
    """The API key, signature or expiry did not verify."""

    error_code = 401

    def __init__(self, message: str = "unable to verify user credentials and/or request signature"):
        super().__init__(message)


class NoCommandError(ApiError):
    """A login session's request names no command: CloudStack's ApiServlet answers 400."""

    error_code = 400

    def __init__(self) -> None:
        super().__init__("no command specified")


class InvalidParameterError(ApiError):
    """A parameter is missing or has a bad value; ``param`` names it, and so does the text."""

    error_code = 431
    cs_error_code = CS_INVALID_PARAMETER_VALUE

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param

    def naming_text(self) -> str:
        """The text for the API caller: it names the parameter, CloudStack-style, always.

        A caller must learn which parameter to fix, even from a text written elsewhere (an
        agent's answer, a URL rule); such a text is prefixed ``Invalid parameter <name>:``.
        """
        named = re.search(
            rf"(?<![A-Za-z0-9]){re.escape(self.param)}(?![A-Za-z0-9])", self.message, re.I
        )
        return self.message if named else f"Invalid parameter {shown(self.param)}: {self.message}"


class NotFoundError(InvalidParameterError):
    """An id given in a parameter does not resolve to a live object."""

    def __init__(self, command: str, param: str, value: str) -> None:
        # The exact CloudStack wording: Terraform matches on it to treat deletes as done.
        super().__init__(
            param,
            f"Unable to execute API command {command.lower()} due to invalid value. "
            f"Invalid parameter {param} value={shown(value)} due to incorrect long value format, "
            "or entity does not "
            "exist or due to incorrect parameter annotation for the field in api cmd class.",
        )


class UnsupportedActionError(ApiError):
    """The command is unknown, or the action is not possible in the current state."""

    error_code = 432


class MethodNotAllowedError(ApiError):
    """The command needs another HTTP method (login: POST only)."""

    error_code = 405


class PermissionDeniedError(ApiError):
    """The caller's account may not perform this command."""

    error_code = 531


class InsufficientCapacityError(ApiError):
    """No host or storage pool can take the request."""

    error_code = 533


class ResourceUnavailableError(ApiError):
    """An agent or a pool needed for the request is unreachable, or the work failed there."""

    error_code = 534


class ResourceInUseError(ApiError):
    """The object is still used by something else."""

    error_code = 536


class OperationFailedError(ApiError):
    """A refusal CloudStack reports as 530 (a CloudRuntimeException), with its text, not hidden.

    Unlike a server fault, the text goes to the caller: it says what to fix (an
    unparsable or expired certificate, an alias already used).
    """

    error_code = 530


class RequestTooLargeError(ApiError):
    """The request is bigger than the API edge reads; it was refused before any work."""

    error_code = 413


class DownloadRefusedError(Exception):
    """A signed extract URL cannot be served; ``status`` is the plain HTTP status to answer.

    Not an ApiError: the URL is fetched by any HTTP client, outside the API's envelope.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
