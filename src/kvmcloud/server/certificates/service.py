"""Certificates: upload, revoke, provision and sync as use cases; store, plan, record, reconcile.

Every operation is plan (short transaction) → ``push_all`` (no transaction; see pushes.py)
→ ``record`` (short transaction). A mapping row says UPLOADED only when the agent answered
ok; failures are FAILED with the reason.
"""

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kvmcloud.server.agent_client import AgentClient
from kvmcloud.server.certificates.models import (
    CertificateHostMap,
    CertificateHostStatus,
    DirectDownloadCertificate,
)
from kvmcloud.server.certificates.parsing import (
    HYPERVISOR_KVM,
    ParsedCertificate,
    fingerprint_of,
    normalise_fingerprint,
    parse_certificate,
)
from kvmcloud.server.certificates.pushes import (
    STILL_HELD,
    Action,
    Outcome,
    Push,
    plan_push,
    push_all,
)
from kvmcloud.server.certificates.records import CertificateRecord, HostState, host_mappings
from kvmcloud.server.db import Database, insert_unless_present
from kvmcloud.server.errors import InvalidParameterError, OperationFailedError
from kvmcloud.server.infrastructure.heartbeats import HostSeen
from kvmcloud.server.infrastructure.host_states import HostStatus
from kvmcloud.server.infrastructure.models import Host, Zone
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.models import AsyncJob, JobStatus
from kvmcloud.server.queries import get_by_uuid

logger = logging.getLogger(__name__)

CERTIFICATE_SYNC_JOB = "certificate_sync"
SYNC_HOST_CMD = "org.apache.cloudstack.direct.download.DirectDownloadManager.syncCertificatesToHost"
SYNC_ALL_CMD = (
    "org.apache.cloudstack.direct.download.DirectDownloadManagerImpl"
    ".DirectDownloadCertificateUploadBackgroundTask"
)
NOT_HELD = "host no longer holds it"


# --- certificates --------------------------------------------------------------------------


def find_by_alias(session: Session, zone_id: int, alias: str) -> DirectDownloadCertificate | None:
    """Return the zone's KVM certificate stored under ``alias``, if any."""
    return session.scalars(
        select(DirectDownloadCertificate).where(
            DirectDownloadCertificate.zone_id == zone_id,
            DirectDownloadCertificate.alias == alias,
            DirectDownloadCertificate.hypervisor_type == HYPERVISOR_KVM,
        )
    ).first()


def _duplicate(alias: str, zone: Zone) -> OperationFailedError:
    # CloudStack's uploadCertificateToHosts text (a CloudRuntimeException: 530).
    return OperationFailedError(
        f"Certificate alias {alias} has been already created in zone {zone.name}; "
        "to rotate it, upload the new certificate under another alias, then revoke this one",
    )


def create_certificate(
    session: Session, zone: Zone, alias: str, parsed: ParsedCertificate, now: datetime
) -> DirectDownloadCertificate:
    """Store a certificate for the zone's KVM hosts; the alias is unique in the zone.

    Raises:
        OperationFailedError: the alias is taken in this zone (530, as CloudStack).
    """
    if find_by_alias(session, zone.id, alias) is not None:
        raise _duplicate(alias, zone)
    certificate = DirectDownloadCertificate(
        alias=alias,
        certificate=parsed.pem,
        hypervisor_type=HYPERVISOR_KVM,
        zone_id=zone.id,
        subject=parsed.subject,
        issuer=parsed.issuer,
        serial=parsed.serial,
        version=parsed.version,
        not_before=parsed.not_before,
        not_after=parsed.not_after,
        fingerprint=parsed.fingerprint,
        created=now,
    )
    session.add(certificate)
    try:
        # Two uploads racing for the alias: the unique constraint settles it.
        session.flush()
    except IntegrityError:
        raise _duplicate(alias, zone) from None
    return certificate


def mapping(session: Session, certificate_id: int, host_id: int) -> CertificateHostMap | None:
    """Return the row of one certificate on one host."""
    return session.scalars(
        select(CertificateHostMap).where(
            CertificateHostMap.certificate_id == certificate_id,
            CertificateHostMap.host_id == host_id,
        )
    ).first()


def zone_has_certificates(session: Session, zone_id: int) -> bool:
    """Whether any certificate belongs to the zone."""
    return bool(
        session.scalar(select(exists().where(DirectDownloadCertificate.zone_id == zone_id)))
    )


