"""Agent certificates are renewed before they expire: due hosts queued, CSR signed, recorded."""

from datetime import timedelta

from sqlalchemy import select

from kvmcloud import pki
from kvmcloud.server.infrastructure.jobs import queue_certificate_renewals
from kvmcloud.server.infrastructure.models import Host
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness


def expires(server: ServerHarness, host_id: str):
    with server.db.transaction() as session:
        return session.scalars(select(Host).where(Host.uuid == host_id)).one().certificate_expires


def test_enrolment_records_when_the_certificate_expires(
    server: ServerHarness, cloud: Cloud
) -> None:
    agent = server.agents.agents[AGENT_URL]

    assert expires(server, cloud.host_id) == pki.validity(agent.certificate_pem)[1]


def test_a_certificate_near_expiry_is_renewed_with_a_new_key(
    server: ServerHarness, cloud: Cloud
) -> None:
    agent = server.agents.agents[AGENT_URL]
    old_certificate = agent.certificate_pem
    old_expiry = expires(server, cloud.host_id)

    # Not due yet: nothing queued.
    queue_certificate_renewals(server.db, server.clock)
    assert server.run_jobs() == 0

    # With less than a third of its year left, it is due.
    server.clock.now = old_expiry - timedelta(days=100)
    queue_certificate_renewals(server.db, server.clock)
    queue_certificate_renewals(server.db, server.clock)  # no second job for the same host
    assert server.run_jobs() == 1

    new_certificate = agent.certificate_pem
    assert new_certificate != old_certificate
    assert pki.certificate_public_key(new_certificate) != pki.certificate_public_key(
        old_certificate
    )
    assert pki.common_name(new_certificate) == cloud.host_id
    assert pki.subject_addresses(new_certificate) == ["127.0.0.1"]
    assert expires(server, cloud.host_id) == pki.validity(new_certificate)[1]
    assert expires(server, cloud.host_id) > old_expiry
