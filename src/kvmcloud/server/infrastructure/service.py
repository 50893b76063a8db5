"""Zones, pods, clusters, hosts (heartbeats, states) and storage pools: create and query."""

import hmac
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.redaction import redact_url
from kvmcloud.server.agent_client import AgentClient, AgentEndpoint, error_from_answer
from kvmcloud.server.db import Database, new_uuid
from kvmcloud.server.errors import (
    AuthenticationError,
    InvalidParameterError,
    ResourceUnavailableError,
    shown,
)
from kvmcloud.server.infrastructure.host_states import (
    CANDIDATE_MARGIN,
    HostStatus,
    host_status,
    sweep_cutoffs,
)
from kvmcloud.server.infrastructure.models import (
    Cluster,
    Host,
    PhysicalNetwork,
    PhysicalNetworkTrafficType,
    Pod,
    PoolScope,
    PoolType,
    StoragePool,
    Zone,
)
from kvmcloud.server.infrastructure.pool_states import PoolFailures, status_after_checks
from kvmcloud.server.infrastructure.rbd_urls import DEFAULT_MON_PORT, parse_rbd_url
from kvmcloud.server.infrastructure.records import (
    ClusterRecord,
    PodRecord,
    PoolRecord,
    pool_records,
)
from kvmcloud.server.queries import get_by_uuid, get_by_uuid_if_given
from kvmcloud.server.sealing.box import (
    SecretBox,
    agent_key_context,
    agent_key_digest,
    pool_secret_context,
)

HYPERVISOR_KVM = "KVM"
# What every zone's one physical network carries: its guests' traffic and the hosts' own.
ZONE_TRAFFIC_TYPES = ("Guest", "Management")
CHECK_POOL_TIMEOUT_S = 30.0


# --- zones, pods, clusters -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneSpec:
    """What createZone asks for."""

    name: str
    network_type: str
    dns1: str | None = None
    dns2: str | None = None
    internal_dns1: str | None = None
    internal_dns2: str | None = None
    description: str | None = None
    guest_cidr: str | None = None
    local_storage_enabled: bool = False


def create_zone(db: Database, spec: ZoneSpec, clock: Callable[[], datetime]) -> Zone:
    """Create a zone with a unique name."""
    with db.transaction() as session:
        if session.scalar(select(Zone.id).where(Zone.name == spec.name)) is not None:
            raise InvalidParameterError("name", f"A zone with name {spec.name!r} already exists")
        zone = Zone(
            name=spec.name,
            description=spec.description,
            dns1=spec.dns1,
            dns2=spec.dns2,
            internal_dns1=spec.internal_dns1,
            internal_dns2=spec.internal_dns2,
            guest_network_cidr=spec.guest_cidr,
            networktype=spec.network_type,
            local_storage_enabled=spec.local_storage_enabled,
            created=clock(),
        )
        session.add(zone)
        session.flush()
        add_physical_network(session, zone, clock())
        return zone


def add_physical_network(session: Session, zone: Zone, now: datetime) -> PhysicalNetwork:
    """Give a new zone its physical network, carrying ZONE_TRAFFIC_TYPES (CloudStack's name)."""
    network = PhysicalNetwork(
        name=f"Physical Network {zone.id}", data_center_id=zone.id, state="Enabled", created=now
    )
    session.add(network)
    session.flush()
    for traffic_type in ZONE_TRAFFIC_TYPES:
        session.add(
            PhysicalNetworkTrafficType(physical_network_id=network.id, traffic_type=traffic_type)
        )
    return network


@dataclass(frozen=True, slots=True, kw_only=True)
class PodSpec:
    """What createPod asks for."""

    name: str
    zone_uuid: str
    gateway: str | None
    netmask: str | None
    start_ip: str | None
    end_ip: str | None


