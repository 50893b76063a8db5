"""database_setup_rules: the URLs kvmcloud-setup-database writes, and what it refuses."""

from pathlib import Path

import pytest

from kvmcloud.server.database_setup_rules import (
    SetupError,
    kept_password,
    mariadb_target,
    postgres_target,
    sql_literal,
    sqlite_url,
)


def test_a_postgres_url_quotes_the_password() -> None:
    target = postgres_target("db.example.org", 5432, "kvmcloud", "kvmcloud", "p@ss/w:rd")

    assert (
        target.url() == "postgresql+psycopg://kvmcloud:p%40ss%2Fw%3Ard@db.example.org:5432/kvmcloud"
    )


def test_an_ipv6_host_is_bracketed() -> None:
    assert "@[::1]:5432/" in postgres_target("::1", 5432, "k", "k", "x").url()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("db", 5432, "Kvm-Cloud", "kvmcloud", "x"), "--name"),
        (("db", 5432, "kvmcloud", 'a"; drop', "x"), "--db-user"),
        (("db", 0, "kvmcloud", "kvmcloud", "x"), "--port"),
        (("db host", 5432, "kvmcloud", "kvmcloud", "x"), "--host"),
        (("db", 5432, "kvmcloud", "kvmcloud", ""), "password"),
    ],
)
def test_bad_pieces_are_refused_naming_the_option(
    args: tuple[str, int, str, str, str], named: str
) -> None:
    with pytest.raises(SetupError, match=named):
        postgres_target(*args)


def test_a_second_run_keeps_the_password_of_the_same_target_only() -> None:
    target = postgres_target("db", 5432, "kvmcloud", "kvmcloud", "-")
    first = postgres_target("db", 5432, "kvmcloud", "kvmcloud", "s3cr/t").url()

    assert kept_password(first, target) == "s3cr/t"
    other = postgres_target("db", 5432, "other", "kvmcloud", "s3cr/t").url()
    assert kept_password(other, target) is None
    assert kept_password("sqlite:////var/lib/kvmcloud/kvmcloud.db", target) is None
    assert kept_password(None, target) is None


def test_sqlite_urls_need_an_absolute_path() -> None:
    assert sqlite_url(Path("/var/lib/kvmcloud/k.db")) == "sqlite:////var/lib/kvmcloud/k.db"
    with pytest.raises(SetupError, match="--path"):
        sqlite_url(Path("k.db"))


def test_sql_literals_double_their_quotes() -> None:
    assert sql_literal("it's") == "'it''s'"


def test_a_mariadb_url_uses_mysqlclient_and_keeps_only_its_own_password() -> None:
    target = mariadb_target("db.example.org", 3306, "kvmcloud", "kvmcloud", "p@ss")
    postgres = postgres_target("db.example.org", 3306, "kvmcloud", "kvmcloud", "other")

    assert target.url() == "mysql+mysqldb://kvmcloud:p%40ss@db.example.org:3306/kvmcloud"
    assert kept_password(target.url(), target) == "p@ss"
    assert kept_password(postgres.url(), target) is None
