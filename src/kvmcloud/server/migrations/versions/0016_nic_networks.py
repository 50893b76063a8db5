"""nics: the guest network a NIC is on; L2 NICs have no address

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot drop NOT NULL in place. Nothing references nics, so the
    # rebuild disturbs no other table.
    with op.batch_alter_table("nics") as batch:
        batch.add_column(sa.Column("network_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_nics_network_id", "networks", ["network_id"], ["id"])
        batch.create_index("ix_nics_network_id", ["network_id"])
        for column in ("ip4_address", "netmask", "gateway"):
            batch.alter_column(column, existing_type=sa.String(40), nullable=True)


def downgrade() -> None:
    # NICs without an address (on L2 networks) cannot exist in the old schema.
    op.execute("DELETE FROM nics WHERE ip4_address IS NULL")
    with op.batch_alter_table("nics") as batch:
        for column in ("ip4_address", "netmask", "gateway"):
            batch.alter_column(column, existing_type=sa.String(40), nullable=False)
        batch.drop_index("ix_nics_network_id")
        batch.drop_constraint("fk_nics_network_id", type_="foreignkey")
        batch.drop_column("network_id")
