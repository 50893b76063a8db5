"""template_spool_ref: the download's host, start, bytes, total, attempts and failures

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 17:00:00
"""

import sqlalchemy as sa
from alembic import op

import kvmcloud.server.db

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite adds a foreign key only by rebuilding the table. Nothing references
    # template_spool_ref, so the rebuild disturbs no other table.
    with op.batch_alter_table("template_spool_ref") as batch:
        batch.add_column(sa.Column("download_host_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("download_started", kvmcloud.server.db.UtcDateTime(), nullable=True)
        )
        batch.add_column(
            sa.Column("downloaded_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("total_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("download_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("download_failures", sa.Text(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_template_spool_ref_download_host_id_host"),
            "host",
            ["download_host_id"],
            ["id"],
        )
    # A copy downloaded before this revision was downloaded by the host it names.
    op.execute("UPDATE template_spool_ref SET download_host_id = host_id WHERE host_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("template_spool_ref") as batch:
        batch.drop_constraint(
            op.f("fk_template_spool_ref_download_host_id_host"), type_="foreignkey"
        )
        for column in (
            "download_failures",
            "download_attempts",
            "total_bytes",
            "downloaded_bytes",
            "download_started",
            "download_host_id",
        ):
            batch.drop_column(column)
