"""Pool inventories from heartbeats: Ready copies whose files a host did not find are reset."""

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.infrastructure.heartbeats import HostSeen
from kvmcloud.server.infrastructure.models import Host, StoragePool
from kvmcloud.server.infrastructure.service import hosts_reaching_pool
from kvmcloud.server.templates.copies import forget_download, set_state, state_of
from kvmcloud.server.templates.copy_states import CopyEvent, transition
from kvmcloud.server.templates.models import RefState, Template, TemplatePoolRef

logger = logging.getLogger(__name__)

# A copy recorded Ready this recently may have been published after the host listed the
# pool (the listing travels in a heartbeat): its absence proves nothing yet.
INVENTORY_GRACE_S = 60.0


@dataclass(frozen=True, slots=True)
class MissingCopy:
    """A Ready pool copy whose file a host did not find: reset so it is downloaded again."""

    template_name: str
    pool_name: str
    file_name: str


def after_heartbeat(session: Session, seen: HostSeen) -> None:
    """Reset Ready template copies whose files the host's pool listings lack (never delete).

    A host shutting down may list pools half unmounted: its listings are not used.
    """
    if seen.beat.shutting_down:
        return
    host = seen.host
    for inventory in seen.beat.pool_inventory:
        if inventory.stale_partials_removed:
            logger.info(
                "host %s removed %d stale partial files from pool %s when it started",
                host.name,
                inventory.stale_partials_removed,
                inventory.uuid,
            )
        if inventory.truncated:
            logger.info(
                "host %s listed only part of pool %s: its copies are not checked",
                host.name,
                inventory.uuid,
            )
            continue
        for copy in reconcile_pool_inventory(session, host, inventory, seen.now):
            logger.warning(
                "template %s: file %s is missing on pool %s per host %s; the copy is no "
                "longer Ready and is downloaded again when next needed",
                copy.template_name,
                copy.file_name,
                copy.pool_name,
                host.name,
            )


def reconcile_pool_inventory(
    session: Session, host: Host, inventory: msg.PoolInventory, now: datetime
) -> list[MissingCopy]:
    """Reset the Ready copies on a pool whose files ``host`` reports missing; return them.

    A reset copy is NOT_DOWNLOADED / Allocated with an ``error_str`` saying who missed the
    file, so the next deploy downloads it again instead of failing on a missing backing
    file. Files are never deleted here. Nothing is concluded when the listing was
    truncated, names another path than the pool's, comes from a host that does not reach
    the pool (by scope, Up and Enabled), or when the copy was updated within
    ``INVENTORY_GRACE_S``.
    """
    if inventory.truncated:
        return []
    pool = session.scalars(
        select(StoragePool).where(StoragePool.uuid == inventory.uuid, StoragePool.removed.is_(None))
    ).first()
    if pool is None or pool.path.rstrip("/") != inventory.path.rstrip("/"):
        return []
    if host.id not in {h.id for h in hosts_reaching_pool(session, pool)}:
        return []
    present = set(inventory.files)
    rows = session.execute(
        select(TemplatePoolRef, Template)
        .join(Template, TemplatePoolRef.template_id == Template.id)
        .where(
            TemplatePoolRef.pool_id == pool.id,
            TemplatePoolRef.state == RefState.READY,
            Template.removed.is_(None),
        )
        .order_by(TemplatePoolRef.id)
    )
    missing: list[MissingCopy] = []
    for ref, template in rows:
        name = ref.local_path
        if not name or name in present:
            continue
        if ref.last_updated is not None and (
            (now - ref.last_updated).total_seconds() <= INVENTORY_GRACE_S
        ):
            continue
        reset = transition(state_of(ref), CopyEvent.FILE_MISSING)
        assert reset is not None, "a Ready copy whose file is missing is always reset"
        set_state(ref, reset)
        ref.download_pct = 0
        ref.install_path = None
        forget_download(ref)
        ref.error_str = (
            f"The file {name} was missing on pool {pool.name} per host {host.name} at "
            f"{now.isoformat(timespec='seconds')}; it is downloaded again when next needed"
        )[:1024]
        ref.last_updated = now
        missing.append(MissingCopy(template.name, pool.name, name))
    return missing
