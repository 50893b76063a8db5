"""Index the columns list pages filter, join and batch-load on

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 03:00:00
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# (table, column): the foreign keys a list page loads a page's related rows by
# (details, pool copies, NICs, volumes of the page's ids), or filters on (owner, zone, pod,
# cluster, host, image, pool). Unique constraints already cover template_zone_ref.template_id,
# template_spool_ref.pool_id, launch_permission.template_id and the certificate map's
# certificate_id. event.created serves listEvents' newest-first order.
INDEXED = (
    ("async_job", "account_id"),
    ("direct_download_certificate", "zone_id"),
    ("direct_download_certificate_host_map", "host_id"),
    ("event", "account_id"),
    ("event", "created"),
    ("event", "domain_id"),
    ("host", "cluster_id"),
    ("host", "data_center_id"),
    ("host", "pod_id"),
    ("nics", "instance_id"),
    ("storage_pool", "cluster_id"),
    ("storage_pool", "data_center_id"),
    ("storage_pool", "pod_id"),
    ("template_spool_ref", "template_id"),
    ("template_zone_ref", "zone_id"),
    ("vm_instance", "account_id"),
    ("vm_instance", "data_center_id"),
    ("vm_instance", "host_id"),
    ("vm_instance", "iso_id"),
    ("vm_instance", "template_id"),
    ("vm_template", "account_id"),
    ("vm_template_details", "template_id"),
    ("volumes", "data_center_id"),
    ("volumes", "instance_id"),
    ("volumes", "pool_id"),
)


def upgrade() -> None:
    # Plain CREATE INDEX: no table is rebuilt, on SQLite either.
    for table, column in INDEXED:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def downgrade() -> None:
    for table, column in reversed(INDEXED):
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
