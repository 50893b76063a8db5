"""with_event(): a job handler that records its outcome as an event (completed or failed)."""

import logging
from typing import Any

from kvmcloud.server.errors import ApiError
from kvmcloud.server.events.catalog import EventType, ResourceType
from kvmcloud.server.events.service import record_job_outcome
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
        record_job_outcome(
            ctx.db,
            ctx.job_id,
            event_type=event_type,
            resource_type=resource_type,
            error=error,
            clock=ctx.clock,
        )
    except Exception:
        # The job's own outcome matters more than its event: never lose it over this.
        logger.exception("could not record event %s of job %s", event_type, ctx.job_uuid)
