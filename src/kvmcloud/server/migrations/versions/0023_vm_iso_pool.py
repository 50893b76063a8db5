"""vm_instance.iso_pool_id: the pool holding a VM's inserted ISO (RBD pools hold none)

Revision ID: 0023
Revises: 0019
Create Date: 2026-12-06 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vm_instance") as batch:
        batch.add_column(sa.Column("iso_pool_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_vm_instance_iso_pool_id_storage_pool", "storage_pool", ["iso_pool_id"], ["id"]
        )
        batch.create_index("ix_vm_instance_iso_pool_id", ["iso_pool_id"])


def downgrade() -> None:
    with op.batch_alter_table("vm_instance") as batch:
        batch.drop_index("ix_vm_instance_iso_pool_id")
        batch.drop_constraint("fk_vm_instance_iso_pool_id_storage_pool", type_="foreignkey")
        batch.drop_column("iso_pool_id")
