"""Messages between server and agent: commands, answers, reports; to_json()/from_json() by type tag.

The agent protocol (docs/architecture.md, "Agent protocol"):

* The server enrols an agent with ``POST /enroll`` (:class:`EnrollRequest`), proving it
  knows the agent's enrolment token (``Authorization: Bearer <token>``) and handing it a
  per-host key. Every later request in
  either direction carries that key as ``Authorization: Bearer <key>``.
* The server sends a command as ``POST /commands`` with a body made by :func:`command_to_json`:
  ``{"id": <server-chosen id>, "type": <tag>, "payload": {...}}``. Commands are idempotent by
  id. Short commands answer inline; long ones answer 202 and are polled with
  ``GET /commands/<id>?wait_s=N``. Both reply with a :class:`CommandStatus`.
* The server reads a verified template copy with ``POST /pool-files/read``
  (:class:`ReadPoolFileRequest`); the answer is the file's bytes (``Range`` honoured).
* A receiving agent reads a peer agent's verified copy with ``POST /peer-files/read``
  (:class:`PeerGrant` as the body, signed by the server with the peer's host key; the
  client certificate, from the same CA, is the authentication; ``Range`` honoured).
* The agent reports itself with ``POST /agent/v1/heartbeat`` on the server
  (:class:`Heartbeat` → :class:`HeartbeatReply`).

Everything here is plain frozen dataclasses of JSON-able values, so both sides decode with
the same code and an unknown field from a newer peer is ignored rather than fatal.
"""

import dataclasses
import functools
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypeVar, Union

from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.protocol.json_limits import JsonTooDeepError, check_json_depth

AUTHORIZATION_SCHEME = "Bearer"
# Agent → server requests name their host here, so the key is checked before the body is read.
HOST_UUID_HEADER = "X-Kvmcloud-Host"
# The longest an agent waits between heartbeats, whatever ping.interval says.
MAX_HEARTBEAT_INTERVAL_S = 300.0
# An agent keeps its heartbeat connection open, idle, this long: longer than any interval, so
# a beat reuses it instead of paying a mutual-TLS handshake (5 ms of the server's CPU)...
AGENT_KEEPALIVE_S = MAX_HEARTBEAT_INTERVAL_S + 20
# ...and the server's agent listener a little longer, so the agent is the side that closes an
# idle connection, never the server just as a beat goes out on it.
SERVER_KEEPALIVE_S = AGENT_KEEPALIVE_S + 10


class MessageFormatError(ValueError):
    """A message could not be decoded; the text names the offending field."""


class PoolType(StrEnum):
    """Primary storage kinds the agent can place files in (CloudStack spelling)."""

    FILESYSTEM = "Filesystem"
    SHARED_MOUNT_POINT = "SharedMountPoint"
    NETWORK_FILESYSTEM = "NetworkFilesystem"
    RBD = "RBD"


class VmPowerState(StrEnum):
    """A domain's state as the agent sees it in libvirt."""

    RUNNING = "running"
    STOPPED = "stopped"
    PAUSED = "paused"
    MISSING = "missing"


