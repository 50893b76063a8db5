import psycopg
import pytest
import sqlalchemy

from tests.support.postgres import PostgresServer, postgres_or_skip
from tests.support.processes import port_open

pytestmark = pytest.mark.postgres


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
    assert not port_open(port)


def test_server_listens_only_on_loopback() -> None:
    with postgres_or_skip() as server, psycopg.connect(server.conninfo) as connection:
        row = connection.execute("show listen_addresses").fetchone()
        assert row == ("127.0.0.1",)
