"""launch_permission (templates and ISOs shared with accounts); vm_template.sort_key

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 08:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "launch_permission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["template_id"], ["vm_template.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("template_id", "account_id"),
    )
    with op.batch_alter_table("vm_template", schema=None) as batch_op:
        # Existing templates start at 0, CloudStack's default.
        batch_op.add_column(sa.Column("sort_key", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("vm_template", "sort_key")
    op.drop_table("launch_permission")