def create_pod(
    db: Database, spec: PodSpec, clock: Callable[[], datetime], *, command: str
) -> PodRecord:
    """Create a pod in a zone; names are unique within a zone."""
    with db.transaction() as session:
        zone = get_by_uuid(session, Zone, spec.zone_uuid, command=command, param="zoneid")
        clash = select(Pod.id).where(Pod.data_center_id == zone.id, Pod.name == spec.name)
        if session.scalar(clash) is not None:
            raise InvalidParameterError(
                "name", f"A pod with name {spec.name!r} already exists in zone {zone.name}"
            )
        pod = Pod(
            name=spec.name,
            data_center_id=zone.id,
            gateway=spec.gateway,
            netmask=spec.netmask,
            start_ip=spec.start_ip,
            end_ip=spec.end_ip,
            created=clock(),
        )
        session.add(pod)
        session.flush()
        return PodRecord(pod=pod, zone=zone)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSpec:
    """What addCluster asks for."""

    name: str
    zone_uuid: str
    pod_uuid: str
    hypervisor: str
    cluster_type: str


def add_cluster(
    db: Database, spec: ClusterSpec, clock: Callable[[], datetime], *, command: str
) -> ClusterRecord:
    """Add a cluster of KVM hosts to a pod of the zone."""
    with db.transaction() as session:
        zone = get_by_uuid(session, Zone, spec.zone_uuid, command=command, param="zoneid")
        pod = get_by_uuid(session, Pod, spec.pod_uuid, command=command, param="podid")
        if pod.data_center_id != zone.id:
            raise InvalidParameterError(
                "podid",
                f"Invalid parameter podid value={pod.uuid}: pod {pod.name} is not in zone "
                f"{zone.name}",
            )
        cluster = insert_cluster(
            session,
            pod,
            name=spec.name,
            hypervisor=spec.hypervisor,
            cluster_type=spec.cluster_type,
            now=clock(),
        )
        return ClusterRecord(cluster=cluster, zone=zone, pod=pod)


def insert_cluster(
    session: Session, pod: Pod, *, name: str, hypervisor: str, cluster_type: str, now: datetime
) -> Cluster:
    """Create a cluster of KVM hosts in ``pod``."""
    if hypervisor.upper() != HYPERVISOR_KVM:
        raise InvalidParameterError(
            "hypervisor", f"Hypervisor {hypervisor!r} is not supported; kvmcloud manages KVM only"
        )
    clash = select(Cluster.id).where(Cluster.pod_id == pod.id, Cluster.name == name)
    if session.scalar(clash) is not None:
        raise InvalidParameterError(
            "clustername",
            f"Invalid parameter clustername value={shown(name)}: a cluster of that name "
            f"already exists in pod {pod.name}",
        )
    cluster = Cluster(
        name=name,
        pod_id=pod.id,
        data_center_id=pod.data_center_id,
        hypervisor_type=HYPERVISOR_KVM,
        cluster_type=cluster_type,
        created=now,
    )
    session.add(cluster)
    session.flush()
    return cluster


# --- hosts ---------------------------------------------------------------------------------


def apply_report(host: Host, report: msg.HostReport) -> None:
    """Copy what the agent reported about its host onto the row."""
    for name, value in reported_values(host, report).items():
        setattr(host, name, value)


def reported_values(host: Host, report: msg.HostReport) -> dict[str, object]:
    """The host row's columns as the agent's report says they are."""
    return {
        "name": report.hostname or host.name,
        "hypervisor_version": report.hypervisor_version,
        "agent_version": report.agent_version,
        "cpus": report.cpu_count,
        "speed": report.cpu_mhz,
        "ram": report.memory_bytes,
        "kvm_available": report.kvm_available,
    }


# Built once: every heartbeat runs it, and building the expression costs more than the
# query on SQLite.
_LIVE_HOST_BY_UUID = select(Host).where(Host.uuid == bindparam("host_uuid"), Host.removed.is_(None))


