"""Metalink mirror choice (pure): which mirror next, when to sample, when to move to another.

MetalinkDownloader (metalink.py) does the transfers, the sampling threads and the clock
reads; these functions decide from what it measured. Mirrors come in the Metalink's order
(metalink_format.py sorts them by priority), and every choice keeps that order on a tie.
"""

from collections.abc import Iterable, Mapping, Sequence, Set

from kvmcloud.protocol.error_codes import ErrorCode

# A mirror sampled this many times faster than the one in use is worth moving to: mirror
# speeds differ by orders of magnitude, and a smaller edge is within a sample's noise.
SWITCH_FACTOR = 2.0
# Errors that say something about the image, the pool or the command, not the mirror:
# another mirror would not help.
NOT_THE_MIRRORS_FAULT = frozenset(
    {
        ErrorCode.CANCELLED,
        ErrorCode.IMAGE_REJECTED,
        ErrorCode.POOL_FULL,
        ErrorCode.POOL_UNAVAILABLE,
        ErrorCode.BAD_COMMAND,
    }
)
# Keeps a rate finite when no time has passed yet.
_MIN_ELAPSED_S = 1e-6


def next_mirror(
    mirrors: Sequence[str],
    *,
    preferred: str | None,
    dead: Set[str],
    tried: Set[tuple[str, int]],
    piece: int,
) -> str | None:
    """Return the mirror to fetch ``piece`` onwards from; None when none is left.

    ``preferred`` (the mirror sampling found much faster) comes first, then ``mirrors`` in
    order. A dead mirror is skipped, and so is one that already failed ``piece``.
    """
    candidates = ((preferred,) if preferred else ()) + tuple(mirrors)
    for url in candidates:
        if url not in dead and (url, piece) not in tried:
            return url
    return None


def another_mirror_may_help(code: ErrorCode) -> bool:
    """Return whether a failure with ``code`` is the mirror's, so failing over makes sense."""
    return code not in NOT_THE_MIRRORS_FAULT


def live_mirrors(mirrors: Iterable[str], dead: Set[str]) -> list[str]:
    """Return the mirrors not given up on, in order."""
    return [url for url in mirrors if url not in dead]


def worth_sampling(
    live: Sequence[str], *, vouched: bool, size_bytes: int | None, min_file_bytes: int
) -> bool:
    """Return whether timing the live mirrors may pay off for this transfer.

    It needs two live mirrors to choose between, a Metalink hash to vouch for bytes joined
    from two mirrors, and a file known to be at least ``min_file_bytes`` long.
    """
    return len(live) >= 2 and vouched and size_bytes is not None and size_bytes >= min_file_bytes


def average_rate(received_bytes: int, elapsed_s: float) -> float:
    """Return bytes per second over ``elapsed_s``, connecting included."""
    return received_bytes / max(elapsed_s, _MIN_ELAPSED_S)


def steady_rate(
    *, first_at: float | None, first_bytes: int, last_at: float, received_bytes: int
) -> float:
    """Return bytes per second after a sample's first read (0 until two reads arrived).

    The first read carries the connection, the request and TCP slow start: counted in, they
    made a fast mirror on loopback look barely faster than a 50 MB/s one, and one run in five
    stayed on the slow mirror.
    """
    if first_at is None or last_at <= first_at:
        return 0.0
    return (received_bytes - first_bytes) / (last_at - first_at)


def faster_mirror(rates: Mapping[str, float], current: str, current_rate: float) -> str | None:
    """Return the sampled mirror to move to, or None to stay on ``current``.

    The fastest of ``rates`` (the first one listed on a tie), if it is not ``current`` and
    more than :data:`SWITCH_FACTOR` times ``current_rate``.
    """
    best = max(rates, key=lambda url: rates[url])
    if best == current or rates[best] <= SWITCH_FACTOR * current_rate:
        return None
    return best
