"""The /agent/v1 edge refuses before it works: credentials, then body size, then JSON depth."""

import itertools
import json

from kvmcloud import pki
from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.api.agent_routes import MAX_HEARTBEAT_BYTES
from tests.fakes import FAKE_BOOTSTRAP_PEM
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness
from tests.support import asgi

PATH = "/agent/v1/heartbeat"
MIB = b"x" * (1024 * 1024)


def headers(cloud: Cloud, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", msg.HOST_UUID_HEADER: cloud.host_id}


def test_wrong_key_with_a_huge_body_is_refused_before_any_byte_is_read(
    server: ServerHarness, cloud: Cloud
) -> None:
    # 200 MiB offered lazily: the route must answer without asking for a single chunk.
    result = asgi.post(
        server.agent_api.app,
        PATH,
        headers=headers(cloud, "x"),
        chunks=itertools.repeat(MIB, 200),
        content_length=200 * len(MIB),
    )

    assert result.status == 401
    assert result.chunks_read == 0


def test_declared_oversized_body_is_refused_unread(server: ServerHarness, cloud: Cloud) -> None:
    key = server.agents.agents[AGENT_URL].key
    result = asgi.post(
        server.agent_api.app,
        PATH,
        headers=headers(cloud, key),
        chunks=itertools.repeat(MIB, 200),
        content_length=200 * len(MIB),
    )

    assert result.status == 413
    assert result.chunks_read == 0


def test_streamed_oversized_body_is_cut_at_the_cap(server: ServerHarness, cloud: Cloud) -> None:
    key = server.agents.agents[AGENT_URL].key
    # No Content-Length (chunked): reading stops at the first chunk over the cap.
    result = asgi.post(
        server.agent_api.app, PATH, headers=headers(cloud, key), chunks=itertools.repeat(MIB, 200)
    )

    assert result.status == 413
    assert result.bytes_read <= MAX_HEARTBEAT_BYTES + len(MIB)


def test_deep_json_is_a_400_without_traceback(server: ServerHarness, cloud: Cloud) -> None:
    key = server.agents.agents[AGENT_URL].key
    body = b"[" * 200_000 + b"]" * 200_000

    response = server.agent_api.post(PATH, content=body, headers=headers(cloud, key))

    assert response.status_code == 400
    assert "deeper than" in response.json()["error"]
    assert "Traceback" not in response.text


def test_malformed_heartbeat_with_a_wrong_key_gets_401_not_a_parse_message(
    server: ServerHarness, cloud: Cloud
) -> None:
    body = json.dumps({"host_uuid": cloud.host_id})

    response = server.agent_api.post(PATH, content=body, headers=headers(cloud, "wrong"))

    assert response.status_code == 401
    assert "report" not in response.text


def test_missing_host_header_is_401(server: ServerHarness, cloud: Cloud) -> None:
    key = server.agents.agents[AGENT_URL].key
    beat = msg.Heartbeat(host_uuid=cloud.host_id, report=server.agents.agents[AGENT_URL].report)

    response = server.agent_api.post(
        PATH, content=msg.to_json(beat), headers={"Authorization": f"Bearer {key}"}
    )

    assert response.status_code == 401


def test_heartbeat_for_another_host_than_authenticated_is_400(
    server: ServerHarness, cloud: Cloud
) -> None:
    agent = server.agents.agents[AGENT_URL]
    beat = msg.Heartbeat(host_uuid="someone-else", report=agent.report)

    response = server.agent_api.post(
        PATH, content=msg.to_json(beat), headers=headers(cloud, agent.key)
    )

    assert response.status_code == 400


def test_agent_routes_are_not_on_the_api_port(server: ServerHarness, cloud: Cloud) -> None:
    agent = server.agents.agents[AGENT_URL]
    beat = msg.Heartbeat(host_uuid=cloud.host_id, report=agent.report)

    response = server.client.post(
        PATH, content=msg.to_json(beat), headers=headers(cloud, agent.key)
    )

    assert response.status_code == 404


def test_add_host_needs_the_token_with_the_agents_fingerprint(
    server: ServerHarness, cloud: Cloud
) -> None:
    server.agents.add("https://127.0.0.2:8252")
    base = {
        "zoneid": cloud.zone_id,
        "podid": cloud.pod_id,
        "clusterid": cloud.cluster_id,
        "url": "http://127.0.0.2",
        "username": "root",
        "hypervisor": "KVM",
    }

    no_fingerprint, body = server.call("addHost", password="enrol-token-for-tests", **base)
    assert no_fingerprint == 431 and "password" in body["errortext"]
    other_fingerprint, body = server.call(
        "addHost", password=f"enrol-token-for-tests.{'0' * 64}", **base
    )
    assert other_fingerprint == 431 and "password" in body["errortext"]
    assert server.ok("listHosts")["count"] == 1


def test_enrolment_hands_the_agent_a_certificate_from_the_ca(
    server: ServerHarness, cloud: Cloud
) -> None:
    agent = server.agents.agents[AGENT_URL]
    ca_pem = (server.services.settings.pki_dir / "ca.pem").read_text()

    assert agent.ca_pem == ca_pem
    assert pki.common_name(agent.certificate_pem) == cloud.host_id
    assert pki.subject_addresses(agent.certificate_pem) == ["127.0.0.1"]
    assert pki.certificate_public_key(agent.certificate_pem) == pki.certificate_public_key(
        FAKE_BOOTSTRAP_PEM
    )