def authenticate_agent(session: Session, host_uuid: str, presented_key: str) -> Host:
    """Return the live host ``host_uuid`` if ``presented_key`` is its agent key.

    The one place an agent's key is checked: every agent route calls it before reading
    a request body.

    Raises:
        AuthenticationError: unknown host, removed host, or a key that does not match.
    """
    host = session.scalars(_LIVE_HOST_BY_UUID, {"host_uuid": host_uuid}).first()
    if host is None or not _key_matches(host, presented_key):
        raise AuthenticationError()
    return host


def heartbeat_changes(host: Host, heartbeat: msg.Heartbeat) -> dict[str, object]:
    """The columns of ``host`` a heartbeat changes (state, versions, capacity): often none."""
    wanted = reported_values(host, heartbeat.report)
    wanted["status"] = HostStatus.DISCONNECTED if heartbeat.shutting_down else HostStatus.UP
    return {name: value for name, value in wanted.items() if getattr(host, name) != value}


def record_heartbeat(
    session: Session, host: Host, heartbeat: msg.Heartbeat, now: datetime
) -> dict[str, object]:
    """Write what a heartbeat changed about ``host`` (authenticated); return the changes.

    A heartbeat that changes nothing writes nothing here: its time goes to the batched
    ``last_seen.LastSeen``. A change is written with ``last_ping`` at once, so the state
    sweeper never sees a host back Up with an old heartbeat time. ``host`` (possibly
    detached) is updated in memory too, for the heartbeat's listeners.
    """
    changes = heartbeat_changes(host, heartbeat)
    if changes:
        session.execute(
            update(Host)
            .where(Host.id == host.id, Host.removed.is_(None))
            .values(**changes, last_ping=now)
            .execution_options(synchronize_session=False)
        )
        for name, value in {**changes, "last_ping": now}.items():
            setattr(host, name, value)
    return changes


def _key_matches(host: Host, presented_key: str) -> bool:
    # The key itself is sealed at rest: its SHA-256 digest is what can be compared.
    stored = host.agent_key_digest or ""
    return hmac.compare_digest(stored.encode(), agent_key_digest(presented_key).encode())


def update_host_states(
    session: Session, now: datetime, *, interval_s: float, timeout_factor: float
) -> list[tuple[str, HostStatus, HostStatus]]:
    """Recompute every host's state from its last heartbeat; return the changes.

    Only the hosts whose state may change are loaded (see ``sweep_cutoffs``): with
    every host beating in time the sweep reads no row. ``host_status`` decides on those.
    """
    up_before, disconnected_before = sweep_cutoffs(
        now, interval_s=interval_s, timeout_factor=timeout_factor
    )
    never = Host.last_ping.is_(None)
    may_change = or_(
        and_(Host.status == HostStatus.UP, or_(never, Host.last_ping < up_before)),
        and_(
            Host.status == HostStatus.DISCONNECTED,
            or_(never, Host.last_ping < disconnected_before),
        ),
        and_(
            Host.status == HostStatus.DOWN,
            Host.last_ping >= disconnected_before - 2 * CANDIDATE_MARGIN,
        ),
    )
    changes = []
    for host in session.scalars(select(Host).where(Host.removed.is_(None), may_change)):
        new = host_status(host.last_ping, now, interval_s=interval_s, timeout_factor=timeout_factor)
        # A host that announced its shutdown stays Disconnected until it heartbeats again.
        if host.status == HostStatus.DISCONNECTED and new == HostStatus.UP:
            continue
        if new != host.status:
            changes.append((host.name, HostStatus(host.status), new))
            host.status = new
    return changes


