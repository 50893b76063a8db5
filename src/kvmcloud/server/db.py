"""Base with naming convention, make_engine() (SQLite WAL, busy timeout), Database.transaction()."""

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, String, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

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


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _configure_sqlite(dbapi_connection: Any, _record: object) -> None:
    # WAL lets API readers proceed while a job writes; busy_timeout makes writers queue
    # instead of failing at once with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Overwrite deleted and replaced content with zeros: a secret sealed in place, or a
    # regenerated key, must not linger in the file's free space.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


JOBS_QUEUED = "kvmcloud.jobs_queued"


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

    def checkpoint(self) -> None:
        """Fold SQLite's WAL into the database file and truncate it (no-op elsewhere).

        Old versions of rewritten pages stay in the WAL until then: after secrets were
        sealed in place, this leaves their clear values in neither file.
        """
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
