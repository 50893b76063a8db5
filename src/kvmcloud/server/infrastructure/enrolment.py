"""addHost as a use case: plan in a transaction, enrol the agent outside one, record the host."""

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud import pki
from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.enrolment_tokens import TokenFormatError, parse_token
from kvmcloud.server.agent_client import AgentClient
from kvmcloud.server.agent_pki import AgentPki, PkiStoreError
from kvmcloud.server.db import Database, new_uuid
from kvmcloud.server.errors import ApiError, InvalidParameterError
from kvmcloud.server.hooks import Hooks
from kvmcloud.server.infrastructure.host_states import HostStatus
from kvmcloud.server.infrastructure.models import Cluster, Host, Pod, Zone
from kvmcloud.server.infrastructure.records import HostRecord, host_records
from kvmcloud.server.infrastructure.service import HYPERVISOR_KVM, apply_report, insert_cluster
from kvmcloud.server.queries import get_by_uuid, get_by_uuid_if_given
from kvmcloud.server.sealing.box import SecretBox, agent_key_context, agent_key_digest

DEFAULT_AGENT_PORT = 8252


@dataclass(frozen=True, slots=True, kw_only=True)
class HostRequest:
    """What addHost asks for (uuids as given; ``token`` is the agent's enrolment token)."""

    zone_uuid: str
    pod_uuid: str
    cluster_uuid: str | None
    cluster_name: str | None
    url: str
    hypervisor: str
    # A secret: kept out of the repr so it can never reach a log.
    token: str = field(repr=False)
    host_tags: str | None


def add_host(
    db: Database,
    agents: AgentClient,
    hooks: Hooks,
    request: HostRequest,
    clock: Callable[[], datetime],
    *,
    command: str,
    server_url: str,
    pki_dir: Path,
    box: SecretBox,
) -> HostRecord:
    """Enrol the agent at the request's url with its token, then record the host.

    The token's fingerprint pins the agent's bootstrap certificate; the CA in ``pki_dir``
    issues the agent a certificate for that certificate's key, which the agent adopts.
    The agent calls back at ``server_url``. The new host gets the zone's direct-download
    certificates from a job that ``hooks`` queues with the host. The host's new agent key
    goes to the agent in clear and is stored sealed by ``box``.
    """
    try:
        token = parse_token(request.token)
    except TokenFormatError as exc:
        raise InvalidParameterError("password", f"password {exc}") from None
    try:
        authority = AgentPki.load(pki_dir)
    except PkiStoreError as exc:
        raise ApiError(f"This management server cannot enrol hosts: {exc}") from exc
    with db.transaction() as session:
        zone = get_by_uuid(session, Zone, request.zone_uuid, command=command, param="zoneid")
        pod = get_by_uuid(session, Pod, request.pod_uuid, command=command, param="podid")
        cluster = get_by_uuid_if_given(
            session, Cluster, request.cluster_uuid, command=command, param="clusterid"
        )
        plan = plan_host(
            session,
            zone=zone,
            pod=pod,
            cluster=cluster,
            cluster_name=request.cluster_name,
            url=request.url,
            hypervisor=request.hypervisor,
            host_tags=request.host_tags,
            new_uuid=new_uuid(),
            now=clock(),
        )
    # No transaction is open while the agent works.
    bootstrap_pem = agents.bootstrap_certificate(plan.agent_url, token.fingerprint)
    certificate_pem = authority.issue_agent_certificate(
        pki.certificate_public_key(bootstrap_pem),
        host_uuid=plan.host_uuid,
        address=plan.address,
        now=clock(),
    )
    report = agents.enroll(
        plan.agent_url,
        token,
        msg.EnrollRequest(
            host_uuid=plan.host_uuid,
            host_key=plan.host_key,
            server_url=server_url,
            certificate_pem=certificate_pem,
            ca_pem=authority.ca_pem,
        ),
    )
    with db.transaction() as session:
        host = record_host(session, plan, report, clock(), box)
        host.certificate_expires = pki.validity(certificate_pem)[1]
        hooks.queue_new_host_sync(session, host.id, clock())
        return host_records(session, [host])[0]