# --- planning ------------------------------------------------------------------------------


def zone_hosts(session: Session, zone_id: int) -> list[Host]:
    """Every live KVM host of the zone, whatever its state."""
    return list(
        session.scalars(
            select(Host)
            .where(
                Host.data_center_id == zone_id,
                Host.removed.is_(None),
                Host.hypervisor_type == HYPERVISOR_KVM,
            )
            .order_by(Host.id)
        )
    )


def plan_zone_upload(session: Session, certificate: DirectDownloadCertificate) -> list[Push]:
    """Plan pushing a new certificate to every KVM host of its zone."""
    return [plan_push(certificate, host) for host in zone_hosts(session, certificate.zone_id)]


def plan_revoke(
    session: Session, certificate: DirectDownloadCertificate, host: Host | None
) -> list[Push]:
    """Plan revoking on one host, or on every host where it is not already revoked.

    Raises:
        InvalidParameterError: ``host`` has no row for this certificate.
    """
    if host is not None:
        row = mapping(session, certificate.id, host.id)
        if row is None:
            raise InvalidParameterError(
                "hostid",
                f"Invalid parameter hostid value={host.uuid}: certificate {certificate.alias} "
                f"cannot be revoked from host {host.name}: it is not available on the host",
            )
        rows = [(row, host)]
    else:
        rows = host_mappings(session, [certificate.id])
    return [
        plan_push(certificate, h, Action.REVOKE)
        for row, h in rows
        if not (row.revoked and row.status == CertificateHostStatus.REVOKED)
    ]


def plan_sync(session: Session, host_id: int | None = None) -> list[Push]:
    """Plan what Up hosts (one, or all) miss: certificates they lack or whose push FAILED.

    A certificate revoked on a host is not pushed again (provision does that); a revoke
    that FAILED is tried again. A certificate revoked on every host that had it (a zone-wide
    revoke) is retired: hosts added later do not get it either.
    """
    query = select(Host).where(
        Host.removed.is_(None),
        Host.status == HostStatus.UP,
        Host.resource_state == "Enabled",
        Host.hypervisor_type == HYPERVISOR_KVM,
    )
    if host_id is not None:
        query = query.where(Host.id == host_id)
    hosts = list(session.scalars(query.order_by(Host.id)))
    certificates: dict[int, list[DirectDownloadCertificate]] = {}
    for zone_id in {h.data_center_id for h in hosts}:
        certificates[zone_id] = list(
            session.scalars(
                select(DirectDownloadCertificate)
                .where(DirectDownloadCertificate.zone_id == zone_id)
                .order_by(DirectDownloadCertificate.id)
            )
        )
    retired = _retired_certificates(session, [c.id for cs in certificates.values() for c in cs])
    pushes = []
    for host in hosts:
        rows = {
            row.certificate_id: row
            for row in session.scalars(
                select(CertificateHostMap).where(CertificateHostMap.host_id == host.id)
            )
        }
        for certificate in certificates[host.data_center_id]:
            row = rows.get(certificate.id)
            if row is None and certificate.id in retired:
                continue
            if row is None or (row.status == CertificateHostStatus.FAILED and not row.revoked):
                pushes.append(plan_push(certificate, host))
            elif row.status == CertificateHostStatus.FAILED and row.revoked:
                pushes.append(plan_push(certificate, host, Action.REVOKE))
    return pushes


def _retired_certificates(session: Session, certificate_ids: list[int]) -> set[int]:
    """Certificates that have host rows and every one of them is revoked."""
    if not certificate_ids:
        return set()
    rows = session.execute(
        select(CertificateHostMap.certificate_id, CertificateHostMap.revoked).where(
            CertificateHostMap.certificate_id.in_(certificate_ids)
        )
    ).all()
    seen: dict[int, bool] = {}
    for certificate_id, revoked in rows:
        seen[certificate_id] = seen.get(certificate_id, True) and bool(revoked)
    return {certificate_id for certificate_id, all_revoked in seen.items() if all_revoked}


# --- recording -----------------------------------------------------------------------------


def _ensure_mapping(
    session: Session, certificate_id: int, host_id: int, now: datetime
) -> CertificateHostMap:
    # Insert-or-keep: an upload and a sync may record the same (certificate, host) at once.
    values = {
        "certificate_id": certificate_id,
        "host_id": host_id,
        "status": CertificateHostStatus.FAILED,
        "revoked": False,
        "details": "not pushed yet",
        "updated": now,
    }
    insert_unless_present(session, CertificateHostMap, values, ["certificate_id", "host_id"])
    row = mapping(session, certificate_id, host_id)
    assert row is not None
    return row