class CommandState(StrEnum):
    """Where a command is on the agent."""

    RUNNING = "running"
    DONE = "done"


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Network limits for one transfer; ``total_s`` bounds the whole command."""

    connect_s: float = 5.0
    read_s: float = 5.0
    # Longest wait for a response's status and headers once connected
    # (direct.download.connection.request.timeout).
    request_s: float = 5.0
    total_s: float = 10800.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolSpec:
    """A primary storage pool as the agent sees it: a directory of a given type.

    For NetworkFilesystem, ``path`` is the export on NFS server ``server``; for RBD,
    ``path`` is the Ceph pool, ``server`` the monitors (``host:port``, comma-separated),
    ``user`` the cephx user (without ``client.``) and ``secret`` its key. The other types
    are directories on the host and have no server.

    The key is a credential: never in a repr (hence in no log line that formats a
    command), and the server keeps it sealed until the moment it sends the command.
    """

    uuid: str
    type: PoolType
    path: str
    server: str | None = None
    user: str | None = None
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class EgressRules:
    """The zone's egress allow and deny entries (address ranges, host names, suffixes).

    Both empty is the default policy: loopback, link-local, private, any-local, multicast
    and reserved addresses are refused (protocol/egress.py). A command from a server that
    sends no rules gets exactly that.
    """

    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckUrlCommand:
    """Check that ``url`` is reachable from this host and report its size."""

    TYPE: ClassVar[str] = "CheckUrl"
    LONG: ClassVar[bool] = False
    url: str
    format: str
    # Header values are often credentials (Authorization): never in a repr.
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeouts: Timeouts = field(default_factory=Timeouts)
    follow_redirects: bool = False
    egress: EgressRules = field(default_factory=EgressRules)


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """Why a command failed: a stable wire code and a message for people."""

    code: ErrorCode
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MirrorCheck:
    """The URL check of one mirror of a metalink (credentials in the URL masked)."""

    url: str
    ok: bool
    error: ErrorInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckUrlResult:
    """What the URL check learned; sizes are None when the source does not say.

    For a metalink, ``mirrors`` lists every mirror's own check; the check as a whole
    passes when at least one mirror does.
    """

    TYPE: ClassVar[str] = "CheckUrlResult"
    physical_size_bytes: int | None = None
    virtual_size_bytes: int | None = None
    mirrors: list[MirrorCheck] = field(default_factory=list)
    # The URL serves a Metalink document (told by its media type, whatever its name).
    metalink: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerGrant:
    """The server's leave for one peer agent to serve one verified copy (protocol/peer_grants.py).

    ``checksum`` is the digest the server recorded for the copy's bytes; ``signature`` is an
    HMAC-SHA256 of every other field under the serving host's agent key, so the peer serves
    only what the server named, until ``expires_s`` (Unix time), at most ``max_rate_bytes``
    per second (0: no cap) and to at most ``max_uploads`` receivers at once.
    """

    pool: PoolSpec
    name: str
    size_bytes: int
    checksum: str
    max_rate_bytes: int = 0
    max_uploads: int = 2
    expires_s: float
    signature: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerSource:
    """A peer agent holding a verified copy: where it listens and the grant to show it."""

    host_uuid: str
    url: str
    grant: PeerGrant


@dataclass(frozen=True, slots=True, kw_only=True)
class ByteSource:
    """Where a download's bytes came from: ``kind`` origin or peer, and how it went.

    ``outcome`` is ``used`` (its bytes are in the copy), ``failed`` (the transfer broke;
    the bytes it gave before are kept when they were verified in the end), ``rejected``
    (its bytes did not match the digest and were thrown away) or ``discarded`` (its
    transfer broke and the next source could not continue it, so its bytes were dropped).
    """

    kind: str
    host_uuid: str | None = None
    bytes: int = 0
    outcome: str = "used"
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectDownloadCommand:
    """Download ``url`` into ``pool`` as ``install_name``, verified, published atomically."""

    TYPE: ClassVar[str] = "DirectDownload"
    LONG: ClassVar[bool] = True
    template_uuid: str
    url: str
    format: str
    pool: PoolSpec
    install_name: str
    checksum: str | None = None
    # Header values are often credentials (Authorization): never in a repr.
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeouts: Timeouts = field(default_factory=Timeouts)
    follow_redirects: bool = False
    # The URL check found a Metalink document here (served as application/metalink4+xml).
    metalink: bool = False
    egress: EgressRules = field(default_factory=EgressRules)
    # Peer agents to try, in order, before ``url`` (empty: the origin only, as before).
    peers: list[PeerSource] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectDownloadResult:
    """Where the verified image now lives and how big it is.

    ``sources`` says where the bytes came from (origin, peers) and how many from each.
    ``image_checksum`` is the verified digest of the file as published on the pool: the
    command's checksum when the source was not compressed, None otherwise (the pool then
    holds other bytes than the origin's, and the copy cannot serve peers).
    """

    TYPE: ClassVar[str] = "DirectDownloadResult"
    install_path: str
    physical_size_bytes: int
    virtual_size_bytes: int
    format: str
    sources: list[ByteSource] = field(default_factory=list)
    image_checksum: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckPoolCommand:
    """Check that the pool's directory is usable here and report its capacity."""

    TYPE: ClassVar[str] = "CheckPool"
    LONG: ClassVar[bool] = False
    pool: PoolSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolReport:
    """Capacity of one pool as seen from one host."""

    TYPE: ClassVar[str] = "PoolReport"
    uuid: str
    capacity_bytes: int
    available_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateVolumeCommand:
    """Create a qcow2 volume in a pool: an overlay on ``backing_name`` or a blank disk."""

    TYPE: ClassVar[str] = "CreateVolume"
    LONG: ClassVar[bool] = False
    pool: PoolSpec
    name: str
    size_bytes: int | None = None
    backing_name: str | None = None
    backing_format: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeResult:
    """Where a volume lives and its sizes."""

    TYPE: ClassVar[str] = "VolumeResult"
    path: str
    virtual_size_bytes: int
    physical_size_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeletePoolFileCommand:
    """Delete a volume or a template copy from a pool (idempotent: a missing file is fine)."""

    TYPE: ClassVar[str] = "DeletePoolFile"
    LONG: ClassVar[bool] = False
    pool: PoolSpec
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolFileDeleted:
    """A pool file is gone; ``existed`` says whether there was one to delete."""

    TYPE: ClassVar[str] = "PoolFileDeleted"
    existed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadPoolFileRequest:
    """Stream a verified template copy's bytes (``POST /pool-files/read``, not a command).

    The server names a copy it recorded as Ready on the pool, with the size it recorded;
    the agent serves it only from a pool it was asked to use before, under a safe name,
    as a regular file of exactly that size.
    """

    pool: PoolSpec
    name: str
    size_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskSpec:
    """One disk of a VM: a file on a pool, as a disk or a CD-ROM.

    ``pool`` is set for disks QEMU reaches over the network with credentials (RBD: then
    ``path`` is the image name in that pool); None for files and ``nfs://`` URLs.
    """

    path: str
    format: str
    device: str = "disk"
    pool: PoolSpec | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NicSpec:
    """One NIC of a VM on a guest network; the agent puts it on that network's bridge.

    ``guest_type`` is the network's (``L2``, ``Shared``, ``Isolated``); the address fields
    are None on L2 networks, and ``vlan`` is None while networks have no VLAN.
    """

    mac_address: str
    network_uuid: str
    guest_type: str
    vlan: int | None = None
    ip_address: str | None = None
    netmask: str | None = None
    gateway: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VmSpec:
    """What the agent needs to define a VM's libvirt domain.

    ``nics`` lists the NICs on guest networks, the default first; empty for a VM without
    guest networks, which gets ``mac_address`` on QEMU's user-mode network. A server that
    sends ``nics`` also sends the default NIC's MAC as ``mac_address``, so an agent that
    predates ``nics`` (and ignores it as an unknown field) still starts the VM as before.
    """

    name: str
    uuid: str
    vcpus: int
    memory_mib: int
    disks: list[DiskSpec] = field(default_factory=list)
    mac_address: str | None = None
    boot_devices: list[str] = field(default_factory=lambda: ["hd"])
    nics: list[NicSpec] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class StartVmCommand:
    """Define (or update) the domain from ``spec`` and start it; a running domain is kept."""

    TYPE: ClassVar[str] = "StartVm"
    LONG: ClassVar[bool] = False
    spec: VmSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class StopVmCommand:
    """Stop a domain: ACPI shutdown for ``graceful_timeout_s``, then power off; or at once."""

    TYPE: ClassVar[str] = "StopVm"
    LONG: ClassVar[bool] = False
    name: str
    forced: bool = False
    graceful_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RebootVmCommand:
    """Reset a running domain."""

    TYPE: ClassVar[str] = "RebootVm"
    LONG: ClassVar[bool] = False
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DestroyVmCommand:
    """Power off and undefine a domain; its volumes stay (the server deletes them)."""

    TYPE: ClassVar[str] = "DestroyVm"
    LONG: ClassVar[bool] = False
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadConsoleLogCommand:
    """Return the last ``max_bytes`` of domain ``name``'s serial console log."""

    TYPE: ClassVar[str] = "ReadConsoleLog"
    LONG: ClassVar[bool] = False
    name: str
    max_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachIsoCommand:
    """Insert ``iso_path`` into the domain's CD-ROM, or eject it when None."""

    TYPE: ClassVar[str] = "AttachIso"
    LONG: ClassVar[bool] = False
    name: str
    iso_path: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveNetworkCommand:
    """Stop and undefine the host's libvirt network of a deleted guest network, if any."""

    TYPE: ClassVar[str] = "RemoveNetwork"
    LONG: ClassVar[bool] = False
    network_uuid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkRemoved:
    """A guest network's libvirt network is gone; ``existed`` says whether there was one."""

    TYPE: ClassVar[str] = "NetworkRemoved"
    existed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupCertificateCommand:
    """Trust ``pem`` for HTTPS sources under ``alias`` (replacing one of the same alias)."""

    TYPE: ClassVar[str] = "SetupCertificate"
    LONG: ClassVar[bool] = False
    alias: str
    pem: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeCertificateCommand:
    """Stop trusting the certificate stored under ``alias`` (a missing alias is fine)."""

    TYPE: ClassVar[str] = "RevokeCertificate"
    LONG: ClassVar[bool] = False
    alias: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewCertificateCommand:
    """Renewal, step 1: make a new key (kept on the host) and answer a CSR for it."""

    TYPE: ClassVar[str] = "RenewCertificate"
    LONG: ClassVar[bool] = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateRequest:
    """The CSR of the agent's new key."""

    TYPE: ClassVar[str] = "CertificateRequest"
    csr_pem: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallCertificateCommand:
    """Renewal, step 2: switch to the new key with this certificate from the CA."""

    TYPE: ClassVar[str] = "InstallCertificate"
    LONG: ClassVar[bool] = False
    certificate_pem: str
    ca_pem: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateInstalled:
    """The agent now serves and presents the new certificate."""

    TYPE: ClassVar[str] = "CertificateInstalled"
    fingerprint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateResult:
    """The host's store after a setup or revoke: whether it changed, what it now holds."""

    TYPE: ClassVar[str] = "CertificateResult"
    alias: str
    changed: bool
    # Every alias the store holds, with the SHA-256 fingerprint of its certificate.
    held: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class VmStateResult:
    """A domain's state after a command, the accelerator it runs on, and its console log."""

    TYPE: ClassVar[str] = "VmStateResult"
    name: str
    state: VmPowerState
    accelerator: str | None = None
    console_log: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleLogResult:
    """The tail of a console log: text (UTF-8, bad bytes replaced) and the file's full size.

    ``size_bytes`` is 0 and ``log`` empty when the domain has written no console output yet.
    """

    TYPE: ClassVar[str] = "ConsoleLogResult"
    name: str
    log: str
    size_bytes: int
    truncated: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """The outcome of a command: ``result`` when ok, ``error`` otherwise."""

    ok: bool
    result: "Result | None" = None
    error: ErrorInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandStatus:
    """The agent's view of one command, returned by POST and GET /commands."""

    id: str
    state: CommandState
    bytes_done: int = 0
    bytes_total: int | None = None
    answer: Answer | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HostReport:
    """What a host tells the server about itself."""

    hostname: str
    agent_version: str
    cpu_count: int
    cpu_mhz: int
    memory_bytes: int
    hypervisor_version: str
    kvm_available: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollRequest:
    """Server → agent: join as ``host_uuid``.

    The enrolment token is not in the body: it travels as ``Authorization: Bearer
    <token>`` so the agent checks it before reading the body.
    """

    host_uuid: str
    host_key: str
    # Where heartbeats go: the server's agent listener, https:// (mutual TLS).
    server_url: str
    # Issued by the server's CA for the public key of the agent's bootstrap certificate
    # (which the server pinned by the token's fingerprint), and that CA's certificate.
    certificate_pem: str = ""
    ca_pem: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolInventory:
    """What one pool directory holds, as one host lists it (see ``Heartbeat.pool_inventory``).

    ``files`` names the published files at the pool's top level (templates and volumes;
    never hidden names such as the partial directory), at most a bounded number of them:
    ``truncated`` says the list stopped early, and then a name missing from it proves
    nothing. ``stale_partials_removed`` counts this host's own temporary files of
    interrupted transfers that it removed from the pool when it started.
    ``capacity_bytes`` and ``available_bytes`` are the pool's file system figures as
    ``CheckPool`` reports them; None when the host could not read them.
    """

    uuid: str
    path: str
    files: list[str] = field(default_factory=list)
    truncated: bool = False
    stale_partials_removed: int = 0
    capacity_bytes: int | None = None
    available_bytes: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolHealth:
    """Whether one pool passed this host's check (``CheckPool``'s, bounded in time).

    ``problem`` is None when the check passed, else why it failed (server unreachable,
    mount hung, directory missing). ``access`` says how the host reaches the pool:
    ``directory``, ``mount`` or ``userspace`` (NetworkFilesystem pools), or ``rbd``.
    """

    uuid: str
    problem: str | None = None
    access: str = "directory"


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    """Agent → server: still alive (or shutting down), with a fresh report."""

    host_uuid: str
    report: HostReport
    shutting_down: bool = False
    # Every kvmcloud domain libvirt knows on this host, so the server can reconcile; None
    # when the agent could not ask libvirt (nothing can be concluded then).
    vm_states: dict[str, VmPowerState] | None = None
    # The direct-download certificates the host trusts: alias → SHA-256 fingerprint of the
    # certificate; None when the store could not be read.
    certificates: dict[str, str] | None = None
    # The pools this host was asked to use and found readable, with the files they hold:
    # sent in the first heartbeat after the agent starts, then every few minutes; empty
    # in the others (an empty list says nothing about any pool).
    pool_inventory: list[PoolInventory] = field(default_factory=list)
    # The pools this host was asked to use, checked since the last beat; empty when no
    # check ran (an empty list says nothing about any pool).
    pool_health: list[PoolHealth] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatReply:
    """Server → agent: when to send the next heartbeat."""

    interval_s: float


