"""run_direct_download() sends one pool copy's DirectDownload; run_delete_template() deletes."""

import logging
from typing import Any

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.agent_client import error_from_answer
from kvmcloud.server.errors import ApiError
from kvmcloud.server.jobs.runner import JobContext
from kvmcloud.server.templates import service
from kvmcloud.server.templates.api import template_response_for_ref
from kvmcloud.server.templates.models import Template

logger = logging.getLogger(__name__)


def run_direct_download(ctx: JobContext) -> dict[str, Any]:
    """Download a template to a pool through a host that reaches it; never inside a transaction."""
    ref_id = int(ctx.payload["ref_id"])
    with ctx.db.transaction() as session:
        plan = service.begin_download(session, ref_id, ctx.clock())
    if plan is None:
        return _result(ctx, ref_id)
    # One attempt on the first candidate for now; distinct-host retries come with the
    # fault-handling work (reference section 9, item 2), and plug in here.
    host_id, endpoint = plan.candidates[0]
    last_percent = -1

    def on_progress(done: int, total: int | None) -> None:
        nonlocal last_percent
        percent = min(99, done * 100 // total) if total else 0
        if percent != last_percent:
            last_percent = percent
            with ctx.db.transaction() as session:
                service.record_progress(session, ref_id, percent, ctx.clock())
            ctx.report_progress(percent)

    context = (
        f"Template {plan.template_name} could not be downloaded to pool {plan.pool_name} "
        f"by host {endpoint.name}"
    )
    try:
        answer = ctx.agents.run(
            endpoint,
            ctx.job_uuid,
            plan.command,
            deadline_s=plan.deadline_s,
            on_progress=on_progress,
        )
        if not answer.ok or not isinstance(answer.result, msg.DirectDownloadResult):
            raise error_from_answer(answer, context)
    except ApiError as exc:
        with ctx.db.transaction() as session:
            service.fail_download(session, ref_id, exc.message, ctx.clock())
        raise
    with ctx.db.transaction() as session:
        service.finish_download(session, ref_id, host_id, answer.result, ctx.clock())
    logger.info(
        "template %s is on pool %s at %s",
        plan.template_name,
        plan.pool_name,
        answer.result.install_path,
    )
    return _result(ctx, ref_id)


def _result(ctx: JobContext, ref_id: int) -> dict[str, Any]:
    with ctx.db.transaction() as session:
        return {"template": template_response_for_ref(session, ref_id)}


def run_delete_template(ctx: JobContext) -> dict[str, Any]:
    """Delete a template or ISO (its copies on pools stay until the pool cleanup removes them)."""
    with ctx.db.transaction() as session:
        template = session.get(Template, int(ctx.payload["template_id"]))
        if template is not None and template.removed is None:
            service.delete_template(session, template, ctx.clock())
    return {"success": True}
