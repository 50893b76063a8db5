"""LastSeen: when each host last sent a heartbeat, kept in memory and written in batches."""

import threading
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, or_, update

from kvmcloud.server.db import Database
from kvmcloud.server.infrastructure.models import Host

# Heartbeat times are written at least this often...
MAX_FLUSH_INTERVAL_S = 5.0
# ...and at least ten times per Disconnected threshold (ping.interval × ping.timeout), so
# the host-state sweeper, which may run on another server, never reads a last_ping older
# than the host's real last beat by more than a tenth of that threshold.
FLUSH_FRACTION_OF_THRESHOLD = 0.1
MIN_FLUSH_INTERVAL_S = 0.1

_HOST = cast(Table, Host.__table__)
# Never move last_ping back: another server may have written a newer beat meanwhile.
_WRITE_LAST_PING = (
    update(_HOST)
    .where(
        _HOST.c.id == bindparam("b_id"),
        or_(_HOST.c.last_ping.is_(None), _HOST.c.last_ping < bindparam("b_seen")),
    )
    .values(last_ping=bindparam("b_seen"))
)


def flush_interval_s(interval_s: float, timeout_factor: float) -> float:
    """How often a server writes the heartbeat times it holds (the bound in the docs)."""
    threshold_s = interval_s * timeout_factor
    return max(
        MIN_FLUSH_INTERVAL_S, min(MAX_FLUSH_INTERVAL_S, threshold_s * FLUSH_FRACTION_OF_THRESHOLD)
    )


class LastSeen:
    """Heartbeat times received by this server and not yet written to ``host.last_ping``.

    A heartbeat that changes nothing else about its host costs no write: its time is
    noted here and ``flush`` writes all pending times in one executemany UPDATE. A crash
    loses at most one flush interval of times: the host's next beat (to any server) is
    written again, so a lost batch delays a last_ping, it never makes a host look silent
    for longer than one extra interval.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, datetime] = {}

    def note(self, host_id: int, seen: datetime) -> None:
        """Remember that host ``host_id`` sent a heartbeat at ``seen``."""
        with self._lock:
            known = self._pending.get(host_id)
            if known is None or seen > known:
                self._pending[host_id] = seen

    def pending(self) -> int:
        """How many hosts have a heartbeat time not yet written."""
        with self._lock:
            return len(self._pending)

    def flush(self, db: Database) -> int:
        """Write every pending heartbeat time in one statement; return how many hosts.

        On failure the times are kept for the next flush (newer ones noted meanwhile win).
        """
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return 0
        rows = [{"b_id": host_id, "b_seen": seen} for host_id, seen in batch.items()]
        try:
            db.run(lambda session: session.connection().execute(_WRITE_LAST_PING, rows))
        except Exception:
            with self._lock:
                for host_id, seen in batch.items():
                    known = self._pending.get(host_id)
                    if known is None or seen > known:
                        self._pending[host_id] = seen
            raise
        return len(batch)
