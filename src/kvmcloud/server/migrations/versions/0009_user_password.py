"""user.password: a salted PBKDF2-SHA256 hash for password login

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: a batch copy of "user" would drop the table that
# others reference by foreign key, which SQLite refuses (SQLite >= 3.35 drops columns).
def upgrade() -> None:
    op.add_column("user", sa.Column("password", sa.String(length=255), nullable=True))


def downgrade() -> None:
    op.drop_column("user", "password")
