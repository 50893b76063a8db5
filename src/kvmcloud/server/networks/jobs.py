"""Network jobs: updateNetwork, deleteNetwork."""

from typing import Any

from kvmcloud.server.jobs.runner import JobContext
from kvmcloud.server.networks import service, views


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
    """DeleteNetwork's job: remove the network's record unless a VM has a NIC on it."""
    service.delete_network(ctx.db, int(ctx.payload["network_id"]), ctx.clock(), users)
    return {"success": True}
