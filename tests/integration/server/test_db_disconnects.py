"""No ping per transaction: lost PostgreSQL connections are found and replaced anyway."""

import psycopg
import pytest
from sqlalchemy import event, exc, text
from sqlalchemy.orm import Session

from kvmcloud.server.db import _IDLE_SINCE, Database, make_engine
from tests.support.postgres import postgres_or_skip


def _terminate_others(conninfo: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def _backend(session: Session) -> int:
    return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_lost_connection_costs_one_retry_and_an_idle_one_none() -> None:
    with postgres_or_skip() as server:
        engine = make_engine(server.url, pool_size=2)
        db = Database(engine)
        try:
            first = db.run(_backend)
            statements: list[str] = []

            def count(_c: object, _cur: object, statement: str, *_a: object) -> None:
                statements.append(statement)

            event.listen(engine, "before_cursor_execute", count)
            assert db.run(_backend) == first
            assert statements == ["SELECT pg_backend_pid()"], "no ping on a busy connection"
            event.remove(engine, "before_cursor_execute", count)

            # The server drops the pooled connection: the unit of work runs once more.
            assert _terminate_others(server.conninfo) >= 1
            calls: list[int] = []

            def work(session: Session) -> int:
                calls.append(1)
                return _backend(session)

            second = db.run(work)
            assert second != first and len(calls) == 2
            # A plain transaction after that gets a live connection.
            with db.transaction() as session:
                assert _backend(session) == second

            # A connection idle for long is pinged when taken: a dead one is replaced
            # before the transaction uses it.
            assert _terminate_others(server.conninfo) >= 1
            for record in list(engine.pool._pool.queue):  # type: ignore[attr-defined]
                record.info[_IDLE_SINCE] -= 3600
            with db.transaction() as session:
                assert _backend(session) not in (first, second)

            def broken(session: Session) -> None:
                session.execute(text("SELECT * FROM no_such_table"))

            with pytest.raises(exc.ProgrammingError):
                db.run(broken)
        finally:
            engine.dispose()
