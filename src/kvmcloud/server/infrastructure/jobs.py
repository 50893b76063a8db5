"""Periodic work for hosts: keep host state in step with heartbeats."""

import logging
from collections.abc import Callable
from datetime import datetime

from kvmcloud.server.configuration.definitions import PING_INTERVAL_S, PING_TIMEOUT
from kvmcloud.server.configuration.service import get_value
from kvmcloud.server.db import Database
from kvmcloud.server.infrastructure import service

logger = logging.getLogger(__name__)


def update_host_states(db: Database, clock: Callable[[], datetime]) -> None:
    """Recompute Up/Disconnected/Down for every host from its last heartbeat."""
    with db.transaction() as session:
        changes = service.update_host_states(
            session,
            clock(),
            interval_s=get_value(session, PING_INTERVAL_S),
            timeout_factor=get_value(session, PING_TIMEOUT),
        )
    for name, old, new in changes:
        logger.warning("host %s is now %s (was %s)", name, new, old)
