"""Periodic work for hosts: host state from heartbeats; agent certificates renewed in time."""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kvmcloud.server.configuration.definitions import PING_INTERVAL_S, PING_TIMEOUT
from kvmcloud.server.configuration.service import get_value
from kvmcloud.server.db import Database
from kvmcloud.server.infrastructure import renewal, service
from kvmcloud.server.infrastructure.last_seen import LastSeen
from kvmcloud.server.jobs.runner import JobContext

logger = logging.getLogger(__name__)


def update_host_states(
    db: Database, clock: Callable[[], datetime], last_seen: LastSeen | None = None
) -> None:
    """Recompute Up/Disconnected/Down for every host from its last heartbeat.

    The heartbeat times this server holds are written first; other servers write theirs
    at least every ``last_seen.flush_interval_s`` (the bound is in docs/performance.md).
    """
    if last_seen is not None:
        last_seen.flush(db)
    with db.transaction() as session:
        changes = service.update_host_states(
            session,
            clock(),
            interval_s=get_value(session, PING_INTERVAL_S),
            timeout_factor=get_value(session, PING_TIMEOUT),
        )
    for name, old, new in changes:
        logger.warning("host %s is now %s (was %s)", name, new, old)


def queue_certificate_renewals(db: Database, clock: Callable[[], datetime]) -> None:
    """Queue renewals of agent certificates with less than a third of their life left."""
    with db.transaction() as session:
        queued = renewal.queue_renewals(session, clock())
    if queued:
        logger.info("queued the renewal of %d agent certificates", queued)


def run_certificate_renewal(ctx: JobContext) -> dict[str, Any]:
    """Renew one agent's TLS certificate (payload ``host_id``)."""
    expires = renewal.renew_host_certificate(
        ctx.db, ctx.agents, ctx.clock, int(ctx.payload["host_id"]), ctx.settings.pki_dir
    )
    return {"success": True, "details": f"certificate renewed, valid until {expires:%Y-%m-%d}"}
