"""Create, list, update and delete network offerings."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError, shown
from kvmcloud.server.infrastructure.models import Zone
from kvmcloud.server.networks import rules
from kvmcloud.server.networks.models import Network, NetworkOffering, OfferingState
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import get_by_uuid, list_window, paged


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferingSpec:
    """What createNetworkOffering asks for, as given."""

    name: str
    display_text: str | None
    traffic_type: str
    guest_ip_type: str
    availability: str | None
    specify_vlan: bool
    specify_ip_ranges: bool
    conserve_mode: bool
    is_persistent: bool
    egress_default_policy: bool
    for_vpc: bool
    network_rate: int | None
    tags: str | None
    supported_services: Sequence[str]
    service_providers: Sequence[str]
    enable: bool


def create_offering(
    db: Database, spec: OfferingSpec, clock: Callable[[], datetime]
) -> NetworkOffering:
    """Check and store an offering; Disabled unless ``enable``, as in CloudStack.

    Raises:
        InvalidParameterError: an unknown traffic type, guest type, availability or service,
            or any service at all (kvmcloud provides none), or forvpc (no VPCs).
    """
    traffic_type = rules.check_traffic_type(spec.traffic_type)
    guest_type = rules.guest_type_of(spec.guest_ip_type)
    availability = rules.availability_of(spec.availability)
    rules.check_services(spec.supported_services, spec.service_providers)
    if spec.for_vpc:
        raise InvalidParameterError("forvpc", "kvmcloud has no VPCs: forvpc must be false")
    with db.transaction() as session:
        offering = NetworkOffering(
            name=spec.name,
            display_text=spec.display_text or spec.name,
            traffic_type=traffic_type,
            guest_type=guest_type,
            state=OfferingState.ENABLED if spec.enable else OfferingState.DISABLED,
            is_default=False,
            availability=availability,
            specify_vlan=spec.specify_vlan,
            specify_ip_ranges=spec.specify_ip_ranges,
            conserve_mode=spec.conserve_mode,
            is_persistent=spec.is_persistent,
            egress_default_policy=spec.egress_default_policy,
            for_vpc=False,
            # CloudStack stores a negative rate as 0 (no limit).
            network_rate=None if spec.network_rate is None else max(spec.network_rate, 0),
            tags=spec.tags,
            created=clock(),
        )
        session.add(offering)
        session.flush()
        return offering


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferingFilter:
    """Which offerings listNetworkOfferings asks for (None: any)."""

    id: str | None
    name: str | None
    display_text: str | None
    state: str | None
    guest_ip_type: str | None
    traffic_type: str | None
    is_default: bool | None
    zone_id: str | None
    for_vpc: bool | None
    keyword: str | None


def list_offerings(
    db: Database, wanted: OfferingFilter, page: PageRequest, *, command: str
) -> tuple[list[NetworkOffering], int]:
    """Return one page of live offerings, oldest first, and the total.

    Every offering is for every zone (kvmcloud keeps no zone list on offerings), so
    ``zoneid`` only has to name a zone; no offering is for VPCs.
    """
    query = select(NetworkOffering).where(NetworkOffering.removed.is_(None))
    if wanted.id:
        query = query.where(NetworkOffering.uuid == wanted.id)
    if wanted.name:
        query = query.where(NetworkOffering.name == wanted.name)
    if wanted.display_text:
        query = query.where(NetworkOffering.display_text == wanted.display_text)
    if wanted.state:
        query = query.where(func.lower(NetworkOffering.state) == wanted.state.lower())
    if wanted.guest_ip_type:
        query = query.where(func.lower(NetworkOffering.guest_type) == wanted.guest_ip_type.lower())
    if wanted.traffic_type:
        query = query.where(func.lower(NetworkOffering.traffic_type) == wanted.traffic_type.lower())
    if wanted.is_default is not None:
        query = query.where(NetworkOffering.is_default.is_(wanted.is_default))
    if wanted.for_vpc:
        query = query.where(NetworkOffering.for_vpc.is_(True))
    if wanted.keyword:
        query = query.where(NetworkOffering.name.contains(wanted.keyword, autoescape=True))
    with db.transaction() as session:
        if wanted.zone_id:
            get_by_uuid(session, Zone, wanted.zone_id, command=command, param="zoneid")
        return paged(session, query.order_by(NetworkOffering.id), list_window(session, page))


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferingChange:
    """What updateNetworkOffering asks to change (None: keep)."""

    name: str | None
    display_text: str | None
    state: str | None
    availability: str | None


def update_offering(
    db: Database, uuid: str, change: OfferingChange, *, command: str
) -> NetworkOffering:
    """Rename, re-describe, enable or disable an offering.

    Raises:
        InvalidParameterError: no such offering, or a state other than Enabled/Disabled
            (CloudStack's text).
    """
    state = None
    if change.state is not None:
        state = next((s for s in OfferingState if s.value.lower() == change.state.lower()), None)
        if state is None:
            raise InvalidParameterError("state", f"Incorrect state value: {shown(change.state)}")
    availability = rules.availability_of(change.availability) if change.availability else None
    with db.transaction() as session:
        offering = get_by_uuid(session, NetworkOffering, uuid, command=command, param="id")
        if change.name:
            offering.name = change.name
        if change.display_text:
            offering.display_text = change.display_text
        if state is not None:
            offering.state = state
        if availability is not None:
            offering.availability = availability
        session.flush()
        return offering


def delete_offering(
    db: Database, uuid: str, clock: Callable[[], datetime], *, command: str
) -> None:
    """Remove an offering no live network uses; default offerings stay.

    Raises:
        InvalidParameterError: no such offering, a default one, or one in use (CloudStack's
            texts).
    """
    with db.transaction() as session:
        offering = get_by_uuid(session, NetworkOffering, uuid, command=command, param="id")
        if offering.is_default:
            raise InvalidParameterError("id", "Default network offering can't be deleted")
        in_use = session.scalar(
            select(func.count(Network.id)).where(
                Network.network_offering_id == offering.id, Network.removed.is_(None)
            )
        )
        if in_use:
            raise InvalidParameterError(
                "id",
                f"Can't delete network offering {offering.name} ({offering.uuid}) as its used "
                f"by {in_use} networks. To make the network offering unavailable, disable it",
            )
        offering.removed = clock()