Command = (
    CheckUrlCommand
    | DirectDownloadCommand
    | CheckPoolCommand
    | CreateVolumeCommand
    | DeletePoolFileCommand
    | StartVmCommand
    | StopVmCommand
    | RebootVmCommand
    | DestroyVmCommand
    | AttachIsoCommand
    | ReadConsoleLogCommand
    | RemoveNetworkCommand
    | SetupCertificateCommand
    | RevokeCertificateCommand
    | RenewCertificateCommand
    | InstallCertificateCommand
)
Result = (
    CheckUrlResult
    | DirectDownloadResult
    | PoolReport
    | VolumeResult
    | PoolFileDeleted
    | VmStateResult
    | ConsoleLogResult
    | NetworkRemoved
    | CertificateResult
    | CertificateRequest
    | CertificateInstalled
)

COMMAND_TYPES: dict[str, type[Command]] = {
    cls.TYPE: cls
    for cls in (
        CheckUrlCommand,
        DirectDownloadCommand,
        CheckPoolCommand,
        CreateVolumeCommand,
        DeletePoolFileCommand,
        StartVmCommand,
        StopVmCommand,
        RebootVmCommand,
        DestroyVmCommand,
        AttachIsoCommand,
        ReadConsoleLogCommand,
        RemoveNetworkCommand,
        SetupCertificateCommand,
        RevokeCertificateCommand,
        RenewCertificateCommand,
        InstallCertificateCommand,
    )
}
RESULT_TYPES: dict[str, type[Result]] = {
    cls.TYPE: cls
    for cls in (
        CheckUrlResult,
        DirectDownloadResult,
        PoolReport,
        VolumeResult,
        PoolFileDeleted,
        VmStateResult,
        ConsoleLogResult,
        NetworkRemoved,
        CertificateResult,
        CertificateRequest,
        CertificateInstalled,
    )
}

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandEnvelope:
    """A command with the id the server chose for it."""

    id: str
    command: Command


