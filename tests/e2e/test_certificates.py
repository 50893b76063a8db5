"""Direct-download certificates end to end: upload, revoke, provision and sync to real hosts."""

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import trustme
from cs import CloudStack, CloudStackApiException

from tests.e2e.conftest import Stack, add_host, running_stack, wait_jobs
from tests.support.origin import Origin
from tests.support.processes import ManagedProcess, base_env, free_port, start_agent
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


@dataclass
class TwoHosts:
    """A stack whose zone has two hosts, each with a host-local pool, and an HTTPS origin."""

    stack: Stack
    origin: Origin
    hosts: dict[str, str]  # host name → host id
    pools: dict[str, str]  # host name → its local pool id
    second: ManagedProcess
    second_port: int
    second_env: dict[str, str]


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHosts]:
    workdir = tmp_path_factory.mktemp("e2e-certs")
    first_env = {"KVMCLOUD_AGENT_CERT_DIR": str(workdir / "certs-1")}
    with running_stack(f"sqlite:///{workdir}/kvmcloud.db", workdir, first_env) as stack:
        api = stack.api
        # Heartbeats every second so hosts come back Up quickly in these tests. An agent
        # learns the interval from a heartbeat reply: restart the first one so that its
        # next beat is now, not a minute after its enrolment (it would go Disconnected).
        api.updateConfiguration(name="ping.interval", value="1")
        stack.agent.stop()
        stack.agent = start_agent(
            stack.agent_port, workdir / "agent-state", workdir / "agent.log", first_env
        )
        second_port = free_port()
        second_env = {"KVMCLOUD_AGENT_CERT_DIR": str(workdir / "certs-2")}
        env: TwoHosts | None = None
        second = start_agent(
            second_port, workdir / "agent2-state", workdir / "agent2.log", second_env
        )
        try:
            add_host(stack, second_port, workdir / "agent2-state")
            hosts = {
                h["name"] + ("-2" if h["id"] != stack.host_id else "-1"): h["id"]
                for h in api.listHosts()["host"]
            }
            pools = {}
            for name, host_id in hosts.items():
                path = workdir / f"local-{name}"
                path.mkdir()
                pools[name] = api.createStoragePool(
                    name=f"local-{name}",
                    zoneid=stack.zone_id,
                    hostid=host_id,
                    url=f"Filesystem://localhost{path}",
                )["storagepool"]["id"]
            with Origin(directory=workdir / "images", https=True) as origin:
                env = TwoHosts(stack, origin, hosts, pools, second, second_port, second_env)
                yield env
        finally:
            second.stop()
            # The test restarts the second agent: stop the one running now too.
            if env is not None:
                env.second.stop()


def host_name(env: TwoHosts, suffix: str) -> str:
    return next(name for name in env.hosts if name.endswith(suffix))


def ca_body(pem: bytes) -> str:
    """The certificate as Marvin sends it: the base64 body only, no PEM header lines."""
    return "".join(line for line in pem.decode().splitlines() if "-----" not in line)


def prepare_on(env: TwoHosts, template_id: str, host: str) -> dict:
    api = env.stack.api
    details = api.prepareTemplate(
        templateid=template_id, zoneid=env.stack.zone_id, storageid=env.pools[host]
    )["template"][0]["downloaddetails"]
    job_id = next(d["jobid"] for d in details if d["datastoreid"] == env.pools[host])
    (job,) = wait_jobs(api, [job_id], timeout_s=60)
    return job


def status_by_host(api: CloudStack, cert_id: str) -> dict[str, str]:
    listed = api.listTemplateDirectDownloadCertificates(id=cert_id, listhosts=True)
    return {h["hostid"]: h["status"] for h in listed["directdownloadcertificate"][0]["hostsmap"]}


