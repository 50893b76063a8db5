"""domain state: Active, or Inactive while deleteDomain's job runs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite allows it with a constant default): existing domains are
    # Active. No table rebuild, so the rows pointing at domains are not disturbed.
    op.add_column(
        "domain", sa.Column("state", sa.String(16), nullable=False, server_default="Active")
    )


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place; nothing references it.
    op.drop_column("domain", "state")
