"""Direct-download certificates in-process: upload, revoke, list, provision, sync, reconcile."""

import dataclasses
import time
from datetime import timedelta
from typing import Any

import pytest
import trustme
from sqlalchemy import select

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.certificates.models import CertificateHostMap, CertificateHostStatus
from kvmcloud.server.certificates.service import CERTIFICATE_RECHECK_S, queue_sync_all
from kvmcloud.server.infrastructure.host_states import HostStatus
from kvmcloud.server.infrastructure.models import Host
from kvmcloud.server.jobs.models import AsyncJob
from tests.fakes import FAKE_TOKEN, FakeAgent
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness

UPLOAD = "uploadTemplateDirectDownloadCertificate"
REVOKE = "revokeTemplateDirectDownloadCertificate"
LIST = "listTemplateDirectDownloadCertificates"
PROVISION = "provisionTemplateDirectDownloadCertificate"


@pytest.fixture
def ca_pem() -> str:
    return trustme.CA().cert_pem.bytes().decode()


def add_host(
    server: ServerHarness, cloud: Cloud, number: int, **agent_fields
) -> tuple[str, FakeAgent]:
    """Add host kvm<number> at 127.0.0.<number> in the cloud's cluster."""
    report = dataclasses.replace(FakeAgent().report, hostname=f"kvm{number}")
    agent = server.agents.add(
        f"https://127.0.0.{number}:8252", FakeAgent(report=report, **agent_fields)
    )
    host = server.ok(
        "addHost",
        zoneid=cloud.zone_id,
        podid=cloud.pod_id,
        clusterid=cloud.cluster_id,
        url=f"http://127.0.0.{number}",
        username="root",
        password=FAKE_TOKEN,
        hypervisor="KVM",
    )["host"][0]
    return host["id"], agent


def set_status(server: ServerHarness, host_id: str, status: HostStatus) -> None:
    with server.db.transaction() as session:
        session.scalars(select(Host).where(Host.uuid == host_id)).one().status = status


def heartbeat(server: ServerHarness, host_id: str, agent: FakeAgent, *, certificates=None) -> None:
    beat = msg.Heartbeat(host_uuid=host_id, report=agent.report, certificates=certificates)
    response = server.agent_api.post(
        "/agent/v1/heartbeat",
        content=msg.to_json(beat),
        headers={"Authorization": f"Bearer {agent.key}", "X-Kvmcloud-Host": host_id},
    )
    assert response.status_code == 200, response.text


def upload(server: ServerHarness, cloud: Cloud, pem: str, name: str = "private-ca", **extra):
    return server.ok(
        UPLOAD,
        certificate=pem,
        name=name,
        hypervisor="kvm",
        zoneid=cloud.zone_id,
        method="POST",
        **extra,
    )["uploadtemplatedirectdownloadcertificate"]


def hostsmap(server: ServerHarness, certificate_id: str) -> dict[str, tuple[str, str | None]]:
    item = server.ok(LIST, id=certificate_id, listhosts=True)["directdownloadcertificate"][0]
    return {h["hostname"]: (h["status"], h.get("details")) for h in item["hostsmap"]}


def first_agent(server: ServerHarness) -> FakeAgent:
    return server.agents.agents[AGENT_URL]


def test_upload_to_a_zone_with_a_down_host(
    server: ServerHarness, cloud: Cloud, ca_pem: str
) -> None:
    host2, agent2 = add_host(server, cloud, 2)
    set_status(server, host2, HostStatus.DOWN)
    agent2.reachable = False
    certificate = upload(server, cloud, ca_pem)
    assert certificate["alias"] == "private-ca"
    assert certificate["hypervisor"] == "KVM" and certificate["version"] == "3"
    assert certificate["zoneid"] == cloud.zone_id and certificate["zonename"] == "zone1"
    assert certificate["validity"].startswith("From: [") and "] - To: [" in certificate["validity"]
    assert "O=trustme" in certificate["subject"] and certificate["serialnum"].isdigit()
    by_host = {h["hostname"]: h for h in certificate["hostsmap"]}
    assert by_host["kvm1"]["status"] == "UPLOADED" and by_host["kvm1"]["hostid"] == cloud.host_id
    assert by_host["kvm2"] == {
        "hostid": host2,
        "hostname": "kvm2",
        "status": "FAILED",
        "details": "host is Down",
    }
    assert "private-ca" in first_agent(server).certificates
    assert hostsmap(server, certificate["id"]) == {
        "kvm1": ("UPLOADED", None),
        "kvm2": ("FAILED", "host is Down"),
    }
    listed = server.ok(LIST, zoneid=cloud.zone_id)
    assert listed["count"] == 1 and "hostsmap" not in listed["directdownloadcertificate"][0]
    assert (
        server.ok(LIST, id=certificate["id"])["directdownloadcertificate"][0]["id"]
        == certificate["id"]
    )