def record_pool_usage(
    session: Session, host: Host, inventories: Sequence[msg.PoolInventory]
) -> int:
    """Store the capacity a host reported for the pools it lists; return how many changed.

    Only pools the host reaches by their scope are taken: a host cannot speak for a pool
    of another cluster, even one at the same path.
    """
    reported = {i.uuid: i for i in inventories if i.capacity_bytes is not None}
    if not reported:
        return 0
    changed = 0
    pools = session.scalars(
        select(StoragePool).where(
            StoragePool.uuid.in_(list(reported)), StoragePool.removed.is_(None)
        )
    )
    for pool in pools:
        inventory = reported[pool.uuid]
        if not _host_reaches(host, pool) or inventory.available_bytes is None:
            continue
        assert inventory.capacity_bytes is not None  # filtered above
        usage = (inventory.capacity_bytes, inventory.available_bytes)
        if (pool.capacity_bytes, pool.available_bytes) != usage:
            pool.capacity_bytes, pool.available_bytes = usage
            changed += 1
    return changed


def record_pool_health(
    session: Session,
    host: Host,
    checks: Sequence[msg.PoolHealth],
    failures: PoolFailures,
    now: datetime,
) -> list[tuple[str, str, str]]:
    """Take a host's pool checks: a failing pool goes Down, a passing one back Up.

    Only pools the host reaches by their scope count. A pool is Down while any host of
    its scope failed its last check (within ``FAILURE_MEMORY_S``). Returns (pool name,
    new status, why) for each pool whose status changed.
    """
    by_uuid = {c.uuid: c for c in checks}
    if not by_uuid:
        return []
    changes = []
    pools = session.scalars(
        select(StoragePool).where(
            StoragePool.uuid.in_(list(by_uuid)), StoragePool.removed.is_(None)
        )
    )
    for pool in pools:
        if not _host_reaches(host, pool):
            continue
        check = by_uuid[pool.uuid]
        failures.record(pool.uuid, host.id, check.problem, now)
        failing = failures.failing(pool.uuid, now)
        new = status_after_checks(pool.status, failing=bool(failing))
        if new != pool.status:
            why = "; ".join(failing.values()) or f"host {host.name} reaches it again"
            pool.status = new
            changes.append((pool.name, new, why))
    return changes


def _host_reaches(host: Host, pool: StoragePool) -> bool:
    if pool.data_center_id != host.data_center_id:
        return False
    if pool.scope == PoolScope.HOST:
        return pool.host_id == host.id
    if pool.scope == PoolScope.CLUSTER:
        return pool.cluster_id == host.cluster_id
    return True


def zone_id_by_uuid(session: Session, uuid: str, command: str) -> int:
    """Return a live zone's id, or raise 431 naming ``zoneid`` (the Hooks.find_zone)."""
    return get_by_uuid(session, Zone, uuid, command=command, param="zoneid").id


def endpoint_for(host: Host) -> AgentEndpoint:
    """Return how to reach the agent of ``host``."""
    return AgentEndpoint(
        url=host.url,
        key=host.agent_key,
        name=host.name,
        key_context=agent_key_context(host.uuid),
    )


def up_hosts_in_zone(session: Session, zone_id: int) -> list[Host]:
    """Return the zone's Up KVM hosts."""
    return list(
        session.scalars(
            select(Host)
            .where(
                Host.data_center_id == zone_id,
                Host.status == HostStatus.UP,
                Host.removed.is_(None),
                Host.hypervisor_type == HYPERVISOR_KVM,
                Host.resource_state == "Enabled",
            )
            .order_by(Host.id)
        )
    )


def hosts_reaching_pool(session: Session, pool: StoragePool) -> list[Host]:
    """Return the Up hosts that can reach ``pool``, by the pool's scope."""
    hosts = up_hosts_in_zone(session, pool.data_center_id)
    if pool.scope == PoolScope.HOST:
        return [h for h in hosts if h.id == pool.host_id]
    if pool.scope == PoolScope.CLUSTER:
        return [h for h in hosts if h.cluster_id == pool.cluster_id]
    return hosts


