"""role and role_permission (the four default roles seeded); account.role_id

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

import kvmcloud.server.db
from kvmcloud.server import db_mariadb

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

LIVE = sa.text("removed IS NULL")

# CloudStack's default roles with their ids (1-4) and kvmcloud's fixed uuids, as
# kvmcloud.server.accounts.roles had them when this migration was written.
DEFAULT_ROLES = [
    (1, "c2b2e6a8-6d0f-4a61-9d4f-5b8f3a1e0001", "Root Admin", "Admin", "Default root admin role"),
    (
        2,
        "c2b2e6a8-6d0f-4a61-9d4f-5b8f3a1e0002",
        "Resource Admin",
        "ResourceAdmin",
        "Default resource admin role",
    ),
    (
        3,
        "c2b2e6a8-6d0f-4a61-9d4f-5b8f3a1e0003",
        "Domain Admin",
        "DomainAdmin",
        "Default domain admin role",
    ),
    (4, "c2b2e6a8-6d0f-4a61-9d4f-5b8f3a1e0004", "User", "User", "Default user role"),
]
# Account type (0 user, 1 root admin, 2 domain admin) -> the default role's id.
ROLE_OF_TYPE = {"1": 1, "2": 3, "0": 4}


@contextmanager
def _rebuilt(table: str) -> Iterator[BatchOperations]:
    """Alter a table other tables point at, keeping their rows valid on SQLite.

    As in 0010: SQLite rebuilds the table to add a constraint; the rows wait in a temporary
    table while the empty one is rebuilt (foreign keys are deferred to the commit, and only
    an insert into the parent counts the children's references back), then return.
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


def _live_account_name_index() -> None:
    # MariaDB's batch alters in place: its index (db_mariadb) is never dropped.
    if db_mariadb.is_mariadb(op.get_bind()):
        return
    op.create_index(
        "ix_account_live_name",
        "account",
        ["domain_id", "account_name"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def _drop_account_name_index() -> None:
    if not db_mariadb.is_mariadb(op.get_bind()):
        op.drop_index("ix_account_live_name", table_name="account")


def upgrade() -> None:
    _defer_foreign_keys()
    role = op.create_table(
        "role",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role_type", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("removed", kvmcloud.server.db.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role")),
        sa.UniqueConstraint("uuid", name=op.f("uq_role_uuid")),
    )
    if db_mariadb.is_mariadb(op.get_bind()):
        db_mariadb.create_live_unique_index(op.get_bind(), "ix_role_live_name", ["name"])
    else:
        op.create_index(
            "ix_role_live_name",
            "role",
            ["name"],
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        )
    op.bulk_insert(
        role,
        [
            {
                "id": id_,
                "uuid": uuid,
                "name": name,
                "role_type": role_type,
                "description": description,
                "is_default": True,
            }
            for id_, uuid, name, role_type, description in DEFAULT_ROLES
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        # The ids were given: move the sequence past them for the custom roles to come.
        op.execute("SELECT setval(pg_get_serial_sequence('role', 'id'), 4)")
    op.create_table(
        "role_permission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=255), nullable=False),
        sa.Column("permission", sa.String(length=8), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"], ["role.id"], name=op.f("fk_role_permission_role_id_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_permission")),
        sa.UniqueConstraint("uuid", name=op.f("uq_role_permission_uuid")),
    )
    op.create_index(
        op.f("ix_role_permission_role_id"), "role_permission", ["role_id"], unique=False
    )
    # Every account gets the default role of its type, then the column becomes required.
    op.add_column("account", sa.Column("role_id", sa.Integer(), nullable=True))
    for account_type, role_id in ROLE_OF_TYPE.items():
        op.execute(
            sa.text("UPDATE account SET role_id = :role WHERE type = :type").bindparams(
                role=role_id, type=account_type
            )
        )
    # The batch copy would drop the partial index's WHERE on SQLite: recreate it after.
    _drop_account_name_index()
    with _rebuilt("account") as batch:
        batch.alter_column("role_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(op.f("fk_account_role_id_role"), "role", ["role_id"], ["id"])
    _live_account_name_index()
    op.create_index(op.f("ix_account_role_id"), "account", ["role_id"], unique=False)


def downgrade() -> None:
    _defer_foreign_keys()
    op.drop_index(op.f("ix_account_role_id"), table_name="account")
    _drop_account_name_index()
    with _rebuilt("account") as batch:
        batch.drop_constraint(op.f("fk_account_role_id_role"), type_="foreignkey")
        batch.drop_column("role_id")
    _live_account_name_index()
    op.drop_index(op.f("ix_role_permission_role_id"), table_name="role_permission")
    op.drop_table("role_permission")
    if db_mariadb.is_mariadb(op.get_bind()):
        db_mariadb.drop_live_unique_index(op.get_bind(), "ix_role_live_name")
    else:
        op.drop_index("ix_role_live_name", table_name="role")
    op.drop_table("role")