def test_refusing_and_unreachable_hosts_are_failed_never_uploaded(
    server: ServerHarness, cloud: Cloud, ca_pem: str
) -> None:
    first_agent(server).certificate_error = "cannot write /etc/kvmcloud-agent/certs: disk full"
    _, agent2 = add_host(server, cloud, 2)
    agent2.reachable = False
    certificate = upload(server, cloud, ca_pem)
    status = hostsmap(server, certificate["id"])
    assert status["kvm1"] == ("FAILED", "cannot write /etc/kvmcloud-agent/certs: disk full")
    assert status["kvm2"][0] == "FAILED"
    assert (status["kvm2"][1] or "").startswith("host unreachable: ")


def test_refusals(server: ServerHarness, cloud: Cloud, ca_pem: str) -> None:
    upload(server, cloud, ca_pem)
    base: dict[str, Any] = {"hypervisor": "KVM", "zoneid": cloud.zone_id, "method": "POST"}
    status, body = server.call(UPLOAD, certificate=ca_pem, name="private-ca", **base)
    assert status == 530 and body["errortext"].startswith(
        "Certificate alias private-ca has been already created"
    )
    status, body = server.call(UPLOAD, certificate="XXXXXXXXXXXXXXXX", name="junk", **base)
    assert status == 530 and body["errortext"].startswith(
        "Cannot parse the certificate provided, please provide a PEM certificate. Error: "
    )
    expired = (
        trustme.CA()
        .issue_cert(
            "origin.test",
            not_before=server.clock() - timedelta(days=30),
            not_after=server.clock() - timedelta(days=1),
        )
        .cert_chain_pems[0]
        .bytes()
        .decode()
    )
    status, body = server.call(UPLOAD, certificate=expired, name="old", **base)
    assert status == 530 and body["errortext"].startswith(
        "Certificate is invalid. Please provide a valid certificate. Error: the certificate "
        "has expired"
    )
    for reserved in ("cloud", "cloudca-x"):
        status, body = server.call(UPLOAD, certificate=ca_pem, name=reserved, **base)
        assert status == 431 and "reserved" in body["errortext"]
    status, body = server.call(
        UPLOAD, certificate=ca_pem, name="x", hypervisor="VMware", zoneid=cloud.zone_id
    )
    assert status == 431 and body["errortext"] == (
        "Invalid parameter hypervisor value=VMware: Currently supporting KVM hosts only"
    )
    assert server.ok(LIST)["count"] == 1


def test_non_admins_are_refused(server: ServerHarness, cloud: Cloud, ca_pem: str) -> None:
    certificate = upload(server, cloud, ca_pem)
    bob = server.user("bob")
    calls = [
        (
            UPLOAD,
            {"certificate": ca_pem, "name": "bob", "hypervisor": "KVM", "zoneid": cloud.zone_id},
        ),
        (REVOKE, {"id": certificate["id"], "zoneid": cloud.zone_id}),
        (LIST, {}),
        (PROVISION, {"id": certificate["id"], "hostid": cloud.host_id}),
    ]
    for command, params in calls:
        status, body = server.call(command, bob, **params)
        assert status == 432, (command, body)
        assert "directdownloadcertificate" not in body


