"""kvmcloud-setup-database: SQLite, PostgreSQL and MariaDB, idempotent, clear refusals."""

import os
import pwd
import stat
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from kvmcloud import env_files
from kvmcloud.server import setup_database
from tests.support.mariadb import mariadb_or_skip
from tests.support.postgres import PostgresServer, postgres_or_skip

ME = pwd.getpwuid(os.geteuid()).pw_name


def _keys(out: str) -> dict[str, str]:
    return {
        name.strip(): value.strip()
        for name, _, value in (line.partition(":") for line in out.splitlines())
        if value
    }


def test_sqlite_setup_writes_the_conf_key_and_database_and_runs_again_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, db = tmp_path / "etc", tmp_path / "state" / "kvmcloud.db"
    args = ["--config-dir", str(config), "--service-user", ME, "sqlite", "--path", str(db)]

    assert setup_database.main(args) == 0
    first = _keys(capsys.readouterr().out)
    conf = config / "server.conf"
    assert env_files.parse(conf.read_text()) == {
        "KVMCLOUD_DATABASE_URL": f"sqlite:///{db}",
        "KVMCLOUD_CONFIG_DIR": str(config),
    }
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert stat.S_IMODE((config / "secrets.key").stat().st_mode) == 0o600
    assert db.exists() and first["user"] == "admin" and first["password"]

    conf.write_text(conf.read_text() + "KVMCLOUD_LISTEN_PORT=9080\n")
    key = (config / "secrets.key").read_text()
    assert setup_database.main(args) == 0
    again = _keys(capsys.readouterr().out)

    # The same admin keys, no new password, the key kept, the operator's line kept.
    assert again["api key"] == first["api key"] and "password" not in again
    assert (config / "secrets.key").read_text() == key
    assert env_files.parse(conf.read_text())["KVMCLOUD_LISTEN_PORT"] == "9080"


@pytest.mark.mariadb
def test_mariadb_setup_creates_the_database_and_user_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with mariadb_or_skip() as server:
        # mariadb-install-db's root: no password, over the unix socket only.
        admin = f"mysql+mysqldb://root@localhost/mysql?unix_socket={server.socket_path}"
        args = [
            "--config-dir", str(tmp_path), "--service-user", ME, "mariadb",
            "--host", server.host, "--port", str(server.port), "--name", "kvmcloud_setup",
            "--db-user", "kvmcloud_app", "--deploy-as", admin,
        ]  # fmt: skip

        assert setup_database.main(args) == 0
        first = env_files.parse((tmp_path / "server.conf").read_text())
        assert setup_database.main(args) == 0
        # Without --deploy-as it only checks that it can connect.
        assert setup_database.main(args[:-2]) == 0
        capsys.readouterr()

        url = env_files.parse((tmp_path / "server.conf").read_text())["KVMCLOUD_DATABASE_URL"]
        assert url == first["KVMCLOUD_DATABASE_URL"]
        assert url.startswith("mysql+mysqldb://kvmcloud_app:") and "@127.0.0.1:" in url
        engine = create_engine(url)
        with engine.connect() as connection:
            collation = connection.execute(
                text(
                    "SELECT default_character_set_name, default_collation_name"
                    " FROM information_schema.schemata WHERE schema_name = 'kvmcloud_setup'"
                )
            ).one()
            admins = connection.execute(text("SELECT count(*) FROM account")).scalar_one()
        engine.dispose()
        assert tuple(collation) == ("utf8mb4", "utf8mb4_nopad_bin") and admins >= 1


@pytest.mark.mariadb
def test_mariadb_without_the_user_is_refused_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with mariadb_or_skip() as server:
        args = [
            "--config-dir", str(tmp_path), "--service-user", ME, "mariadb",
            "--host", server.host, "--port", str(server.port), "--db-user", "nobody_here",
        ]  # fmt: skip
        code = setup_database.main(args)
        where = f"127.0.0.1:{server.port}"

    assert code == 1
    err = capsys.readouterr().err
    assert f"cannot connect to database 'kvmcloud' on {where} as 'nobody_here'" in err
    assert "create the user and the database, or give --deploy-as" in err
    assert not (tmp_path / "server.conf").exists()


def test_a_missing_service_user_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = setup_database.main(
        ["--config-dir", str(tmp_path), "--service-user", "no-such-user-x", "sqlite"]
    )

    assert code == 1
    assert "there is no user 'no-such-user-x'" in capsys.readouterr().err


@pytest.mark.postgres
def test_postgres_setup_creates_the_role_and_database_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with postgres_or_skip(PostgresServer(database="setup_admin")) as server:
        args = [
            "--config-dir", str(tmp_path), "--service-user", ME, "postgresql",
            "--host", server.host, "--port", str(server.port), "--name", "kvmcloud_setup",
            "--db-user", "kvmcloud_app", "--deploy-as", server.url,
        ]  # fmt: skip

        assert setup_database.main(args) == 0
        first_url = env_files.parse((tmp_path / "server.conf").read_text())
        assert setup_database.main(args) == 0
        capsys.readouterr()

        url = env_files.parse((tmp_path / "server.conf").read_text())["KVMCLOUD_DATABASE_URL"]
        assert url == first_url["KVMCLOUD_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://kvmcloud_app:")
        engine = create_engine(url)
        with engine.connect() as connection:
            owner = connection.execute(
                text(
                    "SELECT pg_get_userbyid(datdba) FROM pg_database "
                    "WHERE datname = 'kvmcloud_setup'"
                )
            ).scalar_one()
            admins = connection.execute(text("SELECT count(*) FROM account")).scalar_one()
        engine.dispose()
        assert owner == "kvmcloud_app" and admins >= 1


def test_postgres_without_a_reachable_database_is_refused_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config-dir", str(tmp_path), "--service-user", ME, "postgresql"]
    code = setup_database.main([*args, "--host", "127.0.0.1", "--port", "1"])

    assert code == 1
    assert "cannot connect to database 'kvmcloud' on 127.0.0.1:1" in capsys.readouterr().err
    assert not (tmp_path / "server.conf").exists()