@dataclass(frozen=True, slots=True)
class HostPlan:
    """A validated addHost request, ready for enrolment outside any transaction."""

    zone_id: int
    pod_id: int
    cluster_id: int
    agent_url: str
    address: str
    host_uuid: str
    host_key: str = field(repr=False)
    host_tags: str | None


def normalise_agent_url(url: str) -> tuple[str, str]:
    """Turn addHost's ``url`` into the agent's base URL and address.

    CloudStack operators pass ``http://<host address>``; the agent listens on its own port
    (8252 unless the URL names another) and speaks TLS only, so the base URL is https.
    """
    text = url.strip()
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameterError(
            "url", f"url {url!r} must look like http://<host address>[:port]"
        )
    host = parts.hostname
    try:
        port = parts.port or DEFAULT_AGENT_PORT
    except ValueError:
        raise InvalidParameterError("url", f"url {url!r} has an invalid port") from None
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}:{port}", host


def plan_host(
    session: Session,
    *,
    zone: Zone,
    pod: Pod,
    cluster: Cluster | None,
    cluster_name: str | None,
    url: str,
    hypervisor: str,
    host_tags: str | None,
    new_uuid: str,
    now: datetime,
) -> HostPlan:
    """Validate addHost and pick the cluster; nothing is written yet but a new cluster."""
    if hypervisor.upper() != HYPERVISOR_KVM:
        raise InvalidParameterError(
            "hypervisor", f"Hypervisor {hypervisor!r} is not supported; use KVM"
        )
    if pod.data_center_id != zone.id:
        raise InvalidParameterError(
            "podid",
            f"Invalid parameter podid value={pod.uuid}: pod {pod.name} is not in zone {zone.name}",
        )
    if cluster is None:
        if not cluster_name:
            raise InvalidParameterError(
                "clusterid", "Either clusterid or clustername must be given"
            )
        cluster = session.scalars(
            select(Cluster).where(Cluster.pod_id == pod.id, Cluster.name == cluster_name)
        ).first() or insert_cluster(
            session,
            pod,
            name=cluster_name,
            hypervisor=HYPERVISOR_KVM,
            cluster_type="CloudManaged",
            now=now,
        )
    if cluster.pod_id != pod.id:
        raise InvalidParameterError(
            "clusterid",
            f"Invalid parameter clusterid value={cluster.uuid}: cluster {cluster.name} is not "
            f"in pod {pod.name}",
        )
    agent_url, address = normalise_agent_url(url)
    taken = select(Host.id).where(Host.url == agent_url, Host.removed.is_(None))
    if session.scalar(taken) is not None:
        raise InvalidParameterError("url", f"A host with url {agent_url} is already added")
    return HostPlan(
        zone_id=zone.id,
        pod_id=pod.id,
        cluster_id=cluster.id,
        agent_url=agent_url,
        address=address,
        host_uuid=new_uuid,
        host_key=secrets.token_urlsafe(32),
        host_tags=host_tags,
    )


def record_host(
    session: Session, plan: HostPlan, report: msg.HostReport, now: datetime, box: SecretBox
) -> Host:
    """Store a host the agent accepted (its key sealed); it is Up since it just answered."""
    # A host removed earlier under the same URL keeps its row (history) but frees the url.
    for old in session.scalars(select(Host).where(Host.url == plan.agent_url)):
        old.url = f"{old.url}#removed-{old.uuid}"
    host = Host(
        uuid=plan.host_uuid,
        name=report.hostname,
        status=HostStatus.UP,
        url=plan.agent_url,
        private_ip_address=plan.address,
        data_center_id=plan.zone_id,
        pod_id=plan.pod_id,
        cluster_id=plan.cluster_id,
        hypervisor_type=HYPERVISOR_KVM,
        agent_key=box.seal(plan.host_key, agent_key_context(plan.host_uuid)),
        agent_key_digest=agent_key_digest(plan.host_key),
        host_tags=plan.host_tags,
        last_ping=now,
        created=now,
    )
    apply_report(host, report)
    session.add(host)
    session.flush()
    return host