def test_revoke_on_one_host_then_provision(
    server: ServerHarness, cloud: Cloud, ca_pem: str
) -> None:
    _, agent2 = add_host(server, cloud, 2)
    certificate = upload(server, cloud, ca_pem)
    revoked = server.ok(REVOKE, id=certificate["id"], zoneid=cloud.zone_id, hostid=cloud.host_id)
    assert revoked["count"] == 1
    assert revoked["directdownloadcertificatehoststatus"][0]["status"] == "REVOKED"
    assert "private-ca" not in first_agent(server).certificates
    assert "private-ca" in agent2.certificates
    assert hostsmap(server, certificate["id"]) == {
        "kvm1": ("REVOKED", None),
        "kvm2": ("UPLOADED", None),
    }
    # Already revoked there: nothing to do.
    assert server.ok(REVOKE, id=certificate["id"], zoneid=cloud.zone_id, hostid=cloud.host_id) == {}
    provisioned = server.ok(PROVISION, id=certificate["id"], hostid=cloud.host_id)
    assert provisioned["directdownloadcertificatehoststatus"] == {
        "hostid": cloud.host_id,
        "hostname": "kvm1",
        "status": "UPLOADED",
    }
    assert "private-ca" in first_agent(server).certificates
    # Zone-wide by name + hypervisor (Marvin's form).
    everywhere = server.ok(REVOKE, name="private-ca", hypervisor="KVM", zoneid=cloud.zone_id)
    assert {
        h["hostname"]: h["status"] for h in everywhere["directdownloadcertificatehoststatus"]
    } == {
        "kvm1": "REVOKED",
        "kvm2": "REVOKED",
    }
    assert not first_agent(server).certificates and not agent2.certificates


def test_revoke_failure_is_reported_and_retried_by_the_sync(
    server: ServerHarness, cloud: Cloud, ca_pem: str
) -> None:
    certificate = upload(server, cloud, ca_pem)
    agent = first_agent(server)
    agent.certificate_error = "store is read-only"
    revoked = server.ok(REVOKE, id=certificate["id"], zoneid=cloud.zone_id, hostid=cloud.host_id)
    assert revoked["directdownloadcertificatehoststatus"][0]["status"] == "FAILED"
    assert hostsmap(server, certificate["id"])["kvm1"] == ("FAILED", "store is read-only")
    agent.certificate_error = None
    with server.db.transaction() as session:
        queue_sync_all(session, server.clock())
    server.run_jobs()
    # The sync finishes the revoke rather than pushing the certificate back.
    assert hostsmap(server, certificate["id"])["kvm1"] == ("REVOKED", None)
    assert "private-ca" not in agent.certificates


def test_revoke_and_provision_check_the_zone(
    server: ServerHarness, cloud: Cloud, ca_pem: str
) -> None:
    certificate = upload(server, cloud, ca_pem)
    zone2 = server.ok("createZone", name="zone2", networktype="Advanced", dns1="8.8.8.8")["zone"]
    status, body = server.call(REVOKE, id=certificate["id"], zoneid=zone2["id"])
    assert status == 431
    assert "zone1" in body["errortext"] and "zone2" in body["errortext"]
    pod2 = server.ok("createPod", name="pod2", zoneid=zone2["id"])["pod"]
    cluster2 = server.ok(
        "addCluster", clustername="c2", zoneid=zone2["id"], podid=pod2["id"], hypervisor="KVM"
    )["cluster"][0]
    server.agents.add("https://127.0.0.3:8252")
    other = server.ok(
        "addHost",
        zoneid=zone2["id"],
        podid=pod2["id"],
        clusterid=cluster2["id"],
        url="http://127.0.0.3",
        username="root",
        password=FAKE_TOKEN,
        hypervisor="KVM",
    )["host"][0]
    status, body = server.call(PROVISION, id=certificate["id"], hostid=other["id"])
    assert status == 431 and "not in zone zone1" in body["errortext"]
    status, body = server.call(
        REVOKE, id=certificate["id"], zoneid=cloud.zone_id, hostid=other["id"]
    )
    assert status == 431 and "not available on the host" in body["errortext"]
    status, body = server.call(REVOKE, zoneid=cloud.zone_id)
    assert status == 431


