"""Base with naming convention, make_engine() (per database), Database.transaction()."""

import logging
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, String, create_engine, event, exc
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator, TypeEngine

from kvmcloud.server import db_mariadb
from kvmcloud.server.db_conflicts import is_transient_conflict

logger = logging.getLogger(__name__)

# Constraint names come from this convention so Alembic can name and later alter them on
# every backend (Alembic docs, "The Importance of Naming Constraints").
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """Store naive UTC, hand back aware UTC: SQLite keeps no zone, PostgreSQL would convert."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Keep microseconds on MariaDB too (DATETIME(6)); the others keep them anyway."""
        if dialect.name in db_mariadb.DIALECTS:
            return dialect.type_descriptor(db_mariadb.DATETIME)
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to naive UTC for storage."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Mark a stored naive value as UTC."""
        return None if value is None else value.replace(tzinfo=UTC)


E = TypeVar("E", bound=StrEnum)


class StrEnumType(TypeDecorator[E]):
    """Store a StrEnum as its string value and load it back as the enum member."""

    impl = String
    cache_ok = True

    def __init__(self, enum_cls: type[E], length: int = 32) -> None:
        super().__init__(length)
        self.enum_cls = enum_cls
        self.length = length

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        """Validate through the enum, store the value."""
        return None if value is None else self.enum_cls(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        """Turn the stored value back into the enum member."""
        return None if value is None else self.enum_cls(value)


def new_uuid() -> str:
    """Return a fresh random UUID string, the public id of every object."""
    return str(uuid.uuid4())


# A connection is replaced after this long: before a server-side idle timeout (MariaDB's
# wait_timeout defaults to 8 h, proxies often cut at 1 h) can close it under us.
POOL_RECYCLE_S = 1800
# A connection idle this long is pinged when checked out; busy ones are not (issue 17).
IDLE_PING_AFTER_S = 30.0
_IDLE_SINCE = "kvmcloud.idle_since"
# SQLite keeps no statistics until ANALYZE: without them its planner guesses, and may walk an
# index that does not narrow anything (vm_template.account_id when one account owns every
# template) instead of the better plan. SQLite's advice for long-lived connections: run
# PRAGMA optimize=0x10002 when one opens (analyzes every table that needs it, SQLite 3.46+)
# and PRAGMA optimize periodically (analyzes the tables this connection queried and would
# have planned better with statistics; older SQLite does only this). When nothing needs
# analysing PRAGMA optimize takes some 20 µs, so "periodically" can be every second. No
# analysis_limit: a sample of the first rows of an index counts one account owning 20,000
# templates as 1,000 rows per account, and the planner still takes the account index.
SQLITE_OPTIMIZE_EVERY_S = 1.0
SQLITE_BUSY_TIMEOUT_MS = 30_000
# A transaction that lost a conflict (Database.run) is run again this many times at most,
# after a random pause of up to this long, doubled at each retry (20 ms to 160 ms): the
# conflicting transactions are short (a heartbeat, the last-seen flush), and a random pause
# keeps two losers from meeting again. A hot spot written through several Galera nodes at
# once (one job queue claimed by runners on every node) loses more often than that: write
# through one node (docs/management-servers.md).
CONFLICT_RETRIES = 4
CONFLICT_PAUSE_S = 0.02
_OPTIMIZED_AT = "kvmcloud.sqlite_optimized_at"


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """Create the engine; SQLite gets WAL, a busy timeout and enforced foreign keys.

    ``pool_size`` is the number of threads that use the database at once (API worker
    threads, job runners, background threads): a smaller pool closes and reopens
    connections under load. No ping per checkout (``pool_pre_ping`` costs a round trip
    per transaction): connections are recycled after ``POOL_RECYCLE_S``, pinged only when
    idle for ``IDLE_PING_AFTER_S``, and a transaction cut by a disconnect invalidates the
    pool (see ``Database.run``). MariaDB gets utf8mb4 connections in READ COMMITTED
    (db_mariadb says why).
    """
    if url.startswith("sqlite"):
        # An in-memory database lives in one connection per thread: no pool to size.
        in_memory = url in ("sqlite://", "sqlite:///:memory:")
        sizing = {} if in_memory else {"pool_size": pool_size, "max_overflow": pool_size}
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            **sizing,
        )
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "checkin", _optimize_sqlite_if_due)
        return engine
    dialect_arguments = db_mariadb.engine_arguments(url) if db_mariadb.is_mariadb_url(url) else {}
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max(4, pool_size // 4),
        pool_recycle=POOL_RECYCLE_S,
        **dialect_arguments,
    )
    event.listen(engine, "checkin", _note_idle)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def _note_idle(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: object) -> None:
    idle_since = record.info.get(_IDLE_SINCE)
    if idle_since is None or time.monotonic() - idle_since < IDLE_PING_AFTER_S:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
    except Exception as error:
        # The pool discards this connection and checks out another (up to three tries).
        raise exc.DisconnectionError(f"idle connection is gone: {error}") from error


