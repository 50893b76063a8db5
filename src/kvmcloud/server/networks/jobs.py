"""Network jobs: updateNetwork, deleteNetwork."""

import logging
from typing import Any

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.errors import ApiError
from kvmcloud.server.jobs.runner import JobContext
from kvmcloud.server.networks import service, views

logger = logging.getLogger(__name__)

REMOVE_TIMEOUT_S = 60.0


def run_update_network(ctx: JobContext) -> dict[str, Any]:
    """UpdateNetwork's job: change the name or display text; answer with the network."""
    record = service.update_network(
        ctx.db,
        int(ctx.payload["network_id"]),
        name=ctx.payload.get("name"),
        display_text=ctx.payload.get("display_text"),
    )
    return {"network": views.network_response(record)}


def run_delete_network(ctx: JobContext, *, users: service.NetworkUsers) -> dict[str, Any]:
    """DeleteNetwork's job: remove the network unless a VM has a NIC on it, then its bridges.

    The record goes first; a host that cannot remove its libvirt network keeps it (an idle
    bridge), which is logged and does not fail the job.
    """
    network_id = int(ctx.payload["network_id"])
    network_uuid, endpoints = service.delete_network(ctx.db, network_id, ctx.clock(), users)
    command = msg.RemoveNetworkCommand(network_uuid=network_uuid)
    for endpoint in endpoints:
        try:
            answer = ctx.agents.call(endpoint, command, timeout_s=REMOVE_TIMEOUT_S)
            problem = None if answer.ok else answer.error.message if answer.error else "refused"
        except ApiError as exc:
            problem = exc.message
        if problem is not None:
            logger.warning(
                "host %s kept the libvirt network of deleted network %s: %s",
                endpoint.name,
                network_uuid,
                problem,
            )
    return {"success": True}