def test_upload_to_one_host(server: ServerHarness, cloud: Cloud, ca_pem: str) -> None:
    status, body = server.call(
        UPLOAD,
        certificate=ca_pem,
        name="private-ca",
        hypervisor="KVM",
        zoneid=cloud.zone_id,
        hostid=cloud.host_id,
        method="POST",
    )
    assert status == 431 and "Unable to upload certificate" in body["errortext"]
    certificate = upload(server, cloud, ca_pem)
    server.ok(REVOKE, id=certificate["id"], zoneid=cloud.zone_id, hostid=cloud.host_id)
    other_pem = trustme.CA().cert_pem.bytes().decode()
    status, body = server.call(
        UPLOAD,
        certificate=other_pem,
        name="private-ca",
        hypervisor="KVM",
        zoneid=cloud.zone_id,
        hostid=cloud.host_id,
        method="POST",
    )
    assert status == 431 and "differs from the certificate stored" in body["errortext"]
    again = upload(server, cloud, ca_pem, hostid=cloud.host_id)
    assert again["id"] == certificate["id"]
    assert again["hostsmap"] == [
        {"hostid": cloud.host_id, "hostname": "kvm1", "status": "UPLOADED"}
    ]
    assert first_agent(server).certificates["private-ca"] == ca_pem


def test_host_added_after_the_upload_gets_it(
    server: ServerHarness, cloud: Cloud, ca_pem: str
) -> None:
    certificate = upload(server, cloud, ca_pem)
    _, agent2 = add_host(server, cloud, 2)
    assert not agent2.certificates
    assert server.run_jobs() == 1
    assert "private-ca" in agent2.certificates
    assert hostsmap(server, certificate["id"])["kvm2"] == ("UPLOADED", None)


def test_no_sync_job_without_certificates(server: ServerHarness, cloud: Cloud) -> None:
    add_host(server, cloud, 2)
    with server.db.transaction() as session:
        assert session.scalars(select(AsyncJob)).all() == []


def test_host_back_up_gets_it(server: ServerHarness, cloud: Cloud, ca_pem: str) -> None:
    host2, agent2 = add_host(server, cloud, 2)
    set_status(server, host2, HostStatus.DISCONNECTED)
    certificate = upload(server, cloud, ca_pem)
    assert hostsmap(server, certificate["id"])["kvm2"] == ("FAILED", "host is Disconnected")
    heartbeat(server, host2, agent2)
    assert server.run_jobs() == 1
    assert "private-ca" in agent2.certificates
    assert hostsmap(server, certificate["id"])["kvm2"] == ("UPLOADED", None)
    # A host that stays Up queues nothing.
    heartbeat(server, host2, agent2)
    assert server.run_jobs() == 0


def test_periodic_sync_fixes_a_failed_host_and_leaves_revoked_ones(
    server: ServerHarness, cloud: Cloud, ca_pem: str
) -> None:
    _, agent2 = add_host(server, cloud, 2)
    agent2.certificate_error = "not yet"
    certificate = upload(server, cloud, ca_pem)
    server.ok(REVOKE, id=certificate["id"], zoneid=cloud.zone_id, hostid=cloud.host_id)
    agent2.certificate_error = None
    with server.db.transaction() as session:
        assert queue_sync_all(session, server.clock())
        assert not queue_sync_all(session, server.clock()), "one pending sync at a time"
    assert server.run_jobs() == 1
    assert hostsmap(server, certificate["id"]) == {
        "kvm1": ("REVOKED", None),
        "kvm2": ("UPLOADED", None),
    }
    assert "private-ca" not in first_agent(server).certificates
    assert "private-ca" in agent2.certificates


def test_periodic_task_reads_the_setting(server: ServerHarness) -> None:
    assert server.services.scheduler is not None
    task = next(t for t in server.services.scheduler._tasks if t.name == "certificate-sync")
    assert task.interval_s() == 0.0
    server.ok(
        "updateConfiguration",
        name="direct.download.certificate.background.task.interval",
        value="2",
    )
    assert task.interval_s() == 7200.0
    task.run()
    with server.db.transaction() as session:
        assert [j.kind for j in session.scalars(select(AsyncJob))] == ["certificate_sync"]