def _configure_sqlite(dbapi_connection: Any, _record: object) -> None:
    # WAL lets API readers proceed while a job writes; busy_timeout makes writers queue
    # instead of failing at once with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Overwrite deleted and replaced content with zeros: a secret sealed in place, or a
    # regenerated key, must not linger in the file's free space.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA optimize=0x10002")
    cursor.close()


def _optimize_sqlite_if_due(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    # On check-in, outside any transaction: at most once a SQLITE_OPTIMIZE_EVERY_S per
    # connection, the first time at its first check-in (statistics for what it queried).
    now = time.monotonic()
    last = record.info.get(_OPTIMIZED_AT)
    if last is not None and now - last < SQLITE_OPTIMIZE_EVERY_S:
        return
    record.info[_OPTIMIZED_AT] = now
    try:
        cursor = dbapi_connection.cursor()
        try:
            # Never wait for another writer here: this runs as a request or job hands its
            # connection back, and a busy database is simply analysed next period.
            cursor.execute("PRAGMA busy_timeout=0")
            try:
                cursor.execute("PRAGMA optimize")
            finally:
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()
    except sqlite3.Error:
        # Statistics are an optimisation: a busy database is tried again next period.
        return


def insert_unless_present(
    session: Session, model: type[Base], values: dict[str, Any], key: list[str]
) -> None:
    """INSERT a row unless one with the same unique ``key`` exists; then keep that one.

    Racing inserters of the same key do not fail: the database makes the later ones wait
    for the first one's commit and then adds nothing (PostgreSQL and SQLite: ON CONFLICT
    DO NOTHING; MariaDB: ON DUPLICATE KEY UPDATE of a key column to itself, which changes
    nothing and, unlike INSERT IGNORE, does not turn other errors into warnings). Read the
    row afterwards in a new statement: under READ COMMITTED it is visible then.

    Raises:
        NotImplementedError: a database other than SQLite, PostgreSQL and MariaDB.
    """
    dialect = session.get_bind().dialect.name
    if dialect in db_mariadb.DIALECTS:
        column = model.__table__.c[key[0]]
        session.execute(
            mysql.insert(model).values(**values).on_duplicate_key_update({column.name: column})
        )
        return
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(
            f"insert_unless_present is not implemented for database dialect {dialect!r}: "
            "only sqlite, postgresql and mariadb are supported"
        )
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=key))


JOBS_QUEUED = "kvmcloud.jobs_queued"
T = TypeVar("T")


def mark_jobs_queued(session: Session) -> None:
    """Note that this transaction queued jobs (see Database.transaction)."""
    session.info[JOBS_QUEUED] = True


class Database:
    """Hands out short transactions; callers never keep one open across an agent call."""

    def __init__(self, engine: Engine, *, on_jobs_queued: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._on_jobs_queued = on_jobs_queued

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Yield a session; commit when the block ends, roll back if it raises.

        After a commit that queued jobs (``mark_jobs_queued``), ``on_jobs_queued`` is
        called: this server's idle job runners start them at once instead of at their
        next poll of the queue.
        """
        with self._sessions() as session:
            with session.begin():
                yield session
            if session.info.pop(JOBS_QUEUED, False) and self._on_jobs_queued is not None:
                self._on_jobs_queued()

    def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a transaction; again if a lost connection or conflict cut it short.

        Only for work that is safe to repeat: the first attempt was rolled back (the
        connection died before the commit) or, rarely, committed just before the loss.
        The pool was invalidated by the error, so the second attempt gets a fresh
        connection. A conflict the database rolled back (a deadlock, a lock wait timeout, a
        serialization failure, a Galera certification failure: ``is_transient_conflict``)
        is retried up to ``CONFLICT_RETRIES`` times, after a short random pause so the two
        sides do not meet again.
        """
        reconnected, conflicts = False, 0
        # The first pass, one after a lost connection, CONFLICT_RETRIES after conflicts: a
        # pass that fails with both retries used up raises.
        for _ in range(CONFLICT_RETRIES + 2):
            try:
                with self.transaction() as session:
                    return work(session)
            except exc.DBAPIError as error:
                if error.connection_invalidated and not reconnected:
                    reconnected = True
                    continue
                if conflicts >= CONFLICT_RETRIES or not is_transient_conflict(error.orig):
                    raise
                conflicts += 1
                logger.info("transaction lost a conflict, running it again: %s", error.orig)
                pause_s = CONFLICT_PAUSE_S * 2 ** (conflicts - 1)
                time.sleep(random.uniform(0, pause_s))  # noqa: S311
        raise AssertionError("unreachable: the last pass returns or raises")

    def checkpoint(self) -> None:
        """Fold SQLite's WAL into the database file and truncate it (no-op elsewhere).

        Old versions of rewritten pages stay in the WAL until then: after secrets were
        sealed in place, this leaves their clear values in neither file.
        """
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
