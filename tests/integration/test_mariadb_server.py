import socket
import tempfile
from pathlib import Path

import pytest
import sqlalchemy

from tests.support.mariadb import MariaDBServer, MariaDBStartError, mariadb_or_skip
from tests.support.processes import process_gone

pytestmark = pytest.mark.mariadb


def is_port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_server_answers_queries_and_leaves_nothing_behind() -> None:
    with mariadb_or_skip(MariaDBServer(database="probe")) as server:
        directory, port, pid = server.directory, server.port, server.pid
        assert server.url == f"mysql+mysqldb://kvmcloud@127.0.0.1:{port}/probe"
        engine = sqlalchemy.create_engine(server.url)
        try:
            with engine.connect() as connection:
                row = connection.exec_driver_sql("SELECT DATABASE(), VERSION()").one()
                assert row[0] == "probe" and "MariaDB" in row[1]
                # Loopback only, and a socket inside the server's own directory.
                bind = connection.exec_driver_sql("SELECT @@bind_address").scalar_one()
                assert bind == "127.0.0.1"
        finally:
            engine.dispose()
        assert server.socket_path.is_socket()

    assert not directory.exists()
    assert not is_port_open(port)
    assert process_gone(pid)


def test_the_user_gets_only_its_own_databases() -> None:
    with mariadb_or_skip() as server:
        other = server.create_database("other")
        engine = sqlalchemy.create_engine(other)
        try:
            with engine.connect() as connection:
                names = {row[0] for row in connection.exec_driver_sql("SHOW DATABASES")}
        finally:
            engine.dispose()
        assert {"kvmcloud_test", "other"} <= names and "mysql" not in names
        server.drop_database("other")


def test_stop_is_idempotent_and_url_needs_a_running_server() -> None:
    server = MariaDBServer()
    with mariadb_or_skip(server):
        pass
    server.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


def server_directories() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("kvmcloud-mariadb-*"))


def test_failed_start_stops_the_server_and_removes_its_directory() -> None:
    before = server_directories()
    # "mysql" already exists on a fresh server, so CREATE DATABASE fails after it is up.
    server = MariaDBServer(database="mysql")
    with pytest.raises(MariaDBStartError, match="database exists"), mariadb_or_skip(server):
        pass
    assert server_directories() <= before
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.port
