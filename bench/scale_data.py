"""Bulk rows for make bench-scale: direct-download templates with details, zone and pool copies.

Written with SQLAlchemy Core through the server's own models into the migrated schema,
1,000 templates per statement batch: the API would take hours for 100,000 registrations.
Each row looks like a registered direct-download template (URL, checksum, guest OS, owner,
two details, its zone, one Ready copy on the zone's pool), so list pages do real work.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine, func, insert, select

from kvmcloud.protocol.agent_messages import PoolType
from kvmcloud.server.accounts.models import Account
from kvmcloud.server.infrastructure.models import PoolScope, StoragePool, Zone
from kvmcloud.server.templates.models import (
    DownloadState,
    GuestOs,
    ImageFormat,
    RefState,
    Template,
    TemplateDetail,
    TemplatePoolRef,
    TemplateZoneRef,
)

BATCH = 1000


def ensure_pool(engine: Engine, zone_uuid: str) -> int:
    """Return the id of the zone's bench pool, inserting it (a zone-wide SharedMountPoint)."""
    with engine.begin() as connection:
        zone_id = connection.scalar(select(Zone.id).where(Zone.uuid == zone_uuid))
        pool_id = connection.scalar(select(StoragePool.id).where(StoragePool.name == "bench"))
        if pool_id is not None:
            return int(pool_id)
        result = connection.execute(
            insert(StoragePool).values(
                uuid=f"bench-pool-{zone_uuid}"[:40],
                name="bench",
                pool_type=PoolType.SHARED_MOUNT_POINT,
                scope=PoolScope.ZONE,
                path="/var/lib/kvmcloud/bench",
                host_address="localhost",
                data_center_id=zone_id,
                hypervisor="KVM",
                status="Up",
                capacity_bytes=10 * 1024**4,
                available_bytes=5 * 1024**4,
                created=datetime.now(UTC),
            )
        )
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])


def template_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Template)) or 0)


def load_templates(engine: Engine, zone_uuid: str, total: int) -> float:
    """Add templates until there are ``total``; return the seconds it took."""
    began = datetime.now(UTC)
    pool_id = ensure_pool(engine, zone_uuid)
    with engine.connect() as connection:
        zone_id = connection.scalar(select(Zone.id).where(Zone.uuid == zone_uuid))
        account_id = connection.scalar(select(Account.id).order_by(Account.id).limit(1))
        guest_os_id = connection.scalar(select(GuestOs.id).order_by(GuestOs.id).limit(1))
        first = int(connection.scalar(select(func.coalesce(func.max(Template.id), 0))) or 0) + 1
    have = template_count(engine)
    for start in range(first, first + max(0, total - have), BATCH):
        stop = min(start + BATCH, first + total - have)
        now = datetime.now(UTC)
        ids = range(start, stop)
        with engine.begin() as connection:
            connection.execute(
                insert(Template),
                [
                    {
                        "id": i,
                        "uuid": str(uuid.uuid4()),
                        "unique_name": f"bench-{i}",
                        "name": f"bench-{i}",
                        "display_text": f"bench template {i}",
                        "format": ImageFormat.QCOW2,
                        "type": "USER",
                        "hypervisor_type": "KVM",
                        "url": f"https://images.example.org/bench/{i}.qcow2",
                        "checksum": f"{{SHA-256}}{i:064x}",
                        "direct_download": True,
                        "public": i % 2 == 0,
                        "featured": False,
                        "extractable": False,
                        "guest_os_id": guest_os_id,
                        "account_id": account_id,
                        "size": 2 * 1024**3,
                        "physical_size": 600 * 1024**2,
                        "state": "Active",
                        "created": now,
                    }
                    for i in ids
                ],
            )
            connection.execute(
                insert(TemplateDetail),
                [
                    {"template_id": i, "name": name, "value": value, "display": True}
                    for i in ids
                    for name, value in (("rootDiskController", "virtio"), ("keyboard", "us"))
                ],
            )
            connection.execute(
                insert(TemplateZoneRef),
                [{"template_id": i, "zone_id": zone_id, "created": now} for i in ids],
            )
            connection.execute(
                insert(TemplatePoolRef),
                [
                    {
                        "pool_id": pool_id,
                        "template_id": i,
                        "download_pct": 100,
                        "download_state": DownloadState.DOWNLOADED,
                        "state": RefState.READY,
                        "local_path": f"bench-{i}",
                        "install_path": f"/var/lib/kvmcloud/bench/bench-{i}",
                        "template_size": 2 * 1024**3,
                        "physical_size": 600 * 1024**2,
                        "created": now,
                        "last_updated": now,
                    }
                    for i in ids
                ],
            )
    return (datetime.now(UTC) - began).total_seconds()
