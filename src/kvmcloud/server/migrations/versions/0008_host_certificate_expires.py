"""host.certificate_expires: when the agent's TLS certificate from the agent CA expires

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 18:00:00
"""

import sqlalchemy as sa
from alembic import op

import kvmcloud.server.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("host") as batch:
        batch.add_column(
            sa.Column("certificate_expires", kvmcloud.server.db.UtcDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("host") as batch:
        batch.drop_column("certificate_expires")