def command_to_json(envelope: CommandEnvelope) -> str:
    """Serialise a command for ``POST /commands``."""
    return json.dumps(
        {
            "id": envelope.id,
            "type": envelope.command.TYPE,
            "payload": to_plain(envelope.command),
        }
    )


def command_from_json(text: str | bytes) -> CommandEnvelope:
    """Parse a ``POST /commands`` body; raises MessageFormatError."""
    data = _load_object(text)
    command_id, tag = data.get("id"), data.get("type")
    if not isinstance(command_id, str) or not command_id:
        raise MessageFormatError("command 'id' must be a non-empty string")
    cls = COMMAND_TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise MessageFormatError(f"unknown command type {tag!r}")
    return CommandEnvelope(id=command_id, command=from_plain(cls, data.get("payload", {})))


def to_json(message: object) -> str:
    """Serialise any message dataclass (not a command envelope) to JSON."""
    return json.dumps(to_plain(message))


def from_json(cls: type[T], text: str | bytes) -> T:
    """Parse JSON into ``cls``; raises MessageFormatError."""
    return from_plain(cls, _load_object(text))


def to_plain(value: object) -> Any:
    """Turn a message into JSON-able values; results carry their type tag."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        plain = {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        tag = getattr(type(value), "TYPE", None)
        if isinstance(tag, str) and type(value) in RESULT_TYPES.values():
            plain["type"] = tag
        return plain
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def from_plain(cls: type[T], data: object) -> T:
    """Build ``cls`` from JSON-able values, checking every field's type."""
    return typing.cast(T, _decode(cls, data, cls.__name__))


