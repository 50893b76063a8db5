"""Job runners with a real SQLite database: queued jobs start at once, waiting ones go on."""

import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from kvmcloud.server.db import Database, make_engine
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.models import AsyncJob, JobStatus
from kvmcloud.server.jobs.runner import JobContext, JobRunner
from kvmcloud.server.sealing.box import SecretBox
from kvmcloud.server.settings import ServerSettings
from kvmcloud.server.templates.models import TemplatePoolRef
from tests.fakes import FakeAgentClient
from tests.integration.server.conftest import Cloud, ServerHarness
from tests.integration.server.test_vms import offering, register

FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


def database(migrated_db_file: Path, tmp_path: Path, **kwargs: Any) -> Database:
    path = tmp_path / "kvmcloud.db"
    shutil.copy(migrated_db_file, path)
    return Database(make_engine(f"sqlite:///{path}"), **kwargs)


def test_a_commit_that_queued_jobs_calls_back_once_and_a_rollback_does_not(
    migrated_db_file: Path, tmp_path: Path
) -> None:
    calls: list[str] = []
    db = database(migrated_db_file, tmp_path, on_jobs_queued=lambda: calls.append("queued"))
    with db.transaction() as session:
        queue.enqueue(session, kind="a", cmd="c", payload={}, now=now())
        queue.enqueue(session, kind="b", cmd="c", payload={}, now=now())
    with db.transaction():
        pass
    try:
        with db.transaction() as session:
            queue.enqueue(session, kind="c", cmd="c", payload={}, now=now())
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert calls == ["queued"]
    db.engine.dispose()


class WatchedEvent(threading.Event):
    """An Event that tells when someone starts waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting.set()
        return super().wait(timeout)


def test_an_idle_runner_starts_a_job_queued_here_without_waiting_for_its_poll(
    migrated_db_file: Path, tmp_path: Path
) -> None:
    wake, stop, ran = WatchedEvent(), threading.Event(), threading.Event()
    db = database(migrated_db_file, tmp_path, on_jobs_queued=wake.set)

    def handler(ctx: JobContext) -> dict[str, Any]:
        ran.set()
        return {"success": True}

    runner = JobRunner(
        db=db,
        agents=FakeAgentClient(),
        clock=now,
        settings=ServerSettings(database_url="sqlite://"),
        handlers={"k": handler},
        owner="test/0",
        box=SecretBox({"0123abcd": bytes(32)}, current="0123abcd"),
    )
    # A poll far longer than the test: only the wake-up can start the job in time.
    thread = threading.Thread(
        target=runner.run_forever, args=(stop,), kwargs={"poll_interval_s": 600, "wake": wake}
    )
    thread.start()
    try:
        # Queue only once the runner found the queue empty and sleeps.
        assert wake.waiting.wait(30), "the runner never went idle"
        with db.transaction() as session:
            job_id = queue.enqueue(session, kind="k", cmd="c", payload={}, now=now()).id
        assert ran.wait(30), "the queued job did not start"
    finally:
        stop.set()
        wake.set()
        thread.join(30)
    assert not thread.is_alive()
    with db.transaction() as session:
        job = session.get(AsyncJob, job_id)
        assert job is not None and job.job_status == JobStatus.SUCCEEDED
    db.engine.dispose()


def test_a_deploy_waiting_for_a_download_goes_on_as_soon_as_it_ends(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id, offering_id = register(server, cloud), offering(server)
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    deploy = server.ok(
        "deployVirtualMachine",
        zoneid=cloud.zone_id,
        templateid=template_id,
        serviceofferingid=offering_id,
    )
    # Run the deploy first: the prepare job holds the copy, so the deploy waits.
    with server.db.transaction() as session:
        prepare_job = session.scalars(select(TemplatePoolRef.job_id)).one()
        session.execute(
            update(AsyncJob).where(AsyncJob.uuid == prepare_job).values(run_after=FAR_FUTURE)
        )
    assert server.run_jobs() == 1
    with server.db.transaction() as session:
        session.execute(
            update(AsyncJob).where(AsyncJob.uuid == prepare_job).values(run_after=server.clock())
        )
        deferred = session.scalars(select(AsyncJob).where(AsyncJob.uuid == deploy["jobid"])).one()
        assert deferred.job_status == JobStatus.PENDING and deferred.run_after > server.clock()

    # The clock does not move: only the end of the download can make the deploy runnable.
    assert server.run_jobs() == 2
    vm = server.ok("listVirtualMachines", id=deploy["id"])["virtualmachine"][0]
    assert vm["state"] == "Running"


def test_a_job_read_as_runnable_is_not_claimed_once_another_runner_ended_or_deferred_it(
    migrated_db_file: Path, tmp_path: Path
) -> None:
    # Two runners read the same candidates; the first claims the job and ends it (or
    # defers it) before the second gets to its compare-and-set. Ending and deferring both
    # clear the owner, so a claim that only checked the owner ran the job a second time
    # (seen as two failure events for one prepareTemplate).
    db = database(migrated_db_file, tmp_path)
    with db.transaction() as session:
        ended = queue.enqueue(session, kind="a", cmd="c", payload={}, now=now()).id
        deferred = queue.enqueue(session, kind="b", cmd="c", payload={}, now=now()).id
    for job_id in (ended, deferred):
        with db.transaction() as session:
            assert queue.try_claim(session, job_id, "runner-0", now()) is not None
    with db.transaction() as session:
        assert queue.finish(session, ended, status=JobStatus.FAILED, code=530, result={}, now=now())
        queue.release(session, deferred, delay_s=60, now=now())
    with db.transaction() as session:
        assert queue.try_claim(session, ended, "runner-1", now()) is None
        assert queue.try_claim(session, deferred, "runner-1", now()) is None
        jobs = {j.id: j for j in session.scalars(select(AsyncJob))}
    assert (jobs[ended].job_status, jobs[ended].attempts) == (JobStatus.FAILED, 1)
    assert (jobs[deferred].job_status, jobs[deferred].owner, jobs[deferred].attempts) == (
        JobStatus.PENDING,
        None,
        1,
    )
    # Once its delay is over the deferred job is claimed as usual.
    with db.transaction() as session:
        claimed = queue.try_claim(session, deferred, "runner-1", FAR_FUTURE)
        assert claimed is not None and claimed.attempts == 2
    db.engine.dispose()
