"""The zones' physical networks and the traffic types they carry, as clients list them."""

from dataclasses import dataclass

from sqlalchemy import select

from kvmcloud.server.db import Database
from kvmcloud.server.infrastructure.models import (
    PhysicalNetwork,
    PhysicalNetworkTrafficType,
    Zone,
)
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import get_by_uuid, list_window, paged


@dataclass(frozen=True, slots=True)
class PhysicalNetworkRecord:
    """A physical network with its zone, for the response."""

    network: PhysicalNetwork
    zone: Zone


@dataclass(frozen=True, slots=True)
class TrafficTypeRecord:
    """A traffic type with the uuid of its physical network, for the response."""

    traffic_type: PhysicalNetworkTrafficType
    physical_network_uuid: str


def list_physical_networks(
    db: Database,
    page: PageRequest,
    *,
    uuid: str | None,
    zone_uuid: str | None,
    name: str | None,
    keyword: str | None,
) -> tuple[list[PhysicalNetworkRecord], int]:
    """Return one page of live physical networks, oldest first, and the total."""
    query = select(PhysicalNetwork).where(PhysicalNetwork.removed.is_(None))
    if uuid:
        query = query.where(PhysicalNetwork.uuid == uuid)
    if zone_uuid:
        query = query.where(
            PhysicalNetwork.data_center_id
            == select(Zone.id).where(Zone.uuid == zone_uuid).scalar_subquery()
        )
    if name:
        query = query.where(PhysicalNetwork.name == name)
    if keyword:
        query = query.where(PhysicalNetwork.name.contains(keyword, autoescape=True))
    with db.transaction() as session:
        networks, total = paged(
            session, query.order_by(PhysicalNetwork.id), list_window(session, page)
        )
        zone_ids = {n.data_center_id for n in networks}
        zones = {z.id: z for z in session.scalars(select(Zone).where(Zone.id.in_(zone_ids)))}
        return [PhysicalNetworkRecord(n, zones[n.data_center_id]) for n in networks], total


def list_traffic_types(
    db: Database, page: PageRequest, physical_network_uuid: str, *, command: str
) -> tuple[list[TrafficTypeRecord], int]:
    """Return one page of the traffic types of a physical network, and the total.

    Raises:
        InvalidParameterError: no such live physical network (431 naming it).
    """
    with db.transaction() as session:
        network = get_by_uuid(
            session,
            PhysicalNetwork,
            physical_network_uuid,
            command=command,
            param="physicalnetworkid",
        )
        query = (
            select(PhysicalNetworkTrafficType)
            .where(PhysicalNetworkTrafficType.physical_network_id == network.id)
            .order_by(PhysicalNetworkTrafficType.id)
        )
        types, total = paged(session, query, list_window(session, page))
        return [TrafficTypeRecord(t, network.uuid) for t in types], total
