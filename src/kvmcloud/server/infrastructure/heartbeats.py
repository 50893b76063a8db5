"""An agent's heartbeat as a use case: record it, then let each feature act on it."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.configuration.definitions import PING_INTERVAL_S
from kvmcloud.server.configuration.service import get_value
from kvmcloud.server.db import Database
from kvmcloud.server.infrastructure import service
from kvmcloud.server.infrastructure.host_states import HostStatus
from kvmcloud.server.infrastructure.models import Host


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
class Heartbeats:
    """Receives heartbeats; app.py gives it the features' listeners, in the order they run.

    The features that react (VMs, certificates, template copies) are built on this one,
    so they are passed in rather than imported: imports keep pointing one way.
    """

    db: Database
    clock: Callable[[], datetime]
    listeners: Sequence[HeartbeatListener]

    def authenticate(self, host_uuid: str, key: str) -> None:
        """Check that ``key`` is the agent key of live host ``host_uuid``.

        Raises:
            AuthenticationError: unknown host, removed host, or a key that does not match.
        """
        with self.db.transaction() as session:
            service.authenticate_agent(session, host_uuid, key)

    def receive(self, beat: msg.Heartbeat, key: str) -> msg.HeartbeatReply:
        """Record a heartbeat presented with the host's ``key``; return the interval to keep.

        Raises:
            AuthenticationError: unknown host, removed host, or a key that does not match.
        """
        with self.db.transaction() as session:
            previous = service.status_of(session, beat.host_uuid)
            now = self.clock()
            host = service.record_heartbeat(session, beat, key, now)
            interval_s = float(get_value(session, PING_INTERVAL_S))
            seen = HostSeen(host=host, previous=previous, beat=beat, now=now, interval_s=interval_s)
            # Pools are this feature's own: their usage is recorded before the listeners run.
            service.record_pool_usage(session, host, beat.pool_inventory)
            for listener in self.listeners:
                listener(session, seen)
            return msg.HeartbeatReply(interval_s=interval_s)