# --- storage pools ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """A validated createStoragePool request and the hosts that must confirm the path."""

    name: str
    pool_type: PoolType
    scope: PoolScope
    path: str
    host_address: str
    zone_id: int
    pod_id: int | None
    cluster_id: int | None
    host_id: int | None
    tags: str | None
    uuid: str
    check_hosts: Sequence[AgentEndpoint]
    # RBD: the monitors' port, the cephx user and its key sealed for the pool's uuid.
    port: int | None = None
    user_info: str | None = None
    secret: str | None = field(default=None, repr=False)


_SCHEMES = {
    "sharedmountpoint": PoolType.SHARED_MOUNT_POINT,
    "filesystem": PoolType.FILESYSTEM,
    "file": PoolType.FILESYSTEM,
    "nfs": PoolType.NETWORK_FILESYSTEM,
    "rbd": PoolType.RBD,
}
_NFS_PORT = 2049
# As for nfs:// template sources (agent/downloads/nfs_urls.py): a DNS name or an IPv4
# address, and path segments without shell, URL or libnfs option characters.
_DNS_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_NFS_PATH = re.compile(r"(?:/[A-Za-z0-9._~+=,@-]{1,255})+/?")


def parse_pool_url(url: str) -> tuple[PoolType, str, str]:
    """Parse a createStoragePool url into the pool type, path and host.

    Takes ``SharedMountPoint://localhost/path``, ``Filesystem:///path``, ``file:///path``
    or ``nfs://server/export`` (the path is then the export, the host the NFS server),
    or ``rbd://user:key@monitor/pool`` (the path is the Ceph pool, the host the monitors).
    Error texts show the URL with any credentials masked.
    """
    shown = redact_url(url)
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise InvalidParameterError("url", f"Storage url {shown!r} is malformed") from None
    pool_type = _SCHEMES.get(parts.scheme.lower())
    if pool_type is None:
        raise InvalidParameterError(
            "url",
            f"Storage url {shown!r} is not supported: use nfs://<server>/<export>, "
            "rbd://<user>:<key>@<monitor>/<pool>, SharedMountPoint://localhost/<path> or "
            "Filesystem://localhost/<path>",
        )
    if pool_type == PoolType.NETWORK_FILESYSTEM:
        return pool_type, *_parse_nfs(url)
    if pool_type == PoolType.RBD:
        rbd = parse_rbd_url(url)
        return pool_type, rbd.pool, ",".join(rbd.monitors)
    path = parts.path
    if not path.startswith("/") or "\x00" in path or "/../" in f"{path}/":
        raise InvalidParameterError("url", f"Storage url {shown!r} must carry an absolute path")
    return pool_type, path.rstrip("/") or "/", parts.hostname or "localhost"


def _parse_nfs(url: str) -> tuple[str, str]:
    """Return the export path and server of ``nfs://server/export`` (CloudStack's parsing).

    Only the URL's host and path count, as in CloudStack; anything libnfs or a shell could
    read as an option (query, user, odd characters, ``..``) is refused, and the port, found
    through rpcbind by libnfs and QEMU, may only be the standard 2049.
    """
    shown = redact_url(url)
    usage = (
        f"Storage url {shown!r} is not usable: host or path is null, should be nfs://hostname/path"
    )
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        raise InvalidParameterError("url", f"Storage url {shown!r} has an invalid port") from None
    host = parts.hostname or ""
    if not host or not parts.path or parts.path == "/":
        raise InvalidParameterError("url", usage)
    if parts.username is not None or parts.query or parts.fragment or "?" in url or "#" in url:
        raise InvalidParameterError(
            "url",
            f"Storage url {shown!r} must be nfs://hostname/path, without user, query or fragment",
        )
    if not (_is_ipv4(host) or (_DNS_NAME.fullmatch(host) and not host.replace(".", "").isdigit())):
        raise InvalidParameterError(
            "url",
            f"Storage url {shown!r} names no valid NFS server: give a DNS name or IPv4 address",
        )
    if port is not None and port != _NFS_PORT:
        raise InvalidParameterError(
            "url",
            f"Storage url {shown!r} gives port {port}: kvmcloud finds the NFS server's ports "
            "through rpcbind, as QEMU does, so only the standard port 2049 may be written",
        )
    path = parts.path
    if not _NFS_PATH.fullmatch(path) or any(s in (".", "..") for s in path.split("/")):
        raise InvalidParameterError(
            "url",
            f"Storage url {shown!r} must carry an absolute export path of segments made of "
            "A-Z a-z 0-9 . _ ~ + = , @ -",
        )
    return path.rstrip("/"), host.lower()


