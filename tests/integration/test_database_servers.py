"""What the private PostgreSQL and MariaDB servers of the tests share: stop and failed start."""

import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.mariadb import MariaDBServer, MariaDBStartError, mariadb_or_skip
from tests.support.postgres import PostgresServer, PostgresStartError, postgres_or_skip


@dataclass(frozen=True)
class Kind:
    """One kind of test database server, and a database its fresh server already has."""

    make: Callable[..., Any]
    or_skip: Callable[[Any], AbstractContextManager[Any]]
    start_error: type[Exception]
    directory_glob: str
    existing_database: str
    exists_text: str


POSTGRES = Kind(
    make=PostgresServer,
    or_skip=postgres_or_skip,
    start_error=PostgresStartError,
    directory_glob="kvmcloud-pg-*",
    existing_database="postgres",
    exists_text="already exists",
)
MARIADB = Kind(
    make=MariaDBServer,
    or_skip=mariadb_or_skip,
    start_error=MariaDBStartError,
    directory_glob="kvmcloud-mariadb-*",
    existing_database="mysql",
    exists_text="database exists",
)


@pytest.fixture(
    params=[
        pytest.param(POSTGRES, id="postgresql", marks=pytest.mark.postgres),
        pytest.param(MARIADB, id="mariadb", marks=pytest.mark.mariadb),
    ]
)
def kind(request: pytest.FixtureRequest) -> Kind:
    chosen: Kind = request.param
    return chosen


def test_stop_is_idempotent_and_url_needs_a_running_server(kind: Kind) -> None:
    server = kind.make()
    with kind.or_skip(server):
        pass
    server.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


def server_directories(kind: Kind) -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(kind.directory_glob))


def test_failed_start_stops_the_server_and_removes_its_directory(kind: Kind) -> None:
    before = server_directories(kind)
    # The database already exists on a fresh server, so creating it fails after it is up.
    server = kind.make(database=kind.existing_database)
    with pytest.raises(kind.start_error, match=kind.exists_text), kind.or_skip(server):
        pass
    assert server_directories(kind) <= before
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.port
