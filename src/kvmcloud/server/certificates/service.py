"""Certificates: store, plan pushes, push in parallel (no transaction), record, sync, reconcile.

Every operation is plan (short transaction) → ``push_all`` (no transaction; a bounded pool
of threads, each call with its own timeout) → ``record`` (short transaction). A mapping row
says UPLOADED only when the agent answered ok; failures are FAILED with the reason.
"""

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.agent_client import AgentClient, AgentEndpoint, AgentUnreachableError
from kvmcloud.server.certificates.models import (
    CertificateHostMap,
    CertificateHostStatus,
    DirectDownloadCertificate,
)
from kvmcloud.server.certificates.parsing import (
    HYPERVISOR_KVM,
    ParsedCertificate,
    normalise_fingerprint,
)
from kvmcloud.server.errors import ApiError, InvalidParameterError
from kvmcloud.server.infrastructure.heartbeats import HostSeen
from kvmcloud.server.infrastructure.host_states import HostStatus
from kvmcloud.server.infrastructure.models import Host, Zone
from kvmcloud.server.infrastructure.service import endpoint_for
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.models import AsyncJob, JobStatus

logger = logging.getLogger(__name__)

CERTIFICATE_SYNC_JOB = "certificate_sync"
SYNC_HOST_CMD = "org.apache.cloudstack.direct.download.DirectDownloadManager.syncCertificatesToHost"
SYNC_ALL_CMD = (
    "org.apache.cloudstack.direct.download.DirectDownloadManagerImpl"
    ".DirectDownloadCertificateUploadBackgroundTask"
)
# One push is a file write on the host: an agent silent this long is treated as unreachable.
PUSH_TIMEOUT_S = 30.0
MAX_PARALLEL_PUSHES = 8
_DEADLINE_MARGIN_S = 5.0
NOT_HELD = "host no longer holds it"
STILL_HELD = "host still holds the revoked certificate"


class Action(StrEnum):
    """What a push asks the host to do."""

    SETUP = "setup"
    REVOKE = "revoke"


@dataclass(frozen=True, slots=True)
class Push:
    """One certificate to set up on (or revoke from) one host; no endpoint → not tried."""

    certificate_id: int
    alias: str
    pem: str
    fingerprint: str
    host_id: int
    host_uuid: str
    host_name: str
    action: Action
    endpoint: AgentEndpoint | None
    skipped_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one push."""

    push: Push
    status: CertificateHostStatus
    details: str | None


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


def _duplicate(alias: str, zone: Zone) -> InvalidParameterError:
    return InvalidParameterError(
        "name",
        f"Certificate alias {alias} has been already created in zone {zone.name}; "
        "to rotate it, upload the new certificate under another alias, then revoke this one",
    )


def create_certificate(
    session: Session, zone: Zone, alias: str, parsed: ParsedCertificate, now: datetime
) -> DirectDownloadCertificate:
    """Store a certificate for the zone's KVM hosts; the alias is unique in the zone.

    Raises:
        InvalidParameterError: the alias is taken in this zone.
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


def host_mappings(session: Session, certificate_id: int) -> list[tuple[CertificateHostMap, Host]]:
    """Every live host's row for a certificate, by host id."""
    return list(
        session.execute(
            select(CertificateHostMap, Host)
            .join(Host, Host.id == CertificateHostMap.host_id)
            .where(CertificateHostMap.certificate_id == certificate_id, Host.removed.is_(None))
            .order_by(Host.id)
        )
    )


def zone_has_certificates(session: Session, zone_id: int) -> bool:
    """Whether any certificate belongs to the zone."""
    return bool(
        session.scalar(select(exists().where(DirectDownloadCertificate.zone_id == zone_id)))
    )


# --- planning ------------------------------------------------------------------------------


def _reachable(host: Host) -> bool:
    return (
        host.status == HostStatus.UP
        and host.resource_state == "Enabled"
        and host.removed is None
        and host.hypervisor_type == HYPERVISOR_KVM
    )


def plan_push(
    certificate: DirectDownloadCertificate, host: Host, action: Action = Action.SETUP
) -> Push:
    """Plan one push; a host that is not Up is not called and gets FAILED with the reason."""
    reachable = _reachable(host)
    reason = None
    if not reachable:
        state = host.status if host.resource_state == "Enabled" else host.resource_state
        reason = f"host is {state}"
    return Push(
        certificate_id=certificate.id,
        alias=certificate.alias,
        pem=certificate.certificate,
        fingerprint=certificate.fingerprint,
        host_id=host.id,
        host_uuid=host.uuid,
        host_name=host.name,
        action=action,
        endpoint=endpoint_for(host) if reachable else None,
        skipped_reason=reason,
    )


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
                f"Certificate {certificate.alias} cannot be revoked from host {host.name}: "
                "it is not available on the host",
            )
        rows = [(row, host)]
    else:
        rows = host_mappings(session, certificate.id)
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


