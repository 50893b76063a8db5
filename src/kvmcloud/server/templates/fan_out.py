"""Fan-out (pure): whether a download should wait for a peer copy instead of reading the origin.

When many pools of a zone need the same new template at once, only one download should
read the origin; the others wait until a verified copy is Ready (it becomes their peer
source), then start in waves no larger than the Ready copies can serve, so every host that
finishes serves the next ones: the fan-out grows as a tree and the origin serves the file
about once. A wait is bounded (the zone's longest wait), and a download that fails leaves
nothing to wait for: the next waiting copy goes to the origin.
"""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ZoneCopy:
    """Another copy of the template in the destination's zone, as the database says."""

    ref_id: int
    # On a pool a peer's agent can serve from (a file pool, not RBD).
    file_pool: bool
    ready: bool
    # Its recorded image checksum is the template's: peers may serve it.
    verified: bool
    # The host that downloaded it is Up.
    host_up: bool
    downloading: bool
    # A pending job holds the copy (queued, waiting, or running).
    job_pending: bool


@dataclass(frozen=True, slots=True)
class FanOutPolicy:
    """What the zone allows: peers at all, how many uploads per peer, how long to wait."""

    peers_enabled: bool
    max_uploads: int
    max_wait_s: float


def wait_reason(
    *,
    own_ref_id: int,
    copies: Iterable[ZoneCopy],
    policy: FanOutPolicy,
    waited_s: float,
) -> str | None:
    """Return why the download of copy ``own_ref_id`` should wait, or None to start it now.

    ``copies`` are the template's other copies in the zone on file pools (the caller
    leaves out copies the destination could not take from a peer anyway: then it never
    waits). Sources are Ready verified copies on Up hosts; each serves ``max_uploads``
    downloads at once. Downloads under way, and waiting copies queued before this one
    (lower id: a total order, so exactly one of many simultaneous copies goes first),
    take those slots first:

    - no source yet: wait while any download is under way or an earlier copy waits;
    - sources: wait while the downloads under way and the earlier waiting copies fill
      every slot.

    Never waits when peers are off, with no wait allowed, or once ``waited_s`` reached it.
    """
    if not policy.peers_enabled or policy.max_wait_s <= 0 or waited_s >= policy.max_wait_s:
        return None
    sources = busy = ahead = 0
    for copy in copies:
        if copy.ref_id == own_ref_id or not copy.file_pool:
            continue
        if copy.ready:
            sources += copy.verified and copy.host_up
        elif copy.job_pending and copy.downloading:
            busy += 1
        elif copy.job_pending and copy.ref_id < own_ref_id:
            ahead += 1
    if sources == 0:
        if busy:
            return f"waiting for {busy} download(s) of this template in the zone to finish"
        if ahead:
            return f"waiting for {ahead} earlier copy(ies) of this template in the zone to start"
        return None
    slots = sources * max(policy.max_uploads, 1)
    if busy + ahead >= slots:
        return (
            f"waiting for a free peer: {sources} host(s) hold this template, serving "
            f"{busy} download(s), {ahead} earlier copy(ies) waiting"
        )
    return None
