"""offerings: host tags and a sort key (updateServiceOffering, updateDiskOffering)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (SQLite allows them with a constant default): no table rebuild, so
    # the VMs and volumes that point at offerings are not disturbed.
    op.add_column("service_offering", sa.Column("host_tags", sa.String(4096), nullable=True))
    op.add_column(
        "service_offering",
        sa.Column("sort_key", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "disk_offering", sa.Column("sort_key", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place; nothing references these.
    op.drop_column("disk_offering", "sort_key")
    op.drop_column("service_offering", "sort_key")
    op.drop_column("service_offering", "host_tags")
