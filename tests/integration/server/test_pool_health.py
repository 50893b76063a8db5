"""Heartbeat pool checks: a pool its hosts fail goes Down, leaves placement, comes back Up."""

import logging

import pytest

from kvmcloud.protocol import agent_messages as msg
from tests.fakes import FAKE_TOKEN
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness

SECOND_URL = "https://127.0.0.2:8252"


def beat(server: ServerHarness, host_uuid: str, agent_url: str, *checks: msg.PoolHealth) -> None:
    agent = server.agents.agents[agent_url]
    body = msg.to_json(
        msg.Heartbeat(host_uuid=host_uuid, report=agent.report, pool_health=list(checks))
    )
    response = server.agent_api.post(
        "/agent/v1/heartbeat",
        content=body,
        headers={"Authorization": f"Bearer {agent.key}", "X-Kvmcloud-Host": host_uuid},
    )
    assert response.status_code == 200, response.text


def state(server: ServerHarness, cloud: Cloud) -> str:
    return str(server.ok("listStoragePools", id=cloud.pool_id)["storagepool"][0]["state"])


def add_host(server: ServerHarness, cloud: Cloud, cluster_id: str) -> str:
    server.agents.add(SECOND_URL)
    return str(
        server.ok(
            "addHost",
            zoneid=cloud.zone_id,
            podid=cloud.pod_id,
            clusterid=cluster_id,
            url="http://127.0.0.2",
            username="root",
            password=FAKE_TOKEN,
            hypervisor="KVM",
        )["host"][0]["id"]
    )


def failing(pool_id: str) -> msg.PoolHealth:
    return msg.PoolHealth(uuid=pool_id, problem="server 10.0.0.5 did not answer", access="mount")


def test_a_failing_check_takes_the_pool_down_and_a_passing_one_brings_it_back(
    server: ServerHarness, cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kvmcloud.server.infrastructure.heartbeats")
    beat(server, cloud.host_id, AGENT_URL, failing(cloud.pool_id))

    assert state(server, cloud) == "Down"
    assert "storage pool pool1 is Down (host kvm1): server 10.0.0.5 did not answer" in caplog.text
    assert f"host kvm1 reaches pool {cloud.pool_id} by mount" in caplog.text

    beat(server, cloud.host_id, AGENT_URL, msg.PoolHealth(uuid=cloud.pool_id))

    assert state(server, cloud) == "Up"


def test_the_pool_stays_down_while_any_host_of_its_scope_fails_it(
    server: ServerHarness, cloud: Cloud
) -> None:
    second = add_host(server, cloud, cloud.cluster_id)
    beat(server, cloud.host_id, AGENT_URL, failing(cloud.pool_id))
    beat(server, second, SECOND_URL, msg.PoolHealth(uuid=cloud.pool_id))

    assert state(server, cloud) == "Down"

    beat(server, cloud.host_id, AGENT_URL, msg.PoolHealth(uuid=cloud.pool_id))

    assert state(server, cloud) == "Up"


def test_a_host_outside_the_pools_scope_is_not_believed(
    server: ServerHarness, cloud: Cloud
) -> None:
    cluster = server.ok(
        "addCluster", clustername="c2", zoneid=cloud.zone_id, podid=cloud.pod_id, hypervisor="KVM"
    )["cluster"][0]
    other = add_host(server, cloud, cluster["id"])

    beat(server, other, SECOND_URL, failing(cloud.pool_id))

    assert state(server, cloud) == "Up"


def test_a_disabled_pool_keeps_its_state_whatever_the_checks_say(
    server: ServerHarness, cloud: Cloud
) -> None:
    server.ok("updateStoragePool", id=cloud.pool_id, enabled="false")
    beat(server, cloud.host_id, AGENT_URL, failing(cloud.pool_id))

    assert state(server, cloud) == "Disabled"
