"""MariaDB's table options, column types and connection settings (imported by db.py)."""

from typing import Any

from sqlalchemy import Connection, String, text
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.compiler import DDLCompiler, GenericTypeCompiler

# SQLAlchemy names the dialect "mariadb" for a mariadb+… URL and "mysql" for mysql+… (even
# when the server is MariaDB).
DIALECTS = ("mysql", "mariadb")

# Every table is InnoDB (transactions, row locks, SKIP LOCKED) in utf8mb4 with the binary
# no-pad collation: names compare exactly, as on SQLite and PostgreSQL, so a unique name
# means the same thing on all three. MariaDB's default utf8mb4_general_ci would make
# "Zone1" and "zone1" collide and "é" equal "e"; utf8mb4_bin still ignores trailing spaces
# ("Ops" = "Ops "), which utf8mb4_nopad_bin (MariaDB 10.2+) does not. Named here rather
# than taken from the database's defaults, which an operator may have left at latin1.
TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin"

# InnoDB keeps at most 65,535 bytes of VARCHAR in a row, counted at 4 bytes a character in
# utf8mb4: the configuration table's two 8,191-character values alone would pass it. Longer
# strings are TEXT (64 KiB, stored off the row); no index covers one of them.
LONGEST_VARCHAR = 1024

# The isolation level of every connection: see docs/management-servers.md. Job and copy
# claims are compare-and-set UPDATEs, right on any level (an UPDATE that waited for a row
# lock re-reads the latest row). But under REPEATABLE READ a plain SELECT later in the same
# transaction still sees the first read's snapshot (a deploy that lost the race to create
# a pool copy could not read the winner's row), and range UPDATEs take gap locks that hold
# up inserts. READ COMMITTED gives each statement a fresh snapshot and locks only the rows
# it changes, as PostgreSQL does.
ISOLATION_LEVEL = "READ COMMITTED"


# MariaDB has no partial index. A name unique among live rows (``removed IS NULL``) is
# unique over a virtual column that repeats the name while the row is live and is NULL
# once it is removed (NULLs never collide in a unique index). These columns and indexes
# exist on MariaDB only; the schema check leaves them out (see db_migrations).
LIVE_UNIQUE_INDEXES = {
    "ix_domain_live_path": ("domain", "live_path"),
    "ix_account_live_name": ("account", "live_account_name"),
    "ix_role_live_name": ("role", "live_name"),
}


def is_mariadb(connection: Connection) -> bool:
    """Tell whether a connection talks to MariaDB (or MySQL)."""
    return connection.dialect.name in DIALECTS


def create_live_unique_index(connection: Connection, name: str, columns: list[str]) -> None:
    """Create one of LIVE_UNIQUE_INDEXES: its virtual column, then the unique index."""
    table, live = LIVE_UNIQUE_INDEXES[name]
    name_column = columns[-1]
    column_type = connection.execute(
        text(
            "SELECT column_type FROM information_schema.columns"
            " WHERE table_schema = DATABASE() AND table_name = :table AND column_name = :column"
        ),
        {"table": table, "column": name_column},
    ).scalar_one()
    # Names below come from LIVE_UNIQUE_INDEXES and the migrations, never from input.
    connection.exec_driver_sql(
        f"ALTER TABLE `{table}` ADD COLUMN `{live}` {column_type}"
        f" AS (IF(`removed` IS NULL, `{name_column}`, NULL)) VIRTUAL"
    )
    key = ", ".join(f"`{column}`" for column in [*columns[:-1], live])
    connection.exec_driver_sql(f"CREATE UNIQUE INDEX `{name}` ON `{table}` ({key})")


def drop_live_unique_index(connection: Connection, name: str) -> None:
    """Drop one of LIVE_UNIQUE_INDEXES and its virtual column."""
    table, live = LIVE_UNIQUE_INDEXES[name]
    connection.exec_driver_sql(f"DROP INDEX `{name}` ON `{table}`")
    connection.exec_driver_sql(f"ALTER TABLE `{table}` DROP COLUMN `{live}`")


def include_in_comparison(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave MariaDB's live-name indexes and their virtual columns out of the comparison."""
    if type_ == "index" and name in LIVE_UNIQUE_INDEXES:
        return False
    live_columns = {column for _table, column in LIVE_UNIQUE_INDEXES.values()}
    return not (type_ == "column" and reflected and name in live_columns)


def is_mariadb_url(url: str) -> bool:
    """Tell whether a database URL names MariaDB (mysql+driver:// or mariadb+driver://)."""
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    return scheme in DIALECTS


def engine_arguments(url: str) -> dict[str, Any]:
    """Return create_engine() arguments for a MariaDB URL: utf8mb4, READ COMMITTED."""
    query = url.partition("?")[2]
    connect_args: dict[str, Any] = {}
    if "charset=" not in query:
        connect_args["charset"] = "utf8mb4"
    return {"isolation_level": ISOLATION_LEVEL, "connect_args": connect_args}


@compiles(CreateTable, "mysql")
@compiles(CreateTable, "mariadb")
def _create_table(element: CreateTable, compiler: DDLCompiler, **kw: Any) -> str:
    statement = str(compiler.visit_create_table(element, **kw))  # type: ignore[no-untyped-call]
    # A table that names its own character set (none does yet) keeps it.
    if "CHARSET" in statement.upper().rsplit(")", 1)[-1]:
        return statement
    return f"{statement.rstrip()} {TABLE_OPTIONS}\n\n"


@compiles(String, "mysql")
@compiles(String, "mariadb")
def _string(element: String, compiler: GenericTypeCompiler, **kw: Any) -> str:
    if element.length is not None and element.length > LONGEST_VARCHAR:
        return "TEXT"
    return compiler.visit_string(element, **kw)


# Sub-second timestamps: MariaDB's DATETIME keeps whole seconds unless given a precision.
DATETIME = mysql.DATETIME(fsp=6)
