"""A pool copy's download in numbers: percent, rate, ETA, failed attempts, byte sources (pure)."""

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from kvmcloud.protocol.agent_messages import ByteSource

# While bytes keep arriving without moving the percentage (1 % of a 50 GB image is 500 MB),
# progress is still written this often, so the rate and ETA the API shows stay fresh.
PROGRESS_INTERVAL_S = 5.0
# What is kept of each failed attempt: an agent's reason names the URL and the cause, and
# direct.download.max.attempts (at most 32) bounds how many hosts a download asks.
REASON_CHARS = 512
HOST_NAME_CHARS = 255
MAX_FAILURES = 32


def percent_of(done: int, total: int | None) -> int:
    """Return the percentage of the source received: 99 at most (100 is Ready), 0 if unknown."""
    return min(99, done * 100 // total) if total else 0


def is_worth_writing(
    *,
    percent: int,
    written_percent: int | None,
    done: int,
    written_done: int | None,
    since_written_s: float | None,
) -> bool:
    """Tell whether a progress report should be written to the copy's row.

    Written when the percentage changes (at most about 100 writes per attempt, as before
    bytes were recorded), and otherwise at most every ``PROGRESS_INTERVAL_S`` while bytes
    still arrive: the agent is polled about every 2 s, and writing each poll of every
    running download would cost a write per poll for nothing a person can see.
    ``written_*`` are None before the attempt's first write.
    """
    if written_percent is None or percent != written_percent:
        return True
    if done == written_done or since_written_s is None:
        return False
    return since_written_s >= PROGRESS_INTERVAL_S


@dataclass(frozen=True, slots=True)
class Throughput:
    """An attempt's average rate in bytes per second, and the seconds it should still take."""

    rate: int | None
    eta_s: int | None


def throughput(
    *,
    done: int,
    total: int | None,
    started: datetime | None,
    measured: datetime | None,
    downloading: bool,
) -> Throughput:
    """Return the rate averaged from ``started`` to ``measured`` (when ``done`` was written).

    The ETA is given only while ``downloading`` and when the source announced its size:
    the bytes left at that rate, counted from ``measured``. Nothing is computable before
    the first byte or without both times.
    """
    if started is None or measured is None or done <= 0:
        return Throughput(None, None)
    elapsed_s = (measured - started).total_seconds()
    if elapsed_s <= 0:
        return Throughput(None, None)
    rate = done / elapsed_s
    eta_s = None
    if downloading and total is not None and total >= done:
        eta_s = math.ceil((total - done) / rate)
    return Throughput(round(rate), eta_s)


@dataclass(frozen=True, slots=True)
class FailedAttempt:
    """One host's failed attempt at a download: which host, and what it said."""

    hostid: str | None
    hostname: str
    reason: str


def with_failure(recorded: str | None, failure: FailedAttempt) -> str:
    """Return the recorded failures (JSON) with ``failure`` appended, bounded in size.

    Each reason is cut to ``REASON_CHARS`` and only the last ``MAX_FAILURES`` are kept.
    """
    kept = FailedAttempt(
        failure.hostid, failure.hostname[:HOST_NAME_CHARS], failure.reason[:REASON_CHARS]
    )
    failures = [*failed_attempts(recorded), kept][-MAX_FAILURES:]
    return json.dumps([asdict(f) for f in failures])


def failed_attempts(recorded: str | None) -> Sequence[FailedAttempt]:
    """Read the failures ``with_failure`` recorded, oldest first."""
    if not recorded:
        return []
    return [
        FailedAttempt(item.get("hostid"), str(item["hostname"]), str(item["reason"]))
        for item in json.loads(recorded)
    ]


@dataclass(frozen=True, slots=True)
class RecordedSource:
    """Where some of a download's bytes came from, as recorded on the copy."""

    kind: str
    hostid: str | None
    hostname: str | None
    bytes: int
    outcome: str
    message: str | None


def sources_json(sources: Sequence[ByteSource], host_names: Mapping[str, str]) -> str | None:
    """Return the JSON the copy keeps of where its bytes came from (None when not said).

    An agent older than peer sources says nothing: the bytes then all came from the origin,
    but the copy records nothing rather than a guess.
    """
    if not sources:
        return None
    recorded = [
        RecordedSource(
            kind=source.kind,
            hostid=source.host_uuid,
            hostname=host_names.get(source.host_uuid) if source.host_uuid else None,
            bytes=source.bytes,
            outcome=source.outcome,
            message=source.message[:REASON_CHARS] if source.message else None,
        )
        for source in sources[:MAX_FAILURES]
    ]
    return json.dumps([asdict(r) for r in recorded])


def recorded_sources(recorded: str | None) -> Sequence[RecordedSource]:
    """Read what ``sources_json`` recorded, in the order the host tried the sources."""
    if not recorded:
        return []
    return [
        RecordedSource(
            kind=str(item["kind"]),
            hostid=item.get("hostid"),
            hostname=item.get("hostname"),
            bytes=int(item.get("bytes", 0)),
            outcome=str(item.get("outcome", "used")),
            message=item.get("message"),
        )
        for item in json.loads(recorded)
    ]


def bytes_by_kind(sources: Sequence[RecordedSource]) -> dict[str, int]:
    """Return the bytes kept from the origin and from peers: ``{"origin": n, "peer": m}``.

    Bytes of a rejected or discarded source were thrown away and are not counted.
    """
    totals = {"origin": 0, "peer": 0}
    for source in sources:
        if source.outcome not in ("rejected", "discarded") and source.kind in totals:
            totals[source.kind] += source.bytes
    return totals
