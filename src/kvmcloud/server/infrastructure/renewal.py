"""Agent certificate renewal as a use case: find the hosts due, renew each by CSR, record."""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud import pki
from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.agent_client import AgentClient, error_from_answer
from kvmcloud.server.agent_pki import AgentPki, renewal_window
from kvmcloud.server.db import Database
from kvmcloud.server.errors import ApiError, InvalidParameterError
from kvmcloud.server.infrastructure.host_states import HostStatus
from kvmcloud.server.infrastructure.models import Host
from kvmcloud.server.infrastructure.service import endpoint_for
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.models import AsyncJob, JobStatus

RENEW_CERTIFICATE_JOB = "agent_certificate_renewal"
RENEWAL_TIMEOUT_S = 30.0


def queue_renewals(session: Session, now: datetime) -> int:
    """Queue a renewal job for each Up host whose certificate is due and has none pending."""
    due = now + renewal_window()
    hosts = session.scalars(
        select(Host).where(
            Host.removed.is_(None),
            Host.status == HostStatus.UP,
            Host.certificate_expires.is_not(None),
            Host.certificate_expires <= due,
        )
    ).all()
    pending = set(
        session.scalars(
            select(AsyncJob.instance_uuid).where(
                AsyncJob.kind == RENEW_CERTIFICATE_JOB, AsyncJob.job_status == JobStatus.PENDING
            )
        )
    )
    queued = 0
    for host in hosts:
        if host.uuid in pending:
            continue
        queue.enqueue(
            session,
            kind=RENEW_CERTIFICATE_JOB,
            cmd="renewAgentCertificate",
            payload={"host_id": host.id},
            now=now,
            instance_type="Host",
            instance_uuid=host.uuid,
        )
        queued += 1
    return queued


def renew_host_certificate(
    db: Database,
    agents: AgentClient,
    clock: Callable[[], datetime],
    host_id: int,
    pki_dir: Path,
) -> datetime:
    """Renew one agent's certificate over mutual TLS; return the new expiry.

    The agent makes a new key and sends a CSR (its key never leaves the host); the CA
    signs a certificate whose names the server chooses (host uuid, host address); the
    agent switches to it for later connections.

    Raises:
        ApiError: the host is gone, the agent refused, or the CA cannot sign.
    """
    with db.transaction() as session:
        host = session.get(Host, host_id)
        if host is None or host.removed is not None:
            raise InvalidParameterError("hostid", f"host {host_id} no longer exists")
        endpoint, host_uuid, address = endpoint_for(host), host.uuid, host.private_ip_address
    authority = AgentPki.load(pki_dir)
    answer = agents.call(endpoint, msg.RenewCertificateCommand(), timeout_s=RENEWAL_TIMEOUT_S)
    if not answer.ok or not isinstance(answer.result, msg.CertificateRequest):
        raise error_from_answer(answer, f"certificate renewal on host {endpoint.name}")
    try:
        public_key = pki.csr_public_key(answer.result.csr_pem)
    except pki.PkiError as exc:
        raise ApiError(f"host {endpoint.name} sent an unusable CSR: {exc}") from exc
    certificate = authority.issue_agent_certificate(
        public_key, host_uuid=host_uuid, address=address, now=clock()
    )
    install = msg.InstallCertificateCommand(certificate_pem=certificate, ca_pem=authority.ca_pem)
    answer = agents.call(endpoint, install, timeout_s=RENEWAL_TIMEOUT_S)
    if not answer.ok:
        raise error_from_answer(answer, f"certificate renewal on host {endpoint.name}")
    expires = pki.validity(certificate)[1]
    with db.transaction() as session:
        renewed = session.get(Host, host_id)
        if renewed is not None:
            renewed.certificate_expires = expires
    return expires