def record(session: Session, outcomes: Iterable[Outcome], now: datetime) -> None:
    """Write each outcome on its mapping row: the real status, and why when it FAILED."""
    for outcome in outcomes:
        push = outcome.push
        # The certificate or host may be gone (zone deleted) while the agents worked.
        if session.get(DirectDownloadCertificate, push.certificate_id) is None:
            continue
        if session.get(Host, push.host_id) is None:
            continue
        row = mapping(session, push.certificate_id, push.host_id) or _ensure_mapping(
            session, push.certificate_id, push.host_id, now
        )
        row.status = outcome.status
        row.revoked = push.action is Action.REVOKE
        row.details = outcome.details[:1024] if outcome.details else None
        row.updated = now
        if outcome.status is CertificateHostStatus.FAILED:
            logger.warning(
                "certificate %s: %s on host %s failed: %s",
                push.alias,
                push.action,
                push.host_name,
                outcome.details,
            )


# --- sync triggers and reconciliation ------------------------------------------------------


def queue_host_sync(session: Session, host: Host, now: datetime) -> bool:
    """Queue pushing the zone's certificates to a host that (re)connected, if there are any."""
    if not zone_has_certificates(session, host.data_center_id):
        return False
    queue.enqueue(
        session,
        kind=CERTIFICATE_SYNC_JOB,
        cmd=SYNC_HOST_CMD,
        payload={"host_id": host.id},
        now=now,
        instance_type="Host",
        instance_uuid=host.uuid,
    )
    return True


def queue_sync_all(session: Session, now: datetime) -> bool:
    """Queue one sync of every Up host unless one is pending (the periodic task)."""
    pending = select(AsyncJob.id).where(
        AsyncJob.kind == CERTIFICATE_SYNC_JOB,
        AsyncJob.job_cmd == SYNC_ALL_CMD,
        AsyncJob.job_status == JobStatus.PENDING,
    )
    if session.scalar(pending) is not None:
        return False
    queue.enqueue(session, kind=CERTIFICATE_SYNC_JOB, cmd=SYNC_ALL_CMD, payload={}, now=now)
    return True


def queue_new_host_sync(session: Session, host_id: int, now: datetime) -> bool:
    """Queue pushing the zone's certificates to a host addHost just recorded, if any."""
    host = session.get(Host, host_id)
    assert host is not None
    return queue_host_sync(session, host, now)


# Without news from a host (the same set of certificates reported), its rows are still
# checked this often: rows a push changed while the host's set stayed the same are
# corrected within this bound.
CERTIFICATE_RECHECK_S = 300.0


