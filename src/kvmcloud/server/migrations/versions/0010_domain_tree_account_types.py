"""domain tree (parent, level); names unique per domain among live rows; user details

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:05:00
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

import kvmcloud.server.db
from kvmcloud.server import db_mariadb

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

LIVE = sa.text("removed IS NULL")


@contextmanager
def _rebuilt(table: str) -> Iterator[BatchOperations]:
    """Alter a table other tables point at, keeping their rows valid on SQLite.

    SQLite drops a constraint by copying the table and dropping the old one. Foreign keys
    are on and cannot be turned off inside the migration's transaction, so they are
    deferred to the commit; SQLite then counts the rows of jobs and events left without
    their parent by the drop, and only an insert into the parent table counts them back.
    So the rows wait in a temporary table while the empty table is rebuilt, and return
    after.
    """
    sqlite = op.get_bind().dialect.name == "sqlite"
    stash = f"_stash_{table}"
    # Table and column names below are this file's constants, never input.
    if sqlite:
        op.execute(f'CREATE TEMP TABLE "{stash}" AS SELECT * FROM "{table}"')  # noqa: S608
        op.execute(f'DELETE FROM "{table}"')  # noqa: S608
    with op.batch_alter_table(table) as batch:
        yield batch
    if sqlite:
        bind = op.get_bind()
        kept = {row[1] for row in bind.exec_driver_sql(f'PRAGMA table_info("{table}")')}
        stashed = [row[1] for row in bind.exec_driver_sql(f'PRAGMA temp.table_info("{stash}")')]
        columns = ", ".join(f'"{name}"' for name in stashed if name in kept)
        op.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{stash}"')  # noqa: S608
        op.execute(f'DROP TABLE "{stash}"')


def _defer_foreign_keys() -> None:
    # The pragma lasts until the transaction ends, so one must be open: Python's sqlite3
    # opens it at the first data statement only, hence the no-op UPDATE before it.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE domain SET name = name WHERE 0 = 1")
        op.execute("PRAGMA defer_foreign_keys=ON")


def _live_index(name: str, table: str, columns: list[str]) -> None:
    if db_mariadb.is_mariadb(op.get_bind()):
        db_mariadb.create_live_unique_index(op.get_bind(), name, columns)
        return
    op.create_index(name, table, columns, unique=True, sqlite_where=LIVE, postgresql_where=LIVE)


def _drop_live_index(name: str, table: str) -> None:
    if db_mariadb.is_mariadb(op.get_bind()):
        db_mariadb.drop_live_unique_index(op.get_bind(), name)
        return
    op.drop_index(name, table_name=table)


def upgrade() -> None:
    _defer_foreign_keys()
    removed: Callable[[], sa.Column[object]] = lambda: sa.Column(  # noqa: E731
        "removed", kvmcloud.server.db.UtcDateTime(), nullable=True
    )
    with _rebuilt("domain") as batch:
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        # Existing domains (ROOT) are at level 0; the default stays for them, harmless.
        batch.add_column(sa.Column("level", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("network_domain", sa.String(255), nullable=True))
        batch.add_column(removed())
        batch.create_foreign_key(
            op.f("fk_domain_parent_id_domain"), "domain", ["parent_id"], ["id"]
        )
        batch.drop_constraint("uq_domain_path", type_="unique")
    _live_index("ix_domain_live_path", "domain", ["path"])
    with _rebuilt("account") as batch:
        batch.add_column(removed())
        batch.drop_constraint("uq_account_account_name", type_="unique")
    _live_index("ix_account_live_name", "account", ["domain_id", "account_name"])
    with _rebuilt("user") as batch:
        batch.add_column(sa.Column("first_name", sa.String(255), nullable=True))
        batch.add_column(sa.Column("last_name", sa.String(255), nullable=True))
        batch.add_column(sa.Column("email", sa.String(255), nullable=True))
        batch.add_column(removed())
        batch.drop_constraint("uq_user_username", type_="unique")


def downgrade() -> None:
    _defer_foreign_keys()
    with _rebuilt("user") as batch:
        batch.create_unique_constraint("uq_user_username", ["username"])
        batch.drop_column("removed")
        batch.drop_column("email")
        batch.drop_column("last_name")
        batch.drop_column("first_name")
    _drop_live_index("ix_account_live_name", "account")
    with _rebuilt("account") as batch:
        batch.create_unique_constraint("uq_account_account_name", ["account_name"])
        batch.drop_column("removed")
    _drop_live_index("ix_domain_live_path", "domain")
    with _rebuilt("domain") as batch:
        batch.create_unique_constraint("uq_domain_path", ["path"])
        batch.drop_constraint("fk_domain_parent_id_domain", type_="foreignkey")
        batch.drop_column("removed")
        batch.drop_column("network_domain")
        batch.drop_column("level")
        batch.drop_column("parent_id")
