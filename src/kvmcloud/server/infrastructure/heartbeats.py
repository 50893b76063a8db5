"""An agent's heartbeat as a use case: record it, then let each feature act on it."""

import hmac
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.configuration.cache import SettingsCache
from kvmcloud.server.configuration.definitions import PING_INTERVAL_S
from kvmcloud.server.db import Database
from kvmcloud.server.infrastructure import service
from kvmcloud.server.infrastructure.host_states import HostStatus
from kvmcloud.server.infrastructure.last_seen import LastSeen
from kvmcloud.server.infrastructure.models import Host
from kvmcloud.server.infrastructure.pool_states import PoolFailures

logger = logging.getLogger(__name__)

# The host row read when a request was authenticated serves its heartbeat if the body
# arrives within this time; a slower body is authenticated again.
AUTHENTICATED_ROW_TTL_S = 5.0


@dataclass(frozen=True, slots=True)
class HostSeen:
    """A heartbeat just recorded: the host after it, its state before, what it reported."""

    host: Host
    previous: HostStatus | None
    beat: msg.Heartbeat
    now: datetime
    interval_s: float


class HeartbeatListener(Protocol):
    """A feature's reaction to a heartbeat, run in the heartbeat's transaction."""

    def __call__(self, session: Session, seen: HostSeen) -> None:
        """Act on what the host reported (VM states, certificates held, pool listings)."""


@dataclass(frozen=True, slots=True)
class _Authenticated:
    key: str
    host: Host
    at: float


class Heartbeats:
    """Receives heartbeats; app.py gives it the features' listeners, in the order they run.

    The features that react (VMs, certificates, template copies) are built on this one,
    so they are passed in rather than imported: imports keep pointing one way.

    A heartbeat that changes nothing costs one read (the host row, when its key is
    checked) and no write: its time is noted in ``last_seen``, written in batches.
    ping.interval comes from ``settings`` (cached), not from a query per beat.
    """

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        listeners: Sequence[HeartbeatListener],
        *,
        settings: SettingsCache,
        last_seen: LastSeen,
        monotonic: Callable[[], float] = time.monotonic,
        pool_failures: PoolFailures | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.listeners = listeners
        self.settings = settings
        self.last_seen = last_seen
        self._monotonic = monotonic
        self._lock = threading.Lock()
        # host uuid → its row as read when the request's key was checked (one per host).
        self._authenticated: dict[str, _Authenticated] = {}
        # Which hosts fail which pool's check: kept in memory (see PoolFailures).
        self.pool_failures = pool_failures if pool_failures is not None else PoolFailures()

    def authenticate(self, host_uuid: str, key: str) -> None:
        """Check that ``key`` is the agent key of live host ``host_uuid``.

        The row read is kept for the heartbeat body that follows.

        Raises:
            AuthenticationError: unknown host, removed host, or a key that does not match.
        """
        host = self.db.run(lambda session: service.authenticate_agent(session, host_uuid, key))
        with self._lock:
            self._authenticated[host_uuid] = _Authenticated(key, host, self._monotonic())

    def receive(self, beat: msg.Heartbeat, key: str) -> msg.HeartbeatReply:
        """Record a heartbeat presented with the host's ``key``; return the interval to keep.

        Raises:
            AuthenticationError: unknown host, removed host, or a key that does not match.
        """
        now = self.clock()
        interval_s = float(self.settings.get(PING_INTERVAL_S))
        attempts: list[Host] = []

        def record(session: Session) -> Host:
            # A second attempt (after a lost connection) reads the row again: the first
            # one may have changed the kept row in memory.
            kept = None if attempts else self._take_authenticated(beat.host_uuid, key)
            host = kept or service.authenticate_agent(session, beat.host_uuid, key)
            attempts.append(host)
            previous = HostStatus(host.status)
            service.record_heartbeat(session, host, beat, now)
            seen = HostSeen(host=host, previous=previous, beat=beat, now=now, interval_s=interval_s)
            # Pools are this feature's own: their usage is recorded before the listeners run.
            service.record_pool_usage(session, host, beat.pool_inventory)
            changes = service.record_pool_health(
                session, host, beat.pool_health, self.pool_failures, now
            )
            for check in beat.pool_health:
                if self.pool_failures.note_access(check.uuid, host.id, check.access):
                    logger.info(
                        "host %s reaches pool %s by %s", host.name, check.uuid, check.access
                    )
            for name, status, why in changes:
                logger.warning("storage pool %s is %s (host %s): %s", name, status, host.name, why)
            for listener in self.listeners:
                listener(session, seen)
            return host

        host = self.db.run(record)
        self.last_seen.note(host.id, now)
        return msg.HeartbeatReply(interval_s=interval_s)

    def _take_authenticated(self, host_uuid: str, key: str) -> Host | None:
        with self._lock:
            kept = self._authenticated.pop(host_uuid, None)
        if kept is None or self._monotonic() - kept.at > AUTHENTICATED_ROW_TTL_S:
            return None
        if not hmac.compare_digest(kept.key.encode(), key.encode()):
            return None
        return kept.host
