"""<command>response envelopes for lists, objects, async jobs and errors (pure)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kvmcloud.server.errors import shown

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
# An error text longer than this is cut: no legitimate one comes near it.
MAX_ERROR_TEXT_CHARS = 4096
# X-Description mirrors the error text for CloudMonkey; a header need not carry all of it.
MAX_HEADER_CHARS = 512


@dataclass(frozen=True, slots=True)
class ListResult:
    """A page of items and the total number of matches."""

    item_key: str
    items: Sequence[Mapping[str, Any]]
    count: int


@dataclass(frozen=True, slots=True)
class ObjectResult:
    """A single object under its object name, e.g. ``{"configuration": {...}}``."""

    key: str
    item: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class FlatResult:
    """A payload written as is (queryAsyncJobResult, success responses)."""

    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AsyncResult:
    """A queued job; ``object_id`` is set for async-create commands such as deploys."""

    job_id: str
    object_id: str | None = None


ApiResult = ListResult | ObjectResult | FlatResult | AsyncResult


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """What an error looks like on the wire."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)


def response_key(command: str) -> str:
    """Return the envelope key of a command: its lower-cased name plus ``response``."""
    return f"{command.lower()}response"


def render(command: str, result: ApiResult) -> dict[str, Any]:
    """Wrap a result in the one-key envelope CloudStack clients expect."""
    payload: dict[str, Any]
    if isinstance(result, ListResult):
        # CloudStack writes an empty list as {} with no count; cs and Marvin rely on it.
        payload = (
            {"count": result.count, result.item_key: list(result.items)} if result.items else {}
        )
    elif isinstance(result, ObjectResult):
        payload = {result.key: dict(result.item)}
    elif isinstance(result, AsyncResult):
        payload = {"jobid": result.job_id}
        if result.object_id is not None:
            payload = {"id": result.object_id, "jobid": result.job_id}
    else:
        payload = dict(result.payload)
    return {response_key(command): payload}


def render_error(
    command: str | None, code: int, text: str, cs_error_code: int | None
) -> ErrorReply:
    """Build the error body; unknown commands and 432s use ``errorresponse``."""
    key = "errorresponse" if command is None or code == 432 else response_key(command)
    body: dict[str, Any] = {"uuidList": [], "errorcode": code}
    if cs_error_code is not None:
        body["cserrorcode"] = cs_error_code
    body["errortext"] = error_text(text)
    return ErrorReply(status=code, body={key: body})


def error_text(text: str) -> str:
    """Bound an error text and escape the control characters in it, keeping line breaks."""
    lines = text[:MAX_ERROR_TEXT_CHARS].split("\n")
    kept = "\n".join(shown(line, MAX_ERROR_TEXT_CHARS).replace("\\t", "\t") for line in lines)
    return f"{kept}…" if len(text) > MAX_ERROR_TEXT_CHARS else kept


def header_value(text: str) -> str:
    """Make ``text`` one header line h11 accepts: printable latin-1, trimmed, bounded.

    A control character, CR or LF in a header makes h11 drop the connection without an
    answer, and a header can only carry latin-1; anything else becomes ``?``.
    """
    safe = "".join(" " if char.isspace() else char if _in_header(char) else "?" for char in text)
    line = " ".join(safe.split())
    return line if len(line) <= MAX_HEADER_CHARS else line[: MAX_HEADER_CHARS - 3] + "..."


def format_date(moment: datetime | None) -> str | None:
    """Format as CloudStack does: ``yyyy-MM-dd'T'HH:mm:ssZ`` (e.g. ``…T10:20:30+0000``)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def without_none(item: Mapping[str, Any]) -> dict[str, Any]:
    """Drop null fields: CloudStack leaves them out of JSON."""
    return {key: value for key, value in item.items() if value is not None}


def _in_header(char: str) -> bool:
    # Printable ASCII and printable latin-1 (h11 takes 0x80-0xFF; C1 controls are not text).
    code = ord(char)
    return 0x20 <= code < 0x7F or 0xA0 <= code <= 0xFF
