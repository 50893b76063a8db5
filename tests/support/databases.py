"""DatabaseServers: a fresh, empty database per test on SQLite, PostgreSQL or MariaDB.

The PostgreSQL and MariaDB servers start once per session, on the first test that needs
each (a missing one skips that test, and fails it in CI, as postgres_or_skip does); each
test gets a database of its own on them, dropped afterwards.
"""

import contextlib
import itertools
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.mariadb import MariaDBServer, mariadb_or_skip
from tests.support.postgres import PostgresServer, postgres_or_skip

# pytest params for a fixture over every supported database, marked for -m selection.
BACKENDS = (
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
)


class DatabaseServers:
    """Hands out fresh databases; close() stops the servers it started."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._postgres: PostgresServer | None = None
        self._mariadb: MariaDBServer | None = None
        self._numbers = itertools.count(1)

    def close(self) -> None:
        """Stop the servers."""
        self._stack.close()

    def create(self, backend: str, directory: Path) -> str:
        """Create an empty database on ``backend``; return its SQLAlchemy URL."""
        name = f"test_{next(self._numbers)}"
        if backend == "sqlite":
            return f"sqlite:///{directory / name}.db"
        if backend == "postgresql":
            server = self._postgres_server()
            admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as connection:
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
            finally:
                admin.dispose()
            return server.url.rsplit("/", 1)[0] + f"/{name}"
        if backend == "mariadb":
            return self._mariadb_server().create_database(name)
        raise ValueError(f"unknown database backend {backend!r}")

    def drop(self, url: str) -> None:
        """Drop a database made by create (every connection to it must be closed)."""
        name = url.rsplit("/", 1)[1]
        if url.startswith("postgresql") and self._postgres is not None:
            admin = create_engine(self._postgres.url, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            finally:
                admin.dispose()
        elif url.startswith("mysql") and self._mariadb is not None:
            self._mariadb.drop_database(name)

    def _postgres_server(self) -> PostgresServer:
        if self._postgres is None:
            self._postgres = self._stack.enter_context(
                postgres_or_skip(PostgresServer(database="kvmcloud_tests"))
            )
        return self._postgres

    def _mariadb_server(self) -> MariaDBServer:
        if self._mariadb is None:
            self._mariadb = self._stack.enter_context(
                mariadb_or_skip(MariaDBServer(database="kvmcloud_tests"))
            )
        return self._mariadb