def _is_ipv4(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv4Address)
    except ValueError:
        return False


def plan_pool(
    session: Session,
    *,
    zone: Zone,
    pod: Pod | None,
    cluster: Cluster | None,
    host: Host | None,
    name: str,
    url: str,
    scope: str | None,
    tags: str | None,
    new_uuid: str,
) -> PoolPlan:
    """Validate createStoragePool and work out the pool's scope and the hosts to check on."""
    pool_type, path, address = parse_pool_url(url)
    rbd = parse_rbd_url(url) if pool_type == PoolType.RBD else None
    if pool_type == PoolType.FILESYSTEM:
        if host is None:
            raise InvalidParameterError("hostid", "A Filesystem (host-local) pool needs hostid")
        pool_scope = PoolScope.HOST
    elif (scope or "").upper() == PoolScope.ZONE:
        pool_scope = PoolScope.ZONE
    else:
        if cluster is None:
            raise InvalidParameterError(
                "clusterid",
                f"A cluster-wide {pool_type.value} pool needs clusterid (or scope=zone)",
            )
        pool_scope = PoolScope.CLUSTER
    for owner, param in ((pod, "podid"), (cluster, "clusterid"), (host, "hostid")):
        if owner is not None and owner.data_center_id != zone.id:
            raise InvalidParameterError(param, f"{param} does not belong to zone {zone.name}")
    if pool_scope == PoolScope.HOST and host is not None:
        pod_id, cluster_id = host.pod_id, host.cluster_id
    elif pool_scope == PoolScope.CLUSTER and cluster is not None:
        pod_id, cluster_id = cluster.pod_id, cluster.id
    else:
        pod_id, cluster_id = None, None
    clash = select(StoragePool.id).where(
        StoragePool.data_center_id == zone.id,
        StoragePool.name == name,
        StoragePool.removed.is_(None),
    )
    if session.scalar(clash) is not None:
        raise InvalidParameterError(
            "name", f"A storage pool named {name!r} already exists in zone {zone.name}"
        )
    probe = StoragePool(
        data_center_id=zone.id,
        scope=pool_scope,
        cluster_id=cluster_id,
        host_id=host.id if host is not None and pool_scope == PoolScope.HOST else None,
    )
    hosts = hosts_reaching_pool(session, probe)
    if not hosts:
        raise ResourceUnavailableError(
            f"No Up KVM host can reach the new pool {name!r} ({pool_scope.value.lower()} scope) "
            f"to check its path {path}"
        )
    return PoolPlan(
        name=name,
        pool_type=pool_type,
        scope=pool_scope,
        path=path,
        host_address=address,
        zone_id=zone.id,
        pod_id=pod_id,
        cluster_id=cluster_id,
        host_id=probe.host_id,
        tags=tags,
        uuid=new_uuid,
        check_hosts=[endpoint_for(h) for h in hosts],
        port=rbd.port if rbd is not None else None,
        user_info=rbd.user if rbd is not None else None,
        secret=rbd.secret if rbd is not None else None,
    )