class CertificateChecks:
    """The certificates' heartbeat listener, which compares rows only when there is news.

    A host's rows are reconciled with what it holds when its reported set changes, once
    more when the grace after that has passed (rows pushed just before were skipped),
    and otherwise every ``CERTIFICATE_RECHECK_S``: an unchanged heartbeat reads nothing.
    What was checked is remembered per server, in memory: after a restart, or on another
    server, the first heartbeat of each host is checked.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # host id → (the set last reconciled, when it is checked again anyway)
        self._checked: dict[int, tuple[frozenset[tuple[str, str]], datetime]] = {}

    def after_heartbeat(self, session: Session, seen: HostSeen) -> None:
        """Queue a sync for a host back Up; reconcile its rows if its report is news.

        Rows changed within two heartbeat intervals are left alone: the heartbeat may
        predate the push.
        """
        host = seen.host
        if seen.previous in (HostStatus.DISCONNECTED, HostStatus.DOWN) and (
            host.status == HostStatus.UP
        ):
            queue_host_sync(session, host, seen.now)
        if seen.beat.certificates is None:
            return
        reported = frozenset(seen.beat.certificates.items())
        grace_s = 2 * seen.interval_s
        with self._lock:
            checked = self._checked.get(host.id)
        changed = checked is None or checked[0] != reported
        if not changed and checked is not None and seen.now < checked[1]:
            return
        reconcile(session, host, seen.beat.certificates, seen.now, grace_s=grace_s)
        again_s = grace_s if changed else max(grace_s, CERTIFICATE_RECHECK_S)
        with self._lock:
            self._checked[host.id] = (reported, seen.now + timedelta(seconds=again_s))


def reconcile(
    session: Session, host: Host, held: Mapping[str, str], now: datetime, *, grace_s: float
) -> list[tuple[str, CertificateHostStatus, CertificateHostStatus]]:
    """Correct rows that disagree with the certificates the host reports (alias → sha256).

    UPLOADED but missing (or another certificate) → FAILED, so the next sync pushes it
    again; FAILED but held → UPLOADED; revoked but still held → FAILED, so the sync revokes
    it again. Rows changed within ``grace_s`` are left alone: the heartbeat may predate the
    push. Returns the changes (alias, old, new).
    """
    fingerprints = {alias: normalise_fingerprint(fp) for alias, fp in held.items()}
    settled_before = now - timedelta(seconds=grace_s)
    rows = session.execute(
        select(CertificateHostMap, DirectDownloadCertificate)
        .join(
            DirectDownloadCertificate,
            DirectDownloadCertificate.id == CertificateHostMap.certificate_id,
        )
        .where(CertificateHostMap.host_id == host.id, CertificateHostMap.updated <= settled_before)
    )
    changes = []
    for row, certificate in rows:
        holds = fingerprints.get(certificate.alias) == certificate.fingerprint
        new, details = row.status, row.details
        if row.revoked:
            if row.status == CertificateHostStatus.REVOKED and certificate.alias in fingerprints:
                new, details = CertificateHostStatus.FAILED, STILL_HELD
        elif row.status == CertificateHostStatus.UPLOADED and not holds:
            new, details = CertificateHostStatus.FAILED, NOT_HELD
        elif row.status == CertificateHostStatus.FAILED and holds:
            new, details = CertificateHostStatus.UPLOADED, None
        if new != row.status:
            changes.append((certificate.alias, row.status, new))
            logger.warning(
                "certificate %s on host %s: %s -> %s (%s)",
                certificate.alias,
                host.name,
                row.status,
                new,
                details or "the host holds it",
            )
            row.status, row.details, row.updated = new, details, now
    return changes


# --- use cases: plan, push with no transaction open, record ---------------------------------


def _push_and_record(
    db: Database, agents: AgentClient, clock: Callable[[], datetime], pushes: Sequence[Push]
) -> list[Outcome]:
    outcomes = push_all(agents, pushes)
    with db.transaction() as session:
        record(session, outcomes, clock())
    return outcomes


def _host_states(outcomes: Iterable[Outcome]) -> list[HostState]:
    return [HostState(o.push.host_uuid, o.push.host_name, o.status, o.details) for o in outcomes]


def _zone_of(session: Session, certificate: DirectDownloadCertificate) -> Zone:
    zone = session.get(Zone, certificate.zone_id)
    assert zone is not None
    return zone


def _kvm_host_in_zone(host: Host, zone: Zone) -> Host:
    if host.hypervisor_type != HYPERVISOR_KVM:
        raise InvalidParameterError(
            "hostid", f"Invalid parameter hostid value={host.uuid}: {host.name} is not a KVM host"
        )
    if host.data_center_id != zone.id:
        raise InvalidParameterError(
            "hostid",
            f"Invalid parameter hostid value={host.uuid}: host {host.name} is not in zone "
            f"{zone.name} of the certificate",
        )
    return host


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadRequest:
    """What an upload asks for: the certificate text, its alias, its zone, maybe one host."""

    certificate: str
    alias: str
    zone_uuid: str
    host_uuid: str | None


def upload_certificate(
    db: Database,
    agents: AgentClient,
    clock: Callable[[], datetime],
    request: UploadRequest,
    *,
    command: str,
) -> CertificateRecord:
    """Store a certificate for a zone and push it to its hosts (or push it to one host).

    Returns the certificate with each host's outcome.
    """
    if request.host_uuid is not None:
        return _upload_to_host(db, agents, clock, request, request.host_uuid, command=command)
    parsed = parse_certificate(request.certificate, clock())
    with db.transaction() as session:
        zone = get_by_uuid(session, Zone, request.zone_uuid, command=command, param="zoneid")
        certificate = create_certificate(session, zone, request.alias, parsed, clock())
        pushes = plan_zone_upload(session, certificate)
    outcomes = _push_and_record(db, agents, clock, pushes)
    return CertificateRecord(certificate=certificate, zone=zone, hosts=_host_states(outcomes))


def _upload_to_host(
    db: Database,
    agents: AgentClient,
    clock: Callable[[], datetime],
    request: UploadRequest,
    host_uuid: str,
    *,
    command: str,
) -> CertificateRecord:
    supplied = fingerprint_of(request.certificate)
    alias = request.alias
    with db.transaction() as session:
        zone = get_by_uuid(session, Zone, request.zone_uuid, command=command, param="zoneid")
        host = get_by_uuid(session, Host, host_uuid, command=command, param="hostid")
        _kvm_host_in_zone(host, zone)
        certificate = find_by_alias(session, zone.id, alias)
        if certificate is None:
            raise InvalidParameterError(
                "name",
                f"Unable to upload certificate: there is no certificate {alias} in zone "
                f"{zone.name}; upload it to the zone first (without hostid)",
            )
        if supplied != certificate.fingerprint:
            raise InvalidParameterError(
                "certificate",
                f"Invalid parameter certificate: it differs from the certificate stored as "
                f"{alias} in zone {zone.name}; to rotate, upload the new one under a new alias "
                "and revoke the old one",
            )
        pushes = [plan_push(certificate, host)]
    outcomes = _push_and_record(db, agents, clock, pushes)
    return CertificateRecord(certificate=certificate, zone=zone, hosts=_host_states(outcomes))


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeRequest:
    """Which certificate to revoke (by uuid, or by alias and hypervisor) and maybe where."""

    zone_uuid: str
    certificate_uuid: str | None
    alias: str | None
    hypervisor: str | None
    host_uuid: str | None


def revoke_certificate(
    db: Database,
    agents: AgentClient,
    clock: Callable[[], datetime],
    request: RevokeRequest,
    *,
    command: str,
) -> list[HostState]:
    """Revoke a certificate on one host or every host it is on; return each host's outcome."""
    with db.transaction() as session:
        zone = get_by_uuid(session, Zone, request.zone_uuid, command=command, param="zoneid")
        certificate = _certificate_to_revoke(session, request, zone, command)
        host = None
        if request.host_uuid is not None:
            host = get_by_uuid(session, Host, request.host_uuid, command=command, param="hostid")
        pushes = plan_revoke(session, certificate, host)
    return _host_states(_push_and_record(db, agents, clock, pushes))


