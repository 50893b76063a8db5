import socket
import tempfile
from pathlib import Path

import psycopg
import pytest
import sqlalchemy

from tests.support.postgres import PostgresServer, PostgresStartError, postgres_or_skip

pytestmark = pytest.mark.postgres


def is_port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_server_answers_queries_and_leaves_nothing_behind() -> None:
    with postgres_or_skip(PostgresServer(database="probe")) as server:
        directory, port = server.directory, server.port
        assert server.url == f"postgresql+psycopg://kvmcloud@127.0.0.1:{port}/probe"
        with psycopg.connect(server.conninfo) as connection:
            assert connection.execute("select 1").fetchone() == (1,)
            assert connection.execute("select current_database()").fetchone() == ("probe",)
        engine = sqlalchemy.create_engine(server.url)
        try:
            with engine.connect() as connection:
                assert connection.execute(sqlalchemy.text("select 1")).scalar_one() == 1
        finally:
            engine.dispose()
        assert (server.socket_directory / f".s.PGSQL.{port}").exists()

    assert not directory.exists()
    assert not is_port_open(port)


def test_server_listens_only_on_loopback() -> None:
    with postgres_or_skip() as server, psycopg.connect(server.conninfo) as connection:
        row = connection.execute("show listen_addresses").fetchone()
        assert row == ("127.0.0.1",)


def test_stop_is_idempotent_and_url_needs_a_running_server() -> None:
    server = PostgresServer()
    with postgres_or_skip(server):
        pass
    server.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


def cluster_directories() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("kvmcloud-pg-*"))


def test_failed_start_stops_the_server_and_removes_its_directory() -> None:
    before = cluster_directories()
    # "postgres" already exists in a fresh cluster, so createdb fails after the server is up.
    server = PostgresServer(database="postgres")
    with pytest.raises(PostgresStartError, match="already exists"), postgres_or_skip(server):
        pass
    assert cluster_directories() <= before
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.port
