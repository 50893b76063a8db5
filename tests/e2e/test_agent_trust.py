"""Agent trust end to end: mutual TLS both ways, one-time enrolment, reset on the host.

Real server and agent processes (the module's stack). Who may talk to whom is decided
by certificates from the server's CA (in the server's KVMCLOUD_CONFIG_DIR/pki) and by
names in them: agents accept only the management server's certificate, and the server's
agent listener takes a heartbeat only with the certificate of the host it names.
"""

import json
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from kvmcloud import pki
from kvmcloud.protocol import agent_messages as msg
from tests.e2e.conftest import Stack
from tests.support.processes import free_port, start_agent, start_server
from tests.support.trust import TestTrust, agent_command, agent_token
from tests.support.waiting import wait_until

CHECK_POOL = json.dumps(
    {
        "id": "x",
        "type": "CheckPool",
        "payload": {"pool": {"uuid": "p", "type": "Filesystem", "path": "/nowhere"}},
    }
)


@pytest.fixture(scope="module")
def server_trust(stack: Stack) -> TestTrust:
    """The running server's own CA and certificate."""
    return TestTrust.of(stack.config_dir / "pki")


def client_with(
    tmp_path: Path, key_pem: str | None, cert_pem: str | None, ca_pem: str
) -> httpx.Client:
    """A client trusting ``ca_pem``, presenting ``cert_pem`` (or nothing)."""
    context = ssl.create_default_context(cadata=ca_pem)
    if key_pem and cert_pem:
        (tmp_path / "c.key").write_text(key_pem)
        (tmp_path / "c.pem").write_text(cert_pem)
        context.load_cert_chain(tmp_path / "c.pem", tmp_path / "c.key")
    return httpx.Client(verify=context, timeout=10)


def refused(client: httpx.Client, url: str, **kwargs: object) -> bool:
    """Tell whether the TLS handshake (or the first read) was refused."""
    try:
        client.post(url, **kwargs)  # type: ignore[arg-type]
    except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
        return True
    return False


def test_agent_refuses_clients_without_the_servers_certificate(
    stack: Stack, server_trust: TestTrust, tmp_path: Path
) -> None:
    url = f"{stack.agent_url}/commands"
    ca = server_trust.pki.ca_pem
    other_key, other_ca = pki.new_ca(datetime.now(UTC))
    stranger_key = pki.new_key_pem()
    stranger = pki.issue(
        other_key,
        other_ca,
        pki.public_key_pem(stranger_key),
        common_name=pki.SERVER_COMMON_NAME,
        addresses=["127.0.0.1"],
        now=datetime.now(UTC),
    )
    host_key, host_cert = server_trust.issue("some-other-host")

    with client_with(tmp_path, None, None, ca) as no_cert:
        assert refused(no_cert, url, content=CHECK_POOL)
    # The right name, signed by another CA.
    with client_with(tmp_path, stranger_key, stranger, ca) as other_ca_client:
        assert refused(other_ca_client, url, content=CHECK_POOL)
    # The server's CA, but a host's certificate: the handshake passes, the request does not.
    with client_with(tmp_path, host_key, host_cert, ca) as host_client:
        response = host_client.post(url, content=CHECK_POOL, headers={"Authorization": "Bearer x"})
        assert response.status_code == 401
    # Plain HTTP gets no answer at all.
    with pytest.raises(httpx.HTTPError):
        httpx.post(url.replace("https://", "http://"), content=CHECK_POOL, timeout=5)
    # The server's certificate with a wrong key: still 401 (the key is checked too).
    with server_trust.client(timeout=10) as server:
        response = server.post(url, content=CHECK_POOL, headers={"Authorization": "Bearer guess"})
        assert response.status_code == 401


def test_server_agent_listener_wants_the_certificate_of_the_host_that_heartbeats(
    stack: Stack, server_trust: TestTrust, tmp_path: Path
) -> None:
    port = stack.server.env["KVMCLOUD_AGENTS_PORT"]
    url = f"https://127.0.0.1:{port}/agent/v1/heartbeat"
    ca = server_trust.pki.ca_pem
    beat = msg.to_json(
        msg.Heartbeat(
            host_uuid=stack.host_id,
            report=msg.HostReport(
                hostname="x",
                agent_version="0",
                cpu_count=1,
                cpu_mhz=1,
                memory_bytes=1,
                hypervisor_version="x",
                kvm_available=False,
            ),
        )
    )
    headers = {"Authorization": "Bearer not-the-key", msg.HOST_UUID_HEADER: stack.host_id}

    with client_with(tmp_path, None, None, ca) as no_cert:
        assert refused(no_cert, url, content=beat, headers=headers)
    other_key, other_cert = server_trust.issue("another-host-uuid")
    with client_with(tmp_path, other_key, other_cert, ca) as wrong_host:
        assert wrong_host.post(url, content=beat, headers=headers).status_code == 403
    own_key, own_cert = server_trust.issue(stack.host_id)
    with client_with(tmp_path, own_key, own_cert, ca) as right_host:
        # The right certificate but not the host's key: refused, before the body is read.
        assert right_host.post(url, content=beat, headers=headers).status_code == 401
    # The API port does not serve agents at all.
    api_heartbeat = stack.endpoint.replace("/client/api", "/agent/v1/heartbeat")
    assert httpx.post(api_heartbeat, content=beat, headers=headers).status_code == 404
    assert stack.api.listHosts(id=stack.host_id)["host"][0]["state"] == "Up"


