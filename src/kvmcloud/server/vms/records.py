"""VmRecord, VolumeRecord, ConsoleLog: what VM, volume and console log responses render."""

from dataclasses import dataclass, field

from kvmcloud.server.accounts.models import Account, Domain
from kvmcloud.server.infrastructure.models import Host, StoragePool, Zone
from kvmcloud.server.networks.models import Network
from kvmcloud.server.offerings.models import DiskOffering, ServiceOffering
from kvmcloud.server.templates.models import GuestOs, Template
from kvmcloud.server.vms.models import Nic, VirtualMachine, Volume


@dataclass(frozen=True, slots=True, kw_only=True)
class VmRecord:
    """A VM with its zone, offering, images, host, owner, guest OS and NICs (None: gone)."""

    vm: VirtualMachine
    zone: Zone | None
    offering: ServiceOffering | None
    template: Template | None
    iso: Template | None
    host: Host | None
    account: Account | None
    domain: Domain | None
    guest_os: GuestOs | None
    nics: tuple[Nic, ...]
    # The guest networks of the NICs that are on one, by id.
    networks: dict[int, Network] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeRecord:
    """A volume with its zone, pool, VM, template and disk offering (None: none or gone)."""

    volume: Volume
    zone: Zone | None
    pool: StoragePool | None
    vm: VirtualMachine | None
    template: Template | None
    offering: DiskOffering | None
    # The owner: the VM's account and its domain (a volume has no owner of its own here).
    account: Account | None = None
    domain: Domain | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleLog:
    """The tail of a VM's serial console log as its host's agent read it."""

    vm_uuid: str
    log: str
    truncated: bool
    size_bytes: int