def _certificate_to_revoke(
    session: Session, request: RevokeRequest, zone: Zone, command: str
) -> DirectDownloadCertificate:
    if request.certificate_uuid is not None:
        certificate = get_by_uuid(
            session,
            DirectDownloadCertificate,
            request.certificate_uuid,
            command=command,
            param="id",
        )
        if certificate.zone_id != zone.id:
            home = _zone_of(session, certificate)
            raise InvalidParameterError(
                "zoneid",
                f"Certificate {certificate.alias} belongs to zone {home.name}, "
                f"not to zone {zone.name} given as zoneid",
            )
        return certificate
    if not request.alias or not request.hypervisor:
        raise InvalidParameterError("id", "Give the certificate's id, or its name and hypervisor")
    found = find_by_alias(session, zone.id, request.alias)
    if found is None:
        raise InvalidParameterError(
            "name", f"There is no certificate {request.alias} in zone {zone.name}"
        )
    return found


def provision_certificate(
    db: Database,
    agents: AgentClient,
    clock: Callable[[], datetime],
    *,
    certificate_uuid: str,
    host_uuid: str,
    command: str,
) -> HostState:
    """Push a certificate to one host of its zone again (after a revoke, or a failure)."""
    with db.transaction() as session:
        certificate = get_by_uuid(
            session, DirectDownloadCertificate, certificate_uuid, command=command, param="id"
        )
        host = get_by_uuid(session, Host, host_uuid, command=command, param="hostid")
        _kvm_host_in_zone(host, _zone_of(session, certificate))
        pushes = [plan_push(certificate, host)]
    return _host_states(_push_and_record(db, agents, clock, pushes))[0]


def sync_certificates(
    db: Database, agents: AgentClient, clock: Callable[[], datetime], host_id: int | None
) -> list[Outcome]:
    """Push the certificates one host (or every Up host) lacks; return each push's outcome."""
    with db.transaction() as session:
        pushes = plan_sync(session, host_id)
    return _push_and_record(db, agents, clock, pushes)
