import pytest
import sqlalchemy

from tests.support.mariadb import MariaDBServer, mariadb_or_skip
from tests.support.processes import port_open, process_gone

pytestmark = pytest.mark.mariadb


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
    assert not port_open(port)
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
