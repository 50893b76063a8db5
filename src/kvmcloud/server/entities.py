"""Which column holds each API entity's public id, and which given ids name a row (queries)."""

from collections.abc import Collection
from typing import Any

from sqlalchemy.orm import Session

from kvmcloud.server.accounts.models import Account, Domain, Role, RolePermission, User
from kvmcloud.server.api.params import Entity
from kvmcloud.server.certificates.models import DirectDownloadCertificate
from kvmcloud.server.events.models import Event
from kvmcloud.server.infrastructure.models import (
    Cluster,
    Host,
    PhysicalNetwork,
    Pod,
    StoragePool,
    Zone,
)
from kvmcloud.server.jobs.models import ManagementServer
from kvmcloud.server.networks.models import Network, NetworkOffering
from kvmcloud.server.offerings.models import DiskOffering, ServiceOffering
from kvmcloud.server.queries import known_uuids
from kvmcloud.server.templates.models import GuestOs, GuestOsCategory, Template
from kvmcloud.server.vms.models import Nic, VirtualMachine, Volume

ID_COLUMNS: dict[Entity, Any] = {
    Entity.ZONE: Zone.uuid,
    Entity.POD: Pod.uuid,
    Entity.CLUSTER: Cluster.uuid,
    Entity.HOST: Host.uuid,
    Entity.STORAGE_POOL: StoragePool.uuid,
    # Templates and ISOs share vm_template, as in CloudStack.
    Entity.TEMPLATE: Template.uuid,
    Entity.OS_TYPE: GuestOs.uuid,
    Entity.OS_CATEGORY: GuestOsCategory.uuid,
    Entity.VIRTUAL_MACHINE: VirtualMachine.uuid,
    Entity.VOLUME: Volume.uuid,
    Entity.SERVICE_OFFERING: ServiceOffering.uuid,
    Entity.DISK_OFFERING: DiskOffering.uuid,
    Entity.EVENT: Event.uuid,
    Entity.DOMAIN: Domain.uuid,
    Entity.ACCOUNT: Account.uuid,
    Entity.USER: User.uuid,
    Entity.MANAGEMENT_SERVER: ManagementServer.msid,
    Entity.CERTIFICATE: DirectDownloadCertificate.uuid,
    Entity.ROLE: Role.uuid,
    Entity.ROLE_PERMISSION: RolePermission.uuid,
    Entity.NETWORK_OFFERING: NetworkOffering.uuid,
    Entity.NETWORK: Network.uuid,
    Entity.PHYSICAL_NETWORK: PhysicalNetwork.uuid,
    Entity.NIC: Nic.uuid,
}


# CloudStack objects kvmcloud has none of: an id of one names nothing (431), as in a
# CloudStack that never created one.
ABSENT_ENTITIES = frozenset(
    {
        Entity.IP_ADDRESS,
        Entity.FIREWALL_RULE,
        Entity.LOAD_BALANCER_RULE,
        Entity.ROUTER,
        Entity.SYSTEM_VM,
        Entity.SNAPSHOT,
        Entity.VLAN_IP_RANGE,
        Entity.VPC,
        Entity.PROJECT,
    }
)


def known_ids(session: Session, entity: Entity, uuids: Collection[str]) -> set[str]:
    """Return which of ``uuids`` name a row of ``entity``; removed rows count, as in CloudStack."""
    if entity in ABSENT_ENTITIES:
        return set()
    return known_uuids(session, ID_COLUMNS[entity], uuids)
