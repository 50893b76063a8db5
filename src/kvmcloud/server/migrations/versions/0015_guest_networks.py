"""physical_network (one per zone) and its traffic types; network_offerings (defaults); networks

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 08:30:00
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import kvmcloud.server.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# CloudStack's default offerings as kvmcloud.server.networks.defaults had them when this
# migration was written: id, uuid, name, display text, guest type, availability,
# specify_vlan, specify_ip_ranges.
DEFAULT_OFFERINGS = [
    (
        1,
        "5e0b7c0e-6a43-4c1e-9f7d-2b1d8c4e0001",
        "DefaultL2NetworkOffering",
        "Offering for L2 networks",
        "L2",
        "Optional",
        False,
        False,
    ),
    (
        2,
        "5e0b7c0e-6a43-4c1e-9f7d-2b1d8c4e0002",
        "DefaultSharedNetworkOffering",
        "Offering for Shared networks",
        "Shared",
        "Optional",
        True,
        True,
    ),
    (
        3,
        "5e0b7c0e-6a43-4c1e-9f7d-2b1d8c4e0003",
        "DefaultIsolatedNetworkOfferingWithSourceNatService",
        "Offering for Isolated networks with Source Nat service enabled",
        "Isolated",
        "Required",
        False,
        False,
    ),
]
ZONE_TRAFFIC_TYPES = ("Guest", "Management")


def upgrade() -> None:
    physical = op.create_table(
        "physical_network",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("data_center_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("broadcast_domain_range", sa.String(length=32), nullable=False),
        sa.Column("isolation_methods", sa.String(length=255), nullable=True),
        sa.Column("created", kvmcloud.server.db.UtcDateTime(), nullable=False),
        sa.Column("removed", kvmcloud.server.db.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["data_center_id"],
            ["data_center.id"],
            name=op.f("fk_physical_network_data_center_id_data_center"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_physical_network")),
        sa.UniqueConstraint("uuid", name=op.f("uq_physical_network_uuid")),
    )
    op.create_index(
        op.f("ix_physical_network_data_center_id"), "physical_network", ["data_center_id"]
    )
    traffic = op.create_table(
        "physical_network_traffic_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=False),
        sa.Column("physical_network_id", sa.Integer(), nullable=False),
        sa.Column("traffic_type", sa.String(length=32), nullable=False),
        sa.Column("kvm_network_label", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["physical_network_id"],
            ["physical_network.id"],
            name=op.f("fk_physical_network_traffic_types_physical_network_id_physical_network"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_physical_network_traffic_types")),
        sa.UniqueConstraint("uuid", name=op.f("uq_physical_network_traffic_types_uuid")),
    )
    op.create_index(
        op.f("ix_physical_network_traffic_types_physical_network_id"),
        "physical_network_traffic_types",
        ["physical_network_id"],
    )
    _seed_physical_networks(physical, traffic)
    offerings = op.create_table(
        "network_offerings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("unique_name", sa.String(length=64), nullable=True),
        sa.Column("display_text", sa.String(length=255), nullable=False),
        sa.Column("traffic_type", sa.String(length=32), nullable=False),
        sa.Column("guest_type", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("availability", sa.String(length=255), nullable=False),
        sa.Column("specify_vlan", sa.Boolean(), nullable=False),
        sa.Column("specify_ip_ranges", sa.Boolean(), nullable=False),
        sa.Column("conserve_mode", sa.Boolean(), nullable=False),
        sa.Column("is_persistent", sa.Boolean(), nullable=False),
        sa.Column("egress_default_policy", sa.Boolean(), nullable=False),
        sa.Column("for_vpc", sa.Boolean(), nullable=False),
        sa.Column("network_rate", sa.Integer(), nullable=True),
        sa.Column("tags", sa.String(length=4096), nullable=True),
        sa.Column("created", kvmcloud.server.db.UtcDateTime(), nullable=False),
        sa.Column("removed", kvmcloud.server.db.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_offerings")),
        sa.UniqueConstraint("uuid", name=op.f("uq_network_offerings_uuid")),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        offerings,
        [
            {
                "id": id_,
                "uuid": uuid_,
                "name": name,
                "unique_name": name,
                "display_text": text,
                "traffic_type": "Guest",
                "guest_type": guest_type,
                "state": "Enabled",
                "is_default": True,
                "availability": availability,
                "specify_vlan": vlan,
                "specify_ip_ranges": ip_ranges,
                "conserve_mode": True,
                "is_persistent": False,
                "egress_default_policy": True,
                "for_vpc": False,
                "created": now,
            }
            for id_, uuid_, name, text, guest_type, availability, vlan, ip_ranges in (
                DEFAULT_OFFERINGS
            )
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        # The ids were given: move the sequence past them for the offerings to come.
        op.execute("SELECT setval(pg_get_serial_sequence('network_offerings', 'id'), 3)")
    op.create_table(
        "networks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("display_text", sa.String(length=255), nullable=False),
        sa.Column("traffic_type", sa.String(length=32), nullable=False),
        sa.Column("guest_type", sa.String(length=32), nullable=False),
        sa.Column("network_offering_id", sa.Integer(), nullable=False),
        sa.Column("data_center_id", sa.Integer(), nullable=False),
        sa.Column("physical_network_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("acl_type", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("gateway", sa.String(length=64), nullable=True),
        sa.Column("cidr", sa.String(length=64), nullable=True),
        sa.Column("broadcast_domain_type", sa.String(length=32), nullable=False),
        sa.Column("network_domain", sa.String(length=255), nullable=True),
        sa.Column("created", kvmcloud.server.db.UtcDateTime(), nullable=False),
        sa.Column("removed", kvmcloud.server.db.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_networks_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["data_center_id"],
            ["data_center.id"],
            name=op.f("fk_networks_data_center_id_data_center"),
        ),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domain.id"], name=op.f("fk_networks_domain_id_domain")
        ),
        sa.ForeignKeyConstraint(
            ["network_offering_id"],
            ["network_offerings.id"],
            name=op.f("fk_networks_network_offering_id_network_offerings"),
        ),
        sa.ForeignKeyConstraint(
            ["physical_network_id"],
            ["physical_network.id"],
            name=op.f("fk_networks_physical_network_id_physical_network"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_networks")),
        sa.UniqueConstraint("uuid", name=op.f("uq_networks_uuid")),
    )
    op.create_index(op.f("ix_networks_account_id"), "networks", ["account_id"])
    op.create_index(op.f("ix_networks_data_center_id"), "networks", ["data_center_id"])
    op.create_index(op.f("ix_networks_network_offering_id"), "networks", ["network_offering_id"])


def _seed_physical_networks(physical: sa.Table, traffic: sa.Table) -> None:
    """Give every existing zone the physical network a new zone gets from createZone."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    for (zone_id,) in bind.execute(sa.text("SELECT id FROM data_center ORDER BY id")):
        network_uuid = str(uuid.uuid4())
        bind.execute(
            physical.insert().values(
                uuid=network_uuid,
                name=f"Physical Network {zone_id}",
                data_center_id=zone_id,
                state="Enabled",
                broadcast_domain_range="ZONE",
                created=now,
            )
        )
        network_id = bind.execute(
            sa.select(physical.c.id).where(physical.c.uuid == network_uuid)
        ).scalar_one()
        for traffic_type in ZONE_TRAFFIC_TYPES:
            bind.execute(
                traffic.insert().values(
                    uuid=str(uuid.uuid4()),
                    physical_network_id=network_id,
                    traffic_type=traffic_type,
                )
            )


def downgrade() -> None:
    op.drop_index(op.f("ix_networks_network_offering_id"), table_name="networks")
    op.drop_index(op.f("ix_networks_data_center_id"), table_name="networks")
    op.drop_index(op.f("ix_networks_account_id"), table_name="networks")
    op.drop_table("networks")
    op.drop_table("network_offerings")
    op.drop_index(
        op.f("ix_physical_network_traffic_types_physical_network_id"),
        table_name="physical_network_traffic_types",
    )
    op.drop_table("physical_network_traffic_types")
    op.drop_index(op.f("ix_physical_network_data_center_id"), table_name="physical_network")
    op.drop_table("physical_network")
