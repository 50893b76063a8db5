"""JobRunner: run_once(), run_until_idle(), run_forever(stop_event); RetryLater for control flow."""

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kvmcloud.server.agent_client import AgentClient
from kvmcloud.server.db import Database
from kvmcloud.server.errors import ApiError
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.models import JobStatus
from kvmcloud.server.sealing.box import SecretBox
from kvmcloud.server.settings import ServerSettings

logger = logging.getLogger(__name__)

GENERIC_FAILURE = "Internal error executing job, please contact your administrator"


class RetryLater(Exception):  # noqa: N818 - control flow, not an error (arq's Retry)
    """Put the job back in the queue and run it again after ``delay_s``."""

    def __init__(self, delay_s: float, reason: str) -> None:
        super().__init__(reason)
        self.delay_s = delay_s


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a job handler gets: collaborators and the job it runs."""

    db: Database
    agents: AgentClient
    clock: Callable[[], datetime]
    settings: ServerSettings
    # Opens secrets at rest a job must send (HTTP_HEADER values of a download).
    box: SecretBox
    job_id: int
    job_uuid: str
    payload: Mapping[str, Any]

    def report_progress(self, percent: int) -> None:
        """Record the job's progress (0–100) in its own short transaction."""
        with self.db.transaction() as session:
            queue.set_progress(session, self.job_uuid, percent, self.clock())


JobHandler = Callable[[JobContext], dict[str, Any]]


class JobRunner:
    """Claims jobs from the database and runs their handlers, one at a time per thread."""

    def __init__(
        self,
        *,
        db: Database,
        agents: AgentClient,
        clock: Callable[[], datetime],
        settings: ServerSettings,
        handlers: Mapping[str, JobHandler],
        owner: str,
        box: SecretBox,
        msid: str | None = None,
    ) -> None:
        self._db = db
        self._agents = agents
        self._clock = clock
        self._settings = settings
        self._box = box
        self._handlers = handlers
        self._owner = owner
        self._msid = msid

    def run_once(self) -> bool:
        """Run one runnable job if there is one; return whether one ran."""
        with self._db.transaction() as session:
            job = queue.claim_next(session, self._owner, self._clock(), msid=self._msid)
            if job is None:
                return False
            job_id, job_uuid, kind, payload = job.id, job.uuid, job.kind, json.loads(job.payload)
            attempt, takeovers = job.attempts, job.takeovers
        # Which runner ran which job, and how often, is what explains a job run twice.
        logger.info(
            "job %s (%s) started by %s (run %d, taken over %d times)",
            job_uuid,
            kind,
            self._owner,
            attempt,
            takeovers,
        )
        context = JobContext(
            db=self._db,
            agents=self._agents,
            clock=self._clock,
            settings=self._settings,
            box=self._box,
            job_id=job_id,
            job_uuid=job_uuid,
            payload=payload,
        )
        self._run(kind, context)
        return True

    def _run(self, kind: str, context: JobContext) -> None:
        handler = self._handlers.get(kind)
        status, code, result = (
            JobStatus.FAILED,
            530,
            {"errorcode": 530, "errortext": GENERIC_FAILURE},
        )
        try:
            if handler is None:
                raise ApiError(f"No handler for job kind {kind!r}")
            result = handler(context)
            status, code = JobStatus.SUCCEEDED, 0
            logger.info("job %s (%s) succeeded", context.job_uuid, kind)
        except RetryLater as retry:
            logger.info("job %s deferred %.0f s: %s", context.job_uuid, retry.delay_s, retry)
            with self._db.transaction() as session:
                queue.release(
                    session,
                    context.job_id,
                    delay_s=retry.delay_s,
                    now=self._clock(),
                    msid=self._msid,
                )
            return
        except ApiError as exc:
            logger.info("job %s (%s) failed: %s", context.job_uuid, kind, exc.message)
            code = exc.error_code
            result = {"errorcode": code, "errortext": exc.message}
        except Exception:
            logger.exception("job %s (%s) failed unexpectedly", context.job_uuid, kind)
        with self._db.transaction() as session:
            recorded = queue.finish(
                session,
                context.job_id,
                status=status,
                code=code,
                result=result,
                now=self._clock(),
                msid=self._msid,
            )
        if not recorded:
            logger.warning(
                "job %s was taken over by another management server; its outcome here "
                "(%s) is not recorded",
                context.job_uuid,
                status.name,
            )

    def run_until_idle(self, max_jobs: int = 1000) -> int:
        """Run jobs until none is runnable (or ``max_jobs`` ran); return how many ran."""
        ran = 0
        while ran < max_jobs and self.run_once():
            ran += 1
        return ran

    def run_forever(
        self,
        stop: threading.Event,
        poll_interval_s: float = 0.5,
        wake: threading.Event | None = None,
    ) -> None:
        """Run jobs until ``stop`` is set, polling the queue when it is empty.

        ``wake`` (set when this server queues a job, and on stop) ends the wait at once;
        jobs queued by other management servers are found at the next poll.
        """
        pause = wake if wake is not None else stop
        while not stop.is_set():
            try:
                if self.run_once():
                    continue
            except Exception:
                # A database hiccup must not kill the worker thread; try again shortly.
                logger.exception("job runner %s failed to claim a job", self._owner)
            if pause.wait(poll_interval_s) and pause is wake:
                wake.clear()