def test_enrolled_agent_refuses_re_enrolment_and_limits_attempts(
    stack: Stack, server_trust: TestTrust
) -> None:
    body = json.dumps({"host_uuid": "h", "host_key": "k", "server_url": "https://127.0.0.1:1"})
    token = stack.agent_token.rpartition(".")[0]
    with server_trust.client(timeout=10) as server:
        statuses = [
            server.post(
                f"{stack.agent_url}/enroll",
                content=body,
                headers={"Authorization": f"Bearer {token}"},
            ).status_code
            for _ in range(7)
        ]
    # The token of the first enrolment is used up: 409 until the bucket of failures is empty.
    assert statuses[0] == 409
    assert statuses[-1] == 429
    assert set(statuses) == {409, 429}
    assert stack.api.listHosts(id=stack.host_id)["host"][0]["state"] == "Up"


@pytest.fixture
def spare_agent(stack: Stack) -> Iterator[tuple[int, Path]]:
    port, state_dir = free_port(), stack.workdir / f"spare-{free_port()}"
    log = stack.workdir / f"{state_dir.name}.log"
    agent = start_agent(port, state_dir, log)
    try:
        yield port, state_dir
    finally:
        agent.stop()


def test_reset_on_the_host_allows_a_new_enrolment(stack: Stack, server_trust: TestTrust) -> None:
    port, state_dir = free_port(), stack.workdir / "reset-agent"
    log = stack.workdir / "reset-agent.log"
    agent_url = f"https://127.0.0.1:{port}"
    server_url = f"https://127.0.0.1:{stack.server.env['KVMCLOUD_AGENTS_PORT']}"
    agent = start_agent(port, state_dir, log)
    try:
        first_token = agent_token(state_dir)
        server_trust.enrol(agent_url, first_token, key="k1", server_url=server_url, host_uuid="r1")
        assert "enrolled" in agent_command(state_dir, "show-token").stderr
        # Enrolled, it serves its CA-issued certificate: the token's pin no longer matches,
        # so a server does not even send the token (and the agent would answer 409).
        with pytest.raises(Exception, match="certificate other than"):
            server_trust.enrol(
                agent_url, first_token, key="k2", server_url=server_url, host_uuid="r2"
            )
        agent.stop()

        reset = agent_command(state_dir, "reset-enrolment")
        assert reset.returncode == 0, reset.stderr
        agent = start_agent(port, state_dir, log)

        new_token = agent_token(state_dir)
        assert new_token != first_token
        with pytest.raises(Exception, match="certificate other than"):
            server_trust.enrol(
                agent_url, first_token, key="k2", server_url=server_url, host_uuid="r2"
            )
        report = server_trust.enrol(
            agent_url, new_token, key="k2", server_url=server_url, host_uuid="r2"
        )
        assert report.hostname
    finally:
        agent.stop()


def test_new_token_made_on_the_host_replaces_the_old_one(
    stack: Stack, server_trust: TestTrust, spare_agent: tuple[int, Path]
) -> None:
    port, state_dir = spare_agent
    agent_url = f"https://127.0.0.1:{port}"
    old = agent_token(state_dir)
    made = agent_command(state_dir, "new-token")
    new = agent_token(state_dir)
    server_url = f"https://127.0.0.1:{stack.server.env['KVMCLOUD_AGENTS_PORT']}"

    assert made.returncode == 0 and new in made.stdout and new != old
    with pytest.raises(Exception, match="refused to enrol"):
        server_trust.enrol(agent_url, old, key="k", server_url=server_url, host_uuid="spare-2")
    report = server_trust.enrol(agent_url, new, key="k", server_url=server_url, host_uuid="spare-2")
    assert report.hostname


def test_a_certificate_due_for_renewal_is_renewed_over_mutual_tls(
    stack: Stack, server_trust: TestTrust
) -> None:
    """Last in the module: it restarts the server (the renewal task runs at its start)."""
    agent_pem = stack.workdir / "agent-state" / "tls" / "agent.pem"
    before = agent_pem.read_text()
    with stack.db.begin() as conn:
        conn.execute(
            text("update host set certificate_expires = :t where uuid = :u"),
            {"t": datetime.now(UTC) + timedelta(days=30), "u": stack.host_id},
        )
        # The hourly task ran when this server started: forget that, so it runs at restart.
        conn.execute(text("delete from periodic_task_run where name = 'agent-certificate-renewal'"))
    port = int(stack.server.env["KVMCLOUD_LISTEN_PORT"])
    agents_port = int(stack.server.env["KVMCLOUD_AGENTS_PORT"])
    stack.server.stop()
    stack.server = start_server(
        stack.database_url, port, stack.workdir / "server.log", stack.config_dir, agents_port
    )

    assert wait_until(lambda: agent_pem.read_text() != before, timeout_s=60, interval_s=0.5)
    after = agent_pem.read_text()
    assert pki.common_name(after) == stack.host_id
    assert pki.certificate_public_key(after) != pki.certificate_public_key(before)
    assert wait_until(
        lambda: stack.api.listHosts(id=stack.host_id)["host"][0]["state"] == "Up",
        timeout_s=30,
        interval_s=0.5,
    )
    # The agent now serves the new certificate, verified through the CA like any other.
    with server_trust.client(timeout=10) as server:
        response = server.post(f"{stack.agent_url}/commands", content=CHECK_POOL)
        assert response.status_code == 401  # the handshake passed; no key was given
        served = response.extensions["network_stream"].get_extra_info("ssl_object")
        assert pki.fingerprint_der(served.getpeercert(True)) == pki.fingerprint(after)