def pool_spec(pool: StoragePool | PoolPlan) -> msg.PoolSpec:
    """Describe a pool to an agent.

    An RBD pool's key goes in sealed, as stored: the AgentClient the composition root
    wraps around the transport (``KeyOpeningAgentClient``) opens it just before sending,
    so commands built, queued and logged here never hold it in clear.
    """
    pool_type = pool.pool_type
    if pool_type == PoolType.RBD:
        port = pool.port or DEFAULT_MON_PORT
        return msg.PoolSpec(
            uuid=pool.uuid,
            type=msg.PoolType.RBD,
            path=pool.path,
            server=",".join(f"{host}:{port}" for host in pool.host_address.split(",")),
            user=pool.user_info,
            secret=pool.secret,
        )
    server = pool.host_address if pool_type == PoolType.NETWORK_FILESYSTEM else None
    return msg.PoolSpec(
        uuid=pool.uuid, type=msg.PoolType(pool_type.value), path=pool.path, server=server
    )


def record_pool(
    session: Session, plan: PoolPlan, report: msg.PoolReport, now: datetime
) -> StoragePool:
    """Store a pool whose path the hosts confirmed."""
    pool = StoragePool(
        uuid=plan.uuid,
        name=plan.name,
        pool_type=plan.pool_type,
        scope=plan.scope,
        path=plan.path,
        host_address=plan.host_address,
        data_center_id=plan.zone_id,
        pod_id=plan.pod_id,
        cluster_id=plan.cluster_id,
        host_id=plan.host_id,
        tags=plan.tags,
        port=plan.port,
        user_info=plan.user_info,
        secret=plan.secret,
        capacity_bytes=report.capacity_bytes,
        available_bytes=report.available_bytes,
        created=now,
    )
    session.add(pool)
    session.flush()
    return pool


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolRequest:
    """What createStoragePool asks for (uuids as given)."""

    name: str
    url: str
    zone_uuid: str
    pod_uuid: str | None
    cluster_uuid: str | None
    host_uuid: str | None
    scope: str | None
    tags: str | None


def create_storage_pool(
    db: Database,
    agents: AgentClient,
    request: PoolRequest,
    clock: Callable[[], datetime],
    *,
    command: str,
    box: SecretBox,
) -> PoolRecord:
    """Create a pool after every Up host of its scope confirms it can use it.

    An RBD pool's key is sealed at once (``box``), before the check goes to the hosts.
    """
    with db.transaction() as session:
        plan = _plan_pool_request(session, request, command)
    if plan.secret is not None:
        plan = replace(plan, secret=box.seal(plan.secret, pool_secret_context(plan.uuid)))
    # No transaction is open while the agents work.
    report: msg.PoolReport | None = None
    check = msg.CheckPoolCommand(pool=pool_spec(plan))
    for endpoint in plan.check_hosts:
        answer = agents.call(endpoint, check, timeout_s=CHECK_POOL_TIMEOUT_S)
        if not answer.ok or not isinstance(answer.result, msg.PoolReport):
            raise error_from_answer(
                answer, f"Pool path {plan.path} is not usable on host {endpoint.name}"
            )
        report = answer.result
    assert report is not None  # plan_pool guarantees at least one host
    with db.transaction() as session:
        pool = record_pool(session, plan, report, clock())
        return pool_records(session, [pool])[0]


def _plan_pool_request(session: Session, request: PoolRequest, command: str) -> PoolPlan:
    zone = get_by_uuid(session, Zone, request.zone_uuid, command=command, param="zoneid")
    get = get_by_uuid_if_given
    pod = get(session, Pod, request.pod_uuid, command=command, param="podid")
    cluster = get(session, Cluster, request.cluster_uuid, command=command, param="clusterid")
    host = get(session, Host, request.host_uuid, command=command, param="hostid")
    return plan_pool(
        session,
        zone=zone,
        pod=pod,
        cluster=cluster,
        host=host,
        name=request.name,
        url=request.url,
        scope=request.scope,
        tags=request.tags,
        new_uuid=new_uuid(),
    )
