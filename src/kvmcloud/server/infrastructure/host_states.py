"""host_status(): the pure rule that turns heartbeat age into Up, Disconnected or Down."""

from datetime import datetime
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