def test_certificates_end_to_end(two_hosts: TwoHosts) -> None:
    env, api = two_hosts, two_hosts.stack.api
    one, two = host_name(env, "-1"), host_name(env, "-2")
    url = env.origin.url("/tiny.qcow2")

    # Without the CA no host trusts the origin: the URL check says why.
    with pytest.raises(CloudStackApiException) as untrusted:
        api.registerTemplate(
            name="tls",
            displaytext="tls",
            url=url,
            format="QCOW2",
            hypervisor="KVM",
            zoneid=env.stack.zone_id,
            directdownload=True,
        )
    assert "unknown authority" in untrusted.value.error["errortext"]

    # Invalid, expired and reserved-alias uploads are refused with clear errors.
    for certificate, name, words in (
        ("XXXXXXXXXX", "junk", "certificate"),
        (ca_body(trustme.CA().cert_pem.bytes()), "cloudca-mine", "reserved"),
    ):
        with pytest.raises(CloudStackApiException) as refused:
            api.uploadTemplateDirectDownloadCertificate(
                certificate=certificate, name=name, hypervisor="KVM", zoneid=env.stack.zone_id
            )
        assert words in refused.value.error["errortext"].lower()

    # Upload while the second host is down: it shows FAILED, never UPLOADED.
    assert env.second.stop() == 0
    assert wait_until(
        lambda: api.listHosts(id=env.hosts[two])["host"][0]["state"] != "Up",
        timeout_s=30,
        interval_s=0.3,
    ), "timed out waiting for host 2 down"
    uploaded = api.uploadTemplateDirectDownloadCertificate(
        certificate=ca_body(env.origin.ca_pem),
        name="origin-ca",
        hypervisor="KVM",
        zoneid=env.stack.zone_id,
    )["uploadtemplatedirectdownloadcertificate"]
    cert_id = uploaded["id"]
    assert {h["hostid"]: h["status"] for h in uploaded["hostsmap"]} == {
        env.hosts[one]: "UPLOADED",
        env.hosts[two]: "FAILED",
    }
    with pytest.raises(CloudStackApiException) as duplicate:
        api.uploadTemplateDirectDownloadCertificate(
            certificate=ca_body(env.origin.ca_pem),
            name="origin-ca",
            hypervisor="KVM",
            zoneid=env.stack.zone_id,
        )
    assert "already" in duplicate.value.error["errortext"]

    # The host comes back: the connect sync gives it the certificate.
    env.second = start_agent(
        env.second_port,
        env.stack.workdir / "agent2-state",
        env.stack.workdir / "agent2.log",
        env.second_env,
    )
    assert wait_until(
        lambda: status_by_host(api, cert_id)[env.hosts[two]] == "UPLOADED",
        timeout_s=60,
        interval_s=0.3,
    ), "timed out waiting for sync to host 2"

    template = api.registerTemplate(
        name="tls",
        displaytext="tls",
        url=url,
        format="QCOW2",
        hypervisor="KVM",
        zoneid=env.stack.zone_id,
        directdownload=True,
    )["template"][0]
    assert prepare_on(env, template["id"], one)["jobstatus"] == 1
    assert prepare_on(env, template["id"], two)["jobstatus"] == 1
    # Registered now: its URL check runs on a random Up host, which must still trust the CA.
    second = api.registerTemplate(
        name="tls-2",
        displaytext="tls-2",
        url=url,
        format="QCOW2",
        hypervisor="KVM",
        zoneid=env.stack.zone_id,
        directdownload=True,
    )["template"][0]

    # Revoke on host 2 only: it can no longer download from the origin; host 1 still can.
    revoked = api.revokeTemplateDirectDownloadCertificate(
        id=cert_id, zoneid=env.stack.zone_id, hostid=env.hosts[two]
    )
    assert [h["status"] for h in revoked["directdownloadcertificatehoststatus"]] == ["REVOKED"]
    failed = prepare_on(env, second["id"], two)
    assert failed["jobstatus"] == 2 and "unknown authority" in failed["jobresult"]["errortext"]
    assert prepare_on(env, second["id"], one)["jobstatus"] == 1
    assert status_by_host(api, cert_id) == {env.hosts[one]: "UPLOADED", env.hosts[two]: "REVOKED"}

    # Provision re-uploads it to that host.
    provisioned = api.provisionTemplateDirectDownloadCertificate(id=cert_id, hostid=env.hosts[two])
    assert provisioned["directdownloadcertificatehoststatus"]["status"] == "UPLOADED"
    assert prepare_on(env, second["id"], two)["jobstatus"] == 1

    # A host added after the upload gets the certificate from the sync addHost queues.
    workdir = env.stack.workdir
    third_port = free_port()
    third = start_agent(
        third_port,
        workdir / "agent3-state",
        workdir / "agent3.log",
        {"KVMCLOUD_AGENT_CERT_DIR": str(workdir / "certs-3")},
    )
    try:
        host3 = add_host(env.stack, third_port, workdir / "agent3-state")["id"]
        assert wait_until(
            lambda: status_by_host(api, cert_id).get(host3) == "UPLOADED",
            timeout_s=30,
            interval_s=0.3,
        ), "timed out waiting for sync to a new host"
        held = workdir / "certs-3" / "origin-ca.pem"
        assert held.exists()
        # The host loses the file: its heartbeats show it, and the periodic task puts it back.
        held.unlink()
        assert wait_until(
            lambda: status_by_host(api, cert_id)[host3] == "FAILED",
            timeout_s=30,
            interval_s=0.3,
        ), "timed out waiting for heartbeat reconciliation"
        api.updateConfiguration(
            name="direct.download.certificate.background.task.interval", value="0.0005"
        )  # 1.8 s
        assert wait_until(
            lambda: status_by_host(api, cert_id)[host3] == "UPLOADED",
            timeout_s=60,
            interval_s=0.3,
        ), "timed out waiting for periodic sync"
        assert held.exists()
        api.updateConfiguration(
            name="direct.download.certificate.background.task.interval", value="0"
        )
        # Revoked stays revoked: the periodic task did not push to host 2 again.
        assert status_by_host(api, cert_id)[env.hosts[two]] == "UPLOADED"  # provisioned above
    finally:
        third.stop()

    # A non-admin account gets an error, not data.
    created = subprocess.run(
        [sys.executable, "-m", "kvmcloud.server", "create-account", "bob"],
        env=base_env()
        | {
            "KVMCLOUD_DATABASE_URL": env.stack.database_url,
            "KVMCLOUD_LOG_LEVEL": "ERROR",
            "KVMCLOUD_CONFIG_DIR": str(env.stack.config_dir),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    fields = dict(line.split(":", 1) for line in created.stdout.splitlines() if ":" in line)
    bob = CloudStack(
        endpoint=env.stack.endpoint,
        key=fields["api key"].strip(),
        secret=fields["secret key"].strip(),
    )
    for call in (
        lambda: bob.listTemplateDirectDownloadCertificates(),
        lambda: bob.provisionTemplateDirectDownloadCertificate(id=cert_id, hostid=env.hosts[one]),
    ):
        with pytest.raises(CloudStackApiException) as refused:
            call()
        assert refused.value.error["errorcode"] == 432
