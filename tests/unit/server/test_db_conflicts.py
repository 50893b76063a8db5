import MySQLdb
import psycopg
import pytest
from psycopg import errors as pg_errors
from sqlalchemy import exc, text

from kvmcloud.server import db
from kvmcloud.server.db import Database, make_engine
from kvmcloud.server.db_conflicts import is_transient_conflict


@pytest.mark.parametrize(
    "error",
    [
        pg_errors.SerializationFailure("could not serialize access"),
        pg_errors.DeadlockDetected("deadlock detected"),
        MySQLdb.OperationalError(1213, "Deadlock found when trying to get lock"),
        MySQLdb.OperationalError(1205, "Lock wait timeout exceeded; try restarting transaction"),
    ],
)
def test_conflicts_the_database_rolled_back_are_transient(error):
    assert is_transient_conflict(error)


@pytest.mark.parametrize(
    "error",
    [
        pg_errors.UniqueViolation("duplicate key"),
        psycopg.OperationalError("server closed the connection unexpectedly"),
        MySQLdb.IntegrityError(1062, "Duplicate entry"),
        MySQLdb.OperationalError(2013, "Lost connection to server during query"),
        MySQLdb.OperationalError("no number"),
        ValueError(),
    ],
)
def test_other_errors_are_not(error):
    assert not is_transient_conflict(error)


def conflict() -> exc.OperationalError:
    return exc.OperationalError("UPDATE host ...", {}, MySQLdb.OperationalError(1213, "Deadlock"))


@pytest.fixture
def database(tmp_path):
    database = Database(make_engine(f"sqlite:///{tmp_path}/db.sqlite"))
    yield database
    database.engine.dispose()


def test_run_repeats_work_that_lost_a_conflict(database, monkeypatch):
    monkeypatch.setattr(db, "CONFLICT_PAUSE_S", 0.0)
    calls = []

    def work(session):
        calls.append(session)
        if len(calls) <= db.CONFLICT_RETRIES:
            raise conflict()
        return session.execute(text("SELECT 7")).scalar_one()

    assert database.run(work) == 7
    assert len(calls) == db.CONFLICT_RETRIES + 1


def test_run_gives_up_after_the_retries_and_never_repeats_other_errors(database, monkeypatch):
    monkeypatch.setattr(db, "CONFLICT_PAUSE_S", 0.0)
    calls = []

    def always_conflicts(session):
        calls.append(1)
        raise conflict()

    with pytest.raises(exc.OperationalError):
        database.run(always_conflicts)
    assert len(calls) == db.CONFLICT_RETRIES + 1

    calls.clear()

    def duplicate(session):
        calls.append(1)
        raise exc.IntegrityError("INSERT ...", {}, MySQLdb.IntegrityError(1062, "Duplicate"))

    with pytest.raises(exc.IntegrityError):
        database.run(duplicate)
    assert calls == [1]
