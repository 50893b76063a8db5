"""with_event(): a job handler that records its outcome as an event (completed or failed)."""

import logging
from typing import Any

from kvmcloud.server.errors import ApiError
from kvmcloud.server.events.catalog import EventType, ResourceType, job_event_description
from kvmcloud.server.events.models import EventLevel
from kvmcloud.server.events.service import record_job_event
from kvmcloud.server.jobs.models import AsyncJob
from kvmcloud.server.jobs.runner import GENERIC_FAILURE, JobContext, JobHandler, RetryLater

logger = logging.getLogger(__name__)


def with_event(
    event_type: EventType, resource_type: ResourceType, handler: JobHandler
) -> JobHandler:
    """Wrap ``handler`` so each run that ends records ``event_type`` for the job's account.

    INFO when it succeeds, ERROR with the reason when it fails; a run deferred with
    RetryLater records nothing (it has not ended). The resource is the job's instance.
    """

    def run(ctx: JobContext) -> dict[str, Any]:
        try:
            result = handler(ctx)
        except RetryLater:
            raise
        except ApiError as exc:
            _record(ctx, event_type, resource_type, exc.message)
            raise
        except Exception:
            _record(ctx, event_type, resource_type, GENERIC_FAILURE)
            raise
        _record(ctx, event_type, resource_type, None)
        return result

    return run


def _record(
    ctx: JobContext, event_type: EventType, resource_type: ResourceType, error: str | None
) -> None:
    try:
        with ctx.db.transaction() as session:
            job = session.get(AsyncJob, ctx.job_id)
            resource = job.instance_uuid if job is not None else None
            record_job_event(
                session,
                ctx.job_id,
                type=event_type.value,
                level=EventLevel.INFO if error is None else EventLevel.ERROR,
                description=job_event_description(event_type, resource or "?", error),
                resource_type=resource_type.value,
                resource_uuid=resource,
                now=ctx.clock(),
            )
    except Exception:
        # The job's own outcome matters more than its event: never lose it over this.
        logger.exception("could not record event %s of job %s", event_type, ctx.job_uuid)
