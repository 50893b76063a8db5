"""JobRunner.run_forever with a real SQLite database: a job queued here starts at once."""

import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kvmcloud.server.db import Database, make_engine
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.models import AsyncJob, JobStatus
from kvmcloud.server.jobs.runner import JobContext, JobRunner
from kvmcloud.server.settings import ServerSettings
from tests.fakes import FakeAgentClient


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
