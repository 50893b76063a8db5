"""The jobs of enableStorageMaintenance and cancelStorageMaintenance."""

from typing import Any

from kvmcloud.server.infrastructure.views import pool_response
from kvmcloud.server.jobs.runner import JobContext
from kvmcloud.server.pools import service


def run_maintenance(ctx: JobContext) -> dict[str, Any]:
    """Finish putting a pool into Maintenance; answer with the pool."""
    record = service.finish_maintenance(ctx.db, int(ctx.payload["pool_id"]))
    return {"storagepool": pool_response(record)}


def run_cancel_maintenance(ctx: JobContext) -> dict[str, Any]:
    """Bring a pool back Up; answer with the pool."""
    record = service.cancel_maintenance(ctx.db, int(ctx.payload["pool_id"]))
    return {"storagepool": pool_response(record)}
