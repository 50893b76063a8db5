"""MariaDB's DDL and URL handling, compiled without a server; insert_unless_present's refusal."""

from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from kvmcloud.server import db_mariadb
from kvmcloud.server.db import UtcDateTime, insert_unless_present
from kvmcloud.server.templates.models import TemplatePoolRef


def table() -> Table:
    return Table(
        "t",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(255)),
        Column("value", String(8191)),
        Column("at", UtcDateTime()),
    )


def test_mariadb_tables_are_innodb_utf8mb4_nopad_bin_with_text_and_microseconds() -> None:
    ddl = str(CreateTable(table()).compile(dialect=mysql.dialect()))
    assert "name VARCHAR(255)" in ddl
    assert "value TEXT" in ddl
    assert "at DATETIME(6)" in ddl
    assert ddl.rstrip().endswith(
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin"
    )


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_other_databases_keep_their_types(dialect: Any) -> None:
    ddl = str(CreateTable(table()).compile(dialect=dialect))
    assert "VARCHAR(8191)" in ddl and "CHARSET" not in ddl
    assert "DATETIME(6)" not in ddl
    assert isinstance(UtcDateTime().load_dialect_impl(dialect), DateTime)


@pytest.mark.parametrize(
    ("url", "mariadb"),
    [
        ("mysql+mysqldb://u@127.0.0.1/k", True),
        ("mariadb+mysqldb://u@h/k", True),
        ("mysql://u@h/k", True),
        ("postgresql+psycopg://u@h/k", False),
        ("sqlite:///x.db", False),
    ],
)
def test_mariadb_urls_are_recognised(url: str, mariadb: bool) -> None:
    assert db_mariadb.is_mariadb_url(url) is mariadb


def test_mariadb_connections_are_utf8mb4_read_committed_unless_the_url_says_otherwise() -> None:
    arguments = db_mariadb.engine_arguments("mysql+mysqldb://u@h/k")
    assert arguments["isolation_level"] == "READ COMMITTED"
    assert arguments["connect_args"] == {"charset": "utf8mb4"}
    assert db_mariadb.engine_arguments("mysql://u@h/k?charset=utf8mb3")["connect_args"] == {}


def test_another_database_cannot_insert_unless_present() -> None:
    session = SimpleNamespace(
        get_bind=lambda: SimpleNamespace(dialect=SimpleNamespace(name="oracle"))
    )
    with pytest.raises(NotImplementedError, match="dialect 'oracle'"):
        insert_unless_present(cast(Session, session), TemplatePoolRef, {}, ["pool_id"])
