"""storage_pool: port, user_info and sealed secret for RBD pools

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("storage_pool") as batch:
        batch.add_column(sa.Column("port", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("user_info", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("secret", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("storage_pool") as batch:
        batch.drop_column("secret")
        batch.drop_column("user_info")
        batch.drop_column("port")
