"""host_status(): the pure rule that turns heartbeat age into Up, Disconnected or Down."""

from datetime import datetime, timedelta
from enum import StrEnum

# A host silent for this many times the Disconnected threshold is reported Down.
DOWN_AFTER_DISCONNECTED_FACTOR = 3.0


class HostStatus(StrEnum):
    """Host state as CloudStack shows it in listHosts."""

    UP = "Up"
    DISCONNECTED = "Disconnected"
    DOWN = "Down"


def host_status(
    last_ping: datetime | None, now: datetime, *, interval_s: float, timeout_factor: float
) -> HostStatus:
    """Return a host's state from the age of its last heartbeat.

    Up while heartbeats arrive within ``interval_s * timeout_factor`` (CloudStack's
    ping.interval × ping.timeout); Disconnected after that; Down once silent for three times
    as long, or if it never sent one.
    """
    if last_ping is None:
        return HostStatus.DOWN
    silent_s = (now - last_ping).total_seconds()
    disconnected_after_s = interval_s * timeout_factor
    if silent_s <= disconnected_after_s:
        return HostStatus.UP
    if silent_s <= disconnected_after_s * DOWN_AFTER_DISCONNECTED_FACTOR:
        return HostStatus.DISCONNECTED
    return HostStatus.DOWN


# The sweeper's SQL filter is this much wider than the exact rule, on the side that
# selects more rows, so rounding in the database never hides a host that must change;
# host_status() then decides exactly on the rows selected.
CANDIDATE_MARGIN = timedelta(seconds=1)


def sweep_cutoffs(
    now: datetime, *, interval_s: float, timeout_factor: float
) -> tuple[datetime, datetime]:
    """Return (leave_up_before, leave_disconnected_before) for the host-state sweeper.

    An Up host can change only if its last_ping is before the first time (or null); a
    Disconnected host only if before the second (or null); a Down host only if at or
    after the second. Both are widened by ``CANDIDATE_MARGIN`` towards more candidates.
    """
    disconnected_after = timedelta(seconds=interval_s * timeout_factor)
    down_after = timedelta(seconds=interval_s * timeout_factor * DOWN_AFTER_DISCONNECTED_FACTOR)
    return now - disconnected_after + CANDIDATE_MARGIN, now - down_after + CANDIDATE_MARGIN