def _load_object(text: str | bytes) -> dict[str, Any]:
    # Bounded before parsing: the decoder recurses once per level (RecursionError).
    try:
        check_json_depth(text)
    except JsonTooDeepError as exc:
        raise MessageFormatError(f"message is not acceptable: {exc}") from exc
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageFormatError(f"message is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MessageFormatError("message must be a JSON object")
    return data


@functools.cache
def _shape(tp: type) -> tuple[dict[str, Any], tuple[dataclasses.Field[Any], ...]]:
    # Resolved once per message class (a bounded set): every heartbeat decodes a dozen.
    return typing.get_type_hints(tp), dataclasses.fields(tp)


def _decode(tp: Any, data: object, where: str) -> object:  # noqa: C901 - one branch per shape
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if data is None and type(None) in options:
            return None
        choices = [o for o in options if o is not type(None)]
        if len(choices) > 1:
            # A union of several messages (Result) is told apart by its "type" tag.
            return _decode_tagged(tuple(choices), data, where)
        return _decode(choices[0], data, where)
    if origin is list:
        (item_type,) = typing.get_args(tp)
        if not isinstance(data, list):
            raise MessageFormatError(f"{where} must be a list")
        return [_decode(item_type, v, f"{where}[{i}]") for i, v in enumerate(data)]
    if origin is dict:
        _, value_type = typing.get_args(tp)
        if not isinstance(data, Mapping):
            raise MessageFormatError(f"{where} must be an object")
        return {str(k): _decode(value_type, v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, Mapping):
            raise MessageFormatError(f"{where} must be an object")
        hints, fields = _shape(tp)
        kwargs: dict[str, object] = {}
        for f in fields:
            if f.name in data:
                kwargs[f.name] = _decode(hints[f.name], data[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise MessageFormatError(f"{where}.{f.name} is missing")
        return tp(**kwargs)
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        try:
            return tp(data if isinstance(data, str) else "")
        except ValueError:
            raise MessageFormatError(f"{where} has unknown value {data!r}") from None
    if tp is float and isinstance(data, int | float) and not isinstance(data, bool):
        return float(data)
    if tp is int and isinstance(data, int) and not isinstance(data, bool):
        return data
    if tp in (str, bool) and isinstance(data, tp):
        return data
    raise MessageFormatError(f"{where} must be of type {getattr(tp, '__name__', tp)}")


def _decode_tagged(options: tuple[Any, ...], data: object, where: str) -> object:
    if not isinstance(data, Mapping):
        raise MessageFormatError(f"{where} must be an object")
    tag = data.get("type")
    for option in options:
        if getattr(option, "TYPE", None) == tag:
            return _decode(option, data, where)
    raise MessageFormatError(f"{where} has unknown type {tag!r}")


M = typing.TypeVar("M")


def map_pool_specs(message: M, change: typing.Callable[[PoolSpec], PoolSpec]) -> M:
    """Return ``message`` with every PoolSpec in it (at any depth) replaced by ``change(spec)``.

    For the server's last step before sending: RBD pool keys stay sealed in every command
    it builds and logs, and are opened here, one call before the wire.
    """
    if isinstance(message, PoolSpec):
        return typing.cast(M, change(message))
    if dataclasses.is_dataclass(message) and not isinstance(message, type):
        changes = {}
        for f in dataclasses.fields(message):
            value = getattr(message, f.name)
            changed = map_pool_specs(value, change)
            if changed is not value:
                changes[f.name] = changed
        return dataclasses.replace(message, **changes) if changes else message
    if isinstance(message, list):
        items = [map_pool_specs(item, change) for item in message]
        if any(new is not old for new, old in zip(items, message, strict=True)):
            return typing.cast(M, items)
    return message