def test_heartbeat_reconciliation(server: ServerHarness, cloud: Cloud, ca_pem: str) -> None:
    agent = first_agent(server)
    certificate = upload(server, cloud, ca_pem)
    # Within the grace period a heartbeat may predate the push: nothing changes.
    heartbeat(server, cloud.host_id, agent, certificates={})
    assert hostsmap(server, certificate["id"])["kvm1"] == ("UPLOADED", None)
    server.clock.advance(300)
    heartbeat(server, cloud.host_id, agent, certificates=agent.fingerprints())
    assert hostsmap(server, certificate["id"])["kvm1"] == ("UPLOADED", None)
    agent.certificates.clear()
    heartbeat(server, cloud.host_id, agent, certificates={})
    assert hostsmap(server, certificate["id"])["kvm1"] == ("FAILED", "host no longer holds it")
    with server.db.transaction() as session:
        queue_sync_all(session, server.clock())
    server.run_jobs()
    assert hostsmap(server, certificate["id"])["kvm1"] == ("UPLOADED", None)
    assert "private-ca" in agent.certificates


def test_an_unchanged_set_is_checked_again_only_after_the_recheck_time(
    server: ServerHarness, cloud: Cloud, ca_pem: str
) -> None:
    agent = first_agent(server)
    certificate = upload(server, cloud, ca_pem)
    heartbeat(server, cloud.host_id, agent, certificates=agent.fingerprints())
    # Checked once more after the grace (2 × ping.interval), then left alone.
    server.clock.advance(150)
    heartbeat(server, cloud.host_id, agent, certificates=agent.fingerprints())
    # A row changed behind the host's back (a push that failed, say) while the host's
    # reported set stays the same: not checked at every beat...
    with server.db.transaction() as session:
        row = session.scalars(select(CertificateHostMap)).one()
        row.status, row.updated = CertificateHostStatus.FAILED, server.clock()
    for _ in range(2):
        server.clock.advance(130)
        heartbeat(server, cloud.host_id, agent, certificates=agent.fingerprints())
    assert hostsmap(server, certificate["id"])["kvm1"][0] == "FAILED"
    # ...but within CERTIFICATE_RECHECK_S.
    server.clock.advance(CERTIFICATE_RECHECK_S)
    heartbeat(server, cloud.host_id, agent, certificates=agent.fingerprints())
    assert hostsmap(server, certificate["id"])["kvm1"] == ("UPLOADED", None)


def test_pushes_run_in_parallel(server: ServerHarness, cloud: Cloud, ca_pem: str) -> None:
    first_agent(server).certificate_delay_s = 1.0
    for number in (2, 3, 4):
        add_host(server, cloud, number, certificate_delay_s=1.0)
    started = time.monotonic()
    certificate = upload(server, cloud, ca_pem)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"4 hosts × 1 s took {elapsed:.1f} s"
    assert [h["status"] for h in certificate["hostsmap"]] == ["UPLOADED"] * 4


def test_a_certificate_revoked_zone_wide_is_not_pushed_to_new_hosts(
    server: ServerHarness, cloud: Cloud, ca_pem: str
) -> None:
    certificate = upload(server, cloud, ca_pem)
    server.ok(REVOKE, id=certificate["id"], zoneid=cloud.zone_id)
    _, agent2 = add_host(server, cloud, 2)
    server.run_jobs()
    assert "private-ca" not in agent2.certificates
    assert "kvm2" not in hostsmap(server, certificate["id"])


def test_a_push_the_host_did_not_keep_is_failed(
    server: ServerHarness, cloud: Cloud, ca_pem: str
) -> None:
    first_agent(server).keeps_certificates = False
    certificate = upload(server, cloud, ca_pem)
    status, details = hostsmap(server, certificate["id"])["kvm1"]
    assert status == "FAILED" and "does not hold private-ca" in (details or "")


def test_list_apis_describes_certificates_and_host_states(server: ServerHarness) -> None:
    apis = {a["name"]: a for a in server.ok("listApis")["api"]}
    listed = {f["name"]: f for f in apis[LIST]["response"]}
    hosts = {f["name"] for f in listed["hostsmap"]["response"]}
    assert {"hostid", "hostname", "status", "details"} <= hosts
    assert apis[LIST]["related"] == UPLOAD and apis[REVOKE]["related"] == PROVISION