# --- pushing (never inside a transaction) --------------------------------------------------


def push_all(
    agents: AgentClient,
    pushes: Sequence[Push],
    *,
    timeout_s: float = PUSH_TIMEOUT_S,
    max_workers: int = MAX_PARALLEL_PUSHES,
) -> list[Outcome]:
    """Send the pushes, at most ``max_workers`` at once; return one outcome per push, in order.

    A slow or dead host only holds its own thread: each call has ``timeout_s``, and the
    whole fan-out is bounded too, so the caller gets an answer for every host.
    """
    outcomes: dict[int, Outcome] = {}
    calls = []
    for index, push in enumerate(pushes):
        if push.endpoint is None:
            outcomes[index] = Outcome(push, CertificateHostStatus.FAILED, push.skipped_reason)
        else:
            calls.append((index, push))
    if calls:
        workers = max(1, min(max_workers, len(calls)))
        deadline_s = timeout_s * math.ceil(len(calls) / workers) + _DEADLINE_MARGIN_S
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="certificate-push")
        try:
            futures = {pool.submit(_push_one, agents, p, timeout_s): (i, p) for i, p in calls}
            done, _late = wait(futures, timeout=deadline_s)
            for future, (index, push) in futures.items():
                if future in done:
                    outcomes[index] = future.result()
                else:
                    outcomes[index] = Outcome(
                        push,
                        CertificateHostStatus.FAILED,
                        f"host unreachable: no answer within {deadline_s:.0f} s",
                    )
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    return [outcomes[i] for i in range(len(pushes))]


def _push_one(agents: AgentClient, push: Push, timeout_s: float) -> Outcome:
    assert push.endpoint is not None
    command: msg.Command = (
        msg.SetupCertificateCommand(alias=push.alias, pem=push.pem)
        if push.action is Action.SETUP
        else msg.RevokeCertificateCommand(alias=push.alias)
    )
    try:
        answer = agents.call(push.endpoint, command, timeout_s=timeout_s)
    except AgentUnreachableError as exc:
        return Outcome(push, CertificateHostStatus.FAILED, f"host unreachable: {exc.message}")
    except (ApiError, msg.MessageFormatError) as exc:
        return Outcome(push, CertificateHostStatus.FAILED, f"host unreachable: {exc}")
    if not answer.ok:
        reason = answer.error.message if answer.error else "the host gave no reason"
        return Outcome(push, CertificateHostStatus.FAILED, reason)
    if not isinstance(answer.result, msg.CertificateResult):
        return Outcome(push, CertificateHostStatus.FAILED, "the host gave an unexpected answer")
    held = answer.result.held.get(push.alias)
    if push.action is Action.REVOKE:
        if held is not None:
            return Outcome(push, CertificateHostStatus.FAILED, STILL_HELD)
        return Outcome(push, CertificateHostStatus.REVOKED, None)
    if held is None:
        # The host says it did not keep it (e.g. its store is too full to read it all):
        # not UPLOADED, so the listing tells the truth and the next sync tries again.
        return Outcome(
            push, CertificateHostStatus.FAILED, f"host does not hold {push.alias} after the push"
        )
    if normalise_fingerprint(held) != push.fingerprint:
        return Outcome(
            push,
            CertificateHostStatus.FAILED,
            f"host holds another certificate under {push.alias} (sha256 {held})",
        )
    return Outcome(push, CertificateHostStatus.UPLOADED, None)


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
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(CertificateHostMap)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["certificate_id", "host_id"])
    )
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


def after_heartbeat(session: Session, seen: HostSeen) -> None:
    """Queue a sync for a host back Up; reconcile the rows with what the host says it holds.

    Rows changed within two heartbeat intervals are left alone: the heartbeat may predate
    the push.
    """
    host = seen.host
    if seen.previous in (HostStatus.DISCONNECTED, HostStatus.DOWN) and host.status == HostStatus.UP:
        queue_host_sync(session, host, seen.now)
    if seen.beat.certificates is not None:
        reconcile(session, host, seen.beat.certificates, seen.now, grace_s=2 * seen.interval_s)


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
