"""seal secrets at rest: agent key digest, longer detail values

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 17:31:06.661528

Schema only. Sealing the existing plaintext values needs the secrets key, which
migrations never read (`db upgrade` runs without it); `kvmcloud-server init` and `serve`
seal them right after the upgrade (kvmcloud.server.resealing.seal_plaintext).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("host", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_key_digest", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_host_agent_key_digest"), ["agent_key_digest"], unique=False
        )

    with op.batch_alter_table("vm_template_details", schema=None) as batch_op:
        batch_op.alter_column(
            "value",
            existing_type=sa.VARCHAR(length=1024),
            type_=sa.String(length=4096),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("vm_template_details", schema=None) as batch_op:
        batch_op.alter_column(
            "value",
            existing_type=sa.String(length=4096),
            type_=sa.VARCHAR(length=1024),
            existing_nullable=False,
        )

    with op.batch_alter_table("host", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_host_agent_key_digest"))
        batch_op.drop_column("agent_key_digest")
