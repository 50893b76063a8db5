"""Guest networks: create, list, update, and delete through a job."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account, AccountType, Domain
from kvmcloud.server.accounts.owners import check_access, owned_by, owner_for, scope_of
from kvmcloud.server.accounts.visibility import OwnerFilter
from kvmcloud.server.agent_client import AgentEndpoint
from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError, OperationFailedError
from kvmcloud.server.infrastructure.models import PhysicalNetwork, Zone
from kvmcloud.server.infrastructure.service import endpoint_for, up_hosts_in_zone
from kvmcloud.server.jobs import queue
from kvmcloud.server.networks import rules
from kvmcloud.server.networks.models import GuestType, Network, NetworkOffering, OfferingState
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import get_by_uuid, list_window, paged, rows_by_id

UPDATE_NETWORK_JOB = "update_network"
DELETE_NETWORK_JOB = "delete_network"
_UPDATE_CMD = "org.apache.cloudstack.api.command.user.network.UpdateNetworkCmd"
_DELETE_CMD = "org.apache.cloudstack.api.command.user.network.DeleteNetworkCmd"


@dataclass(frozen=True, slots=True)
class NetworkRecord:
    """A network with the rows its response names."""

    network: Network
    offering: NetworkOffering
    zone: Zone
    physical_network: PhysicalNetwork
    account: Account
    domain: Domain


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSpec:
    """What createNetwork asks for, as given."""

    name: str
    display_text: str | None
    offering_uuid: str
    zone_uuid: str
    gateway: str | None
    netmask: str | None
    network_domain: str | None
    account_name: str | None
    domain_uuid: str | None


def create_network(
    db: Database, spec: NetworkSpec, *, caller: Caller, clock: Callable[[], datetime], command: str
) -> NetworkRecord:
    """Record a guest network of an enabled offering, owned by the caller or the account named.

    Nothing is set up on any host yet.

    Raises:
        InvalidParameterError: a disabled offering (CloudStack's text), a Shared network
            asked by a user, or addresses that do not fit the guest type.
        PermissionDeniedError: an owner out of the caller's reach (531).
    """
    with db.transaction() as session:
        offering = get_by_uuid(
            session, NetworkOffering, spec.offering_uuid, command=command, param="networkofferingid"
        )
        zone = get_by_uuid(session, Zone, spec.zone_uuid, command=command, param="zoneid")
        if offering.state is not OfferingState.ENABLED:
            raise InvalidParameterError(
                "networkofferingid",
                "Can't use specified network offering id as its state is not Enabled",
            )
        if offering.guest_type is GuestType.SHARED and caller.account_type is AccountType.USER:
            raise InvalidParameterError(
                "networkofferingid", "Only Admins can create network with guest type Shared"
            )
        addresses = rules.guest_range(
            offering.guest_type, spec.gateway, spec.netmask, zone.guest_network_cidr
        )
        owner = owner_for(
            session,
            caller,
            account_name=spec.account_name,
            domain_uuid=spec.domain_uuid,
            command=command,
            what="network to create",
        )
        account = owner or session.get_one(Account, caller.account_id)
        physical = session.scalars(
            select(PhysicalNetwork)
            .where(PhysicalNetwork.data_center_id == zone.id, PhysicalNetwork.removed.is_(None))
            .order_by(PhysicalNetwork.id)
        ).first()
        if physical is None:
            raise InvalidParameterError(
                "zoneid", f"Zone {zone.uuid} has no physical network for guest traffic"
            )
        network = Network(
            name=spec.name,
            display_text=spec.display_text or spec.name,
            traffic_type=offering.traffic_type,
            guest_type=offering.guest_type,
            network_offering_id=offering.id,
            data_center_id=zone.id,
            physical_network_id=physical.id,
            account_id=account.id,
            domain_id=account.domain_id,
            acl_type="Domain" if offering.guest_type is GuestType.SHARED else "Account",
            # CloudStack's states before a network is implemented on hosts: Shared networks
            # with their address range are Setup, the others Allocated.
            state="Setup" if offering.guest_type is GuestType.SHARED else "Allocated",
            gateway=addresses.gateway,
            cidr=addresses.cidr,
            broadcast_domain_type="Native",
            network_domain=spec.network_domain,
            created=clock(),
        )
        session.add(network)
        session.flush()
        return _records(session, [network])[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkFilter:
    """Which networks listNetworks asks for (None: any); uuids are the API's ids."""

    owners: OwnerFilter
    id: str | None
    zone_id: str | None
    guest_type: str | None
    traffic_type: str | None
    acl_type: str | None
    physical_network_id: str | None
    offering_id: str | None
    keyword: str | None


def list_networks(
    db: Database, wanted: NetworkFilter, page: PageRequest, *, caller: Caller, command: str
) -> tuple[list[NetworkRecord], int]:
    """Return one page of the live networks the caller sees, oldest first, and the total."""
    query = select(Network).where(Network.removed.is_(None)).order_by(Network.id)
    if wanted.id:
        query = query.where(Network.uuid == wanted.id)
    if wanted.guest_type:
        query = query.where(func.lower(Network.guest_type) == wanted.guest_type.lower())
    if wanted.traffic_type:
        query = query.where(func.lower(Network.traffic_type) == wanted.traffic_type.lower())
    if wanted.acl_type:
        query = query.where(func.lower(Network.acl_type) == wanted.acl_type.lower())
    if wanted.keyword:
        query = query.where(Network.name.contains(wanted.keyword, autoescape=True))
    for value, model, column in (
        (wanted.zone_id, Zone, Network.data_center_id),
        (wanted.physical_network_id, PhysicalNetwork, Network.physical_network_id),
        (wanted.offering_id, NetworkOffering, Network.network_offering_id),
    ):
        if value:
            query = query.where(
                column == select(model.id).where(model.uuid == value).scalar_subquery()
            )
    with db.transaction() as session:
        scope = scope_of(session, caller, wanted.owners, command=command, by_id=bool(wanted.id))
        query = query.where(owned_by(scope, Network.account_id))
        networks, total = paged(session, query, list_window(session, page))
        return _records(session, networks), total


def queue_update(
    db: Database,
    uuid: str,
    *,
    name: str | None,
    display_text: str | None,
    caller: Caller,
    clock: Callable[[], datetime],
    command: str,
) -> str:
    """Check the caller may change the network and queue the job renaming it; its job uuid."""
    with db.transaction() as session:
        network = _own_network(session, caller, uuid, command=command)
        return _enqueue(
            session,
            network,
            kind=UPDATE_NETWORK_JOB,
            cmd=_UPDATE_CMD,
            payload={"network_id": network.id, "name": name, "display_text": display_text},
            account_id=caller.account_id,
            user_id=caller.user_id,
            now=clock(),
        )


def update_network(
    db: Database, network_id: int, *, name: str | None, display_text: str | None
) -> NetworkRecord:
    """Rename or re-describe a network (updateNetwork's job)."""
    with db.transaction() as session:
        network = session.get_one(Network, network_id)
        if name:
            network.name = name
        if display_text:
            network.display_text = display_text
        session.flush()
        return _records(session, [network])[0]


def queue_delete(
    db: Database, uuid: str, *, caller: Caller, clock: Callable[[], datetime], command: str
) -> str:
    """Check the caller may delete the network and queue the job that does; its job uuid."""
    with db.transaction() as session:
        network = _own_network(session, caller, uuid, command=command)
        return _enqueue(
            session,
            network,
            kind=DELETE_NETWORK_JOB,
            cmd=_DELETE_CMD,
            payload={"network_id": network.id},
            account_id=caller.account_id,
            user_id=caller.user_id,
            now=clock(),
        )


def account_networks(session: Session, account_id: int) -> list[tuple[str, str]]:
    """The account's live networks, as (uuid, "network <name>"): what deleteAccount removes."""
    rows = session.execute(
        select(Network.uuid, Network.name)
        .where(Network.account_id == account_id, Network.removed.is_(None))
        .order_by(Network.id)
    )
    return [(uuid, f"network {name}") for uuid, name in rows]


def queue_delete_for_owner_removal(
    session: Session, uuid: str, *, account_id: int | None, user_id: int | None, now: datetime
) -> str:
    """Queue deleteNetwork of a network whose account is being deleted, for who deletes it.

    ``account_id``/``user_id`` checked their right to delete the account; the network's own
    account can no longer act.
    """
    network = session.scalars(select(Network).where(Network.uuid == uuid)).one()
    return _enqueue(
        session,
        network,
        kind=DELETE_NETWORK_JOB,
        cmd=_DELETE_CMD,
        payload={"network_id": network.id},
        account_id=account_id,
        user_id=user_id,
        now=now,
    )


# The live VMs with a NIC on a network, as (name, state): vms.service.network_users, passed
# in because VMs are built on networks.
NetworkUsers = Callable[[Session, int], list[tuple[str, str]]]


def delete_network(
    db: Database, network_id: int, now: datetime, users: NetworkUsers
) -> tuple[str, list[AgentEndpoint]]:
    """Remove the network unless a VM not yet expunged has a NIC on it.

    Returns its uuid and the zone's Up hosts, to be asked to remove its libvirt network
    (the hosts that ran a VM on it made one; asking the others is harmless).

    Raises:
        OperationFailedError: a VM still uses it: CloudStack's job failure (530) with the
            reason CloudStack only logs.
    """
    with db.transaction() as session:
        network = session.get_one(Network, network_id)
        holders = users(session, network.id)
        if holders:
            name, state = holders[0]
            raise OperationFailedError(
                "Failed to delete network: Can't delete the network, not all user vms are "
                f"expunged. Vm {name} is in {state} state"
            )
        if network.removed is None:
            network.removed = now
        hosts = up_hosts_in_zone(session, network.data_center_id)
        return network.uuid, [endpoint_for(host) for host in hosts]


def _enqueue(
    session: Session,
    network: Network,
    *,
    kind: str,
    cmd: str,
    payload: dict[str, object],
    account_id: int | None,
    user_id: int | None,
    now: datetime,
) -> str:
    job = queue.enqueue(
        session,
        kind=kind,
        cmd=cmd,
        payload=payload,
        now=now,
        account_id=account_id,
        user_id=user_id,
        instance_type="Network",
        instance_uuid=network.uuid,
    )
    return job.uuid


def _own_network(session: Session, caller: Caller, uuid: str, *, command: str) -> Network:
    network = get_by_uuid(session, Network, uuid, command=command, param="id")
    check_access(session, caller, network.account_id, f"network {uuid}")
    return network


def _records(session: Session, networks: Sequence[Network]) -> list[NetworkRecord]:
    offerings = rows_by_id(session, NetworkOffering, (n.network_offering_id for n in networks))
    zones = rows_by_id(session, Zone, (n.data_center_id for n in networks))
    physicals = rows_by_id(session, PhysicalNetwork, (n.physical_network_id for n in networks))
    accounts = rows_by_id(session, Account, (n.account_id for n in networks))
    domains = rows_by_id(session, Domain, (n.domain_id for n in networks))
    return [
        NetworkRecord(
            network=n,
            offering=offerings[n.network_offering_id],
            zone=zones[n.data_center_id],
            physical_network=physicals[n.physical_network_id],
            account=accounts[n.account_id],
            domain=domains[n.domain_id],
        )
        for n in networks
    ]
