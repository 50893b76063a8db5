"""The certificate_sync job: push what Up hosts miss (one host, or every host)."""

from typing import Any

from kvmcloud.server.certificates import service
from kvmcloud.server.certificates.models import CertificateHostStatus
from kvmcloud.server.jobs.runner import JobContext


def run_certificate_sync(ctx: JobContext) -> dict[str, Any]:
    """Push the certificates one host (payload ``host_id``) or every Up host lacks.

    Queued by addHost and by a host's return to Up (one host), and by the periodic task
    (every host). Certificates revoked on a host stay revoked.
    """
    host_id = ctx.payload.get("host_id")
    outcomes = service.sync_certificates(
        ctx.db, ctx.agents, ctx.clock, int(host_id) if host_id is not None else None
    )
    failed = sum(1 for o in outcomes if o.status is CertificateHostStatus.FAILED)
    if not outcomes:
        details = "nothing to push"
    else:
        details = f"{len(outcomes) - failed} of {len(outcomes)} certificate pushes succeeded"
    return {"success": True, "details": details}
