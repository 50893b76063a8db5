"""kvmcloud on a three-node MariaDB Galera cluster: the schema, and job claims (issue 17).

What docs/management-servers.md says about Galera is what this shows: migrations run
through one node and replicate; runners that all write through one node claim each job
once with no error; runners spread over the nodes still claim each job once (Galera's
certification lets one of two conflicting commits through), but the losers fail at
commit with deadlock errors (1213) that a single server never sees.
"""

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from kvmcloud.server import db_migrations, models_index
from kvmcloud.server.db import Database, make_engine
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.models import AsyncJob
from tests.support.galera import GaleraCluster, galera_or_skip

pytestmark = [pytest.mark.mariadb, pytest.mark.timeout(420)]

RUNNERS = 6
JOBS = 60
THREAD_TIMEOUT_S = 120.0
DEADLOCK = 1213
# Galera applies a write set on the other nodes after the writer's commit returns: a read
# there waits until it has applied everything committed before (wsrep_sync_wait=1), or it
# may miss the last migration's ALTER or the last claims (both seen without it).
SYNC_READS = "?init_command=SET%20SESSION%20wsrep_sync_wait%3D1"


def synced(url: str) -> str:
    """``url`` with causal reads: each read sees every write committed on any node before."""
    return url + SYNC_READS


@pytest.fixture(scope="module")
def cluster() -> Iterator[GaleraCluster]:
    with galera_or_skip(GaleraCluster(database="kvmcloud_galera")) as running:
        engine = make_engine(running.urls[0])
        db_migrations.upgrade(engine)
        engine.dispose()
        yield running


def test_migrations_through_one_node_give_every_node_the_schema(cluster: GaleraCluster) -> None:
    for url in cluster.urls[1:]:
        engine = make_engine(synced(url))
        try:
            assert db_migrations.pending_differences(engine) == []
        finally:
            engine.dispose()


def race(
    cluster: GaleraCluster, node_of: Callable[[int], int]
) -> tuple[Counter[int], Counter[int]]:
    """Queue JOBS jobs, let RUNNERS runners claim them through their nodes; count claims."""
    models_index.load_all()
    databases = [Database(make_engine(synced(url))) for url in cluster.urls]
    now = datetime.now(UTC)
    with databases[0].transaction() as session:
        session.execute(delete(AsyncJob))
        for number in range(JOBS):
            queue.enqueue(session, kind="k", cmd=f"c{number}", payload={}, now=now)
    claims: Counter[int] = Counter()
    errors: Counter[int] = Counter()
    unexpected: list[BaseException] = []
    start = threading.Barrier(RUNNERS)
    lock = threading.Lock()

    def runner(number: int) -> None:
        db = databases[node_of(number)]
        try:
            start.wait(timeout=THREAD_TIMEOUT_S)
            # Every job is claimed by the time each runner finds none; failed commits retry.
            for _ in range(JOBS * 10):
                try:
                    with db.transaction() as session:
                        job = queue.claim_next(session, f"r{number}", now, msid="ms")
                        if job is None:
                            return
                        job_id = job.id
                except OperationalError as exc:
                    with lock:
                        errors[exc.orig.args[0] if exc.orig else 0] += 1
                    continue
                with lock:
                    claims[job_id] += 1
        except BaseException as exc:
            unexpected.append(exc)

    threads = [threading.Thread(target=runner, args=(n,)) for n in range(RUNNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_TIMEOUT_S)
    try:
        assert not any(thread.is_alive() for thread in threads)
        assert unexpected == []
        with databases[0].transaction() as session:
            owned = session.scalar(
                select(func.count()).select_from(AsyncJob).where(AsyncJob.owner.is_not(None))
            )
        assert owned == JOBS
    finally:
        for database in databases:
            database.engine.dispose()
    return claims, errors


def test_runners_writing_through_one_node_claim_each_job_once(cluster: GaleraCluster) -> None:
    claims, errors = race(cluster, lambda _runner: 0)
    assert len(claims) == JOBS and set(claims.values()) == {1}
    assert errors == Counter()


def test_runners_on_every_node_claim_each_job_once_but_conflict(cluster: GaleraCluster) -> None:
    claims, errors = race(cluster, lambda runner: runner % cluster.size)
    # Certification lets one of two conflicting claims commit: still no job runs twice.
    assert len(claims) == JOBS and set(claims.values()) == {1}
    # The losers' commits fail as deadlocks (not seen here on one node, see above).
    assert set(errors) <= {DEADLOCK}


def test_database_run_repeats_a_transaction_that_failed_certification(
    cluster: GaleraCluster,
) -> None:
    # Deterministic: while the first attempt holds its uncommitted update on node 1, node 2
    # commits one to the same row; node 1's commit then fails certification (1213) and
    # Database.run runs the work again, which commits.
    first, second = (Database(make_engine(synced(url))) for url in cluster.urls[:2])
    try:
        with first.transaction() as session:
            session.execute(text("DROP TABLE IF EXISTS certified"))
            session.execute(text("CREATE TABLE certified (id INT PRIMARY KEY, n INT NOT NULL)"))
            session.execute(text("INSERT INTO certified VALUES (1, 0)"))
        calls: list[int] = []

        def add_one(session: Session) -> None:
            calls.append(1)
            session.execute(text("UPDATE certified SET n = n + 1 WHERE id = 1"))
            if len(calls) == 1:
                with second.transaction() as other:
                    other.execute(text("UPDATE certified SET n = n + 10 WHERE id = 1"))

        first.run(add_one)
        assert len(calls) == 2
        with second.transaction() as session:
            assert session.scalar(text("SELECT n FROM certified WHERE id = 1")) == 11
            session.execute(text("DROP TABLE certified"))
    finally:
        first.engine.dispose()
        second.engine.dispose()
