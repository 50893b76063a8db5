"""Run queued jobs to their end, moving the fake clock past the waits of jobs that wait."""

from typing import Any

from sqlalchemy import func, select

from kvmcloud.server.jobs.models import AsyncJob, JobStatus
from tests.integration.server.conftest import ServerHarness

# Longer than any RetryLater delay a job that waits for other jobs uses.
STEP_S = 5.0


def run_all_jobs(server: ServerHarness, max_rounds: int = 50) -> None:
    """Run jobs until none is pending; a job deferred for later runs once the clock gets there."""
    for _ in range(max_rounds):
        server.run_jobs()
        with server.db.transaction() as session:
            pending = session.scalar(
                select(func.count(AsyncJob.id)).where(AsyncJob.job_status == JobStatus.PENDING)
            )
        if not pending:
            return
        server.clock.advance(STEP_S)
    raise AssertionError(f"{pending} jobs still pending after {max_rounds} rounds")


def finished(server: ServerHarness, reply: dict[str, Any]) -> dict[str, Any]:
    """Run every job, then answer queryAsyncJobResult for the job ``reply`` names."""
    assert set(reply) == {"jobid"}, reply
    run_all_jobs(server)
    return server.ok("queryAsyncJobResult", jobid=reply["jobid"])
