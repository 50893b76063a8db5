"""The same schema and the same claims on SQLite, PostgreSQL and MariaDB (issue 17)."""

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from kvmcloud.server import db_migrations
from kvmcloud.server.accounts.models import Role, RoleType
from kvmcloud.server.db import Database, make_engine
from kvmcloud.server.infrastructure.models import StoragePool
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.models import AsyncJob
from kvmcloud.server.templates.copies import get_or_create_pool_ref
from kvmcloud.server.templates.models import Template, TemplatePoolRef
from tests.integration.server.conftest import ServerHarness, build_cloud
from tests.integration.server.test_vms import register

RUNNERS = 6
JOBS = 60
THREAD_TIMEOUT_S = 60.0


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(make_engine(db_url))
    yield database
    database.engine.dispose()


def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    assert db_migrations.pending_differences(db.engine) == []


def test_timestamps_keep_their_microseconds(db: Database) -> None:
    moment = datetime(2026, 12, 6, 3, 4, 5, 123456, tzinfo=UTC)
    with db.transaction() as session:
        job_id = queue.enqueue(session, kind="a", cmd="c", payload={}, now=moment).id
    with db.transaction() as session:
        job = session.get_one(AsyncJob, job_id)
        assert (job.created, job.run_after) == (moment, moment)
        # Ordering and comparing below a second works in SQL too.
        later = moment + timedelta(microseconds=1)
        assert session.scalar(select(AsyncJob.id).where(AsyncJob.created < later)) == job_id
        assert session.scalar(select(AsyncJob.id).where(AsyncJob.created > moment)) is None


def add_role(db: Database, name: str) -> int:
    with db.transaction() as session:
        role = Role(name=name, role_type=RoleType.USER, description=None, is_default=False)
        session.add(role)
        session.flush()
        return role.id


def test_names_differ_by_case_and_are_unique_among_live_rows_only(db: Database) -> None:
    # Binary, no-pad collation on MariaDB: "Ops", "ops" and "Ops " are three names, as on
    # SQLite and PostgreSQL.
    first = add_role(db, "Ops")
    add_role(db, "ops")
    add_role(db, "Öps")
    add_role(db, "Ops ")
    with pytest.raises(IntegrityError):
        add_role(db, "Ops")
    with db.transaction() as session:
        session.execute(update(Role).where(Role.id == first).values(removed=datetime.now(UTC)))
    # Once removed, its name is free again; a second removed "Ops" does not collide either.
    second = add_role(db, "Ops")
    with db.transaction() as session:
        session.execute(update(Role).where(Role.id == second).values(removed=datetime.now(UTC)))
    add_role(db, "Ops")
    with db.transaction() as session:
        names = session.scalars(select(Role.name).where(Role.name == "ops")).all()
    assert names == ["ops"]


def test_racing_runners_claim_every_job_exactly_once(db: Database) -> None:
    now = datetime.now(UTC)
    with db.transaction() as session:
        for number in range(JOBS):
            queue.enqueue(session, kind="k", cmd=f"c{number}", payload={}, now=now)
    claims: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(RUNNERS)

    def runner(name: str) -> None:
        try:
            start.wait(timeout=THREAD_TIMEOUT_S)
            for _ in range(JOBS + 1):
                with db.transaction() as session:
                    job = queue.claim_next(session, name, now, msid="ms")
                    if job is None:
                        return
                    claims.append((job.id, name))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(f"r{n}",)) for n in range(RUNNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    per_job = Counter(job_id for job_id, _name in claims)
    assert len(per_job) == JOBS and set(per_job.values()) == {1}
    with db.transaction() as session:
        jobs = session.scalars(select(AsyncJob)).all()
        assert {job.owner for job in jobs} <= {f"r{n}" for n in range(RUNNERS)}
        assert {job.attempts for job in jobs} == {1}
    # On databases with row locks the runners share the work (SKIP LOCKED, no waiting).
    if db.engine.dialect.name != "sqlite":
        assert len({name for _job, name in claims}) > 1


def test_racing_deploys_of_a_new_copy_all_get_the_one_row(
    server_on_each_database: ServerHarness,
) -> None:
    # Every racer reads first (no row yet: under MariaDB's default REPEATABLE READ that read
    # fixes the snapshot), then all insert at once: one row results, and every racer reads
    # it back in the same transaction, which READ COMMITTED makes possible.
    server = server_on_each_database
    cloud = build_cloud(server)
    template_uuid = register(server, cloud)
    db = server.db
    racers = 4
    read_done = threading.Barrier(racers)
    found: list[int] = []
    errors: list[BaseException] = []

    def racer() -> None:
        try:
            with db.transaction() as session:
                template = session.scalars(
                    select(Template).where(Template.uuid == template_uuid)
                ).one()
                pool = session.scalars(
                    select(StoragePool).where(StoragePool.uuid == cloud.pool_id)
                ).one()
                assert session.scalars(select(TemplatePoolRef.id)).all() == []
                read_done.wait(timeout=THREAD_TIMEOUT_S)
                ref = get_or_create_pool_ref(session, template, pool, datetime.now(UTC))
                found.append(ref.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=racer) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(found) == racers and len(set(found)) == 1
    with db.transaction() as session:
        assert len(session.scalars(select(TemplatePoolRef)).all()) == 1


def test_connections_are_set_up_for_the_claims(db: Database) -> None:
    # The claims' reasoning (docs/management-servers.md) assumes these settings.
    dialect = db.engine.dialect.name
    with db.engine.connect() as connection:
        if dialect == "sqlite":
            settings = connection.exec_driver_sql("PRAGMA journal_mode").one()
            assert tuple(settings) == ("wal",)
        elif dialect == "postgresql":
            settings = connection.exec_driver_sql("SHOW transaction_isolation").one()
            assert tuple(settings) == ("read committed",)
        else:
            settings = connection.exec_driver_sql(
                "SELECT @@tx_isolation, @@character_set_connection, @@collation_database"
            ).one()
            # The database keeps the server's default (latin1 here): the tables name theirs.
            assert tuple(settings)[:2] == ("READ-COMMITTED", "utf8mb4")
            collations = connection.exec_driver_sql(
                "SELECT DISTINCT table_collation FROM information_schema.tables"
                " WHERE table_schema = DATABASE()"
            ).all()
            assert [tuple(row) for row in collations] == [("utf8mb4_nopad_bin",)]
