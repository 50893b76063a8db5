"""The /agent/v1 routes agents call (heartbeat, VM/certificate/pool sync), by host key."""

import hmac
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.certificates import service as certificates
from kvmcloud.server.configuration.definitions import PING_INTERVAL_S
from kvmcloud.server.configuration.service import get_value
from kvmcloud.server.db import Database
from kvmcloud.server.errors import AuthenticationError
from kvmcloud.server.infrastructure import service
from kvmcloud.server.infrastructure.models import Host
from kvmcloud.server.templates.service import reconcile_pool_inventory
from kvmcloud.server.vms.service import reconcile_vm_states

logger = logging.getLogger(__name__)


def agent_routes(db: Database, clock: Callable[[], datetime]) -> list[Route]:
    """Return the routes agents use to report to this server."""

    def heartbeat(body: bytes, key: str) -> msg.HeartbeatReply:
        beat = msg.from_json(msg.Heartbeat, body)
        with db.transaction() as session:
            previous = service.status_of(session, beat.host_uuid)
            host = service.record_heartbeat(session, beat, key, clock())
            for name, old, new in reconcile_vm_states(session, host, beat.vm_states, clock()):
                logger.warning("VM %s on host %s: %s -> %s", name, host.name, old, new)
            interval_s = float(get_value(session, PING_INTERVAL_S))
            # Back Up after Disconnected/Down → sync its certificates; and correct the
            # certificate rows by what the host says it holds.
            certificates.after_heartbeat(
                session, host, previous, beat.certificates, clock(), grace_s=2 * interval_s
            )
            if not beat.shutting_down:
                _reconcile_pools(session, host, beat.pool_inventory, clock())
            return msg.HeartbeatReply(interval_s=interval_s)

    async def heartbeat_route(request: Request) -> Response:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if not hmac.compare_digest(scheme.encode(), msg.AUTHORIZATION_SCHEME.encode()) or not key:
            return JSONResponse({"error": "missing bearer key"}, status_code=401)
        body = await request.body()
        try:
            reply = await run_in_threadpool(heartbeat, body, key)
        except msg.MessageFormatError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except AuthenticationError:
            return JSONResponse({"error": "unknown host or wrong key"}, status_code=401)
        return Response(msg.to_json(reply), media_type="application/json")

    return [Route("/agent/v1/heartbeat", heartbeat_route, methods=["POST"])]


def _reconcile_pools(
    session: Session, host: Host, inventories: list[msg.PoolInventory], now: datetime
) -> None:
    """Reset Ready template copies whose files the host's pool listings lack (never delete)."""
    for inventory in inventories:
        if inventory.stale_partials_removed:
            logger.info(
                "host %s removed %d stale partial files from pool %s when it started",
                host.name,
                inventory.stale_partials_removed,
                inventory.uuid,
            )
        if inventory.truncated:
            logger.info(
                "host %s listed only part of pool %s: its copies are not checked",
                host.name,
                inventory.uuid,
            )
            continue
        for copy in reconcile_pool_inventory(session, host, inventory, now):
            logger.warning(
                "template %s: file %s is missing on pool %s per host %s; the copy is no "
                "longer Ready and is downloaded again when next needed",
                copy.template_name,
                copy.file_name,
                copy.pool_name,
                host.name,
            )
