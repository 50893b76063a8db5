"""template_spool_ref: the copy's verified image digest and where its bytes came from

Revision ID: 0022
Revises: 0023
Create Date: 2026-12-06 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("template_spool_ref") as batch:
        batch.add_column(sa.Column("image_checksum", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("download_sources", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("template_spool_ref") as batch:
        batch.drop_column("download_sources")
        batch.drop_column("image_checksum")
