"""Index listTemplates' order and filters so a page stops at its end

Revision ID: 0020
Revises: 0022
Create Date: 2026-12-06 07:00:00
"""

from alembic import op

revision = "0020"
down_revision = "0022"
branch_labels = None
depends_on = None

# A page of listTemplates/listIsos (ORDER BY sort_key, id … LIMIT) walks the first two in
# order and stops after the page instead of sorting every match; the page's count reads
# them (and the zone refs) without the tables' rows. The owner's serves templatefilter=self.
INDEXES = (
    ("ix_vm_template_listing", "vm_template", ["sort_key", "id", "removed", "format"]),
    (
        "ix_vm_template_owner_listing",
        "vm_template",
        ["account_id", "sort_key", "id", "removed", "format"],
    ),
    ("ix_template_zone_ref_listing", "template_zone_ref", ["template_id", "removed", "zone_id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
