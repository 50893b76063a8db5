"""Heartbeat pool inventories: a Ready copy whose file a host misses is downloaded again."""

from typing import Any

import pytest
from sqlalchemy import select

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.templates.inventory import INVENTORY_GRACE_S
from kvmcloud.server.templates.models import TemplatePoolRef
from tests.fakes import FAKE_TOKEN
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness

POOL_PATH = "/var/lib/kvmcloud/pool1"


def ready_copy(server: ServerHarness, cloud: Cloud) -> str:
    """Register a template and download it to the pool; return the copy's file name."""
    template = server.ok(
        "registerTemplate",
        name="tiny",
        displaytext="tiny",
        url="http://127.0.0.1:9/tiny.qcow2",
        format="QCOW2",
        hypervisor="KVM",
        zoneid=cloud.zone_id,
        directdownload="true",
    )["template"][0]
    server.ok("prepareTemplate", templateid=template["id"], zoneid=cloud.zone_id)
    assert server.run_jobs() == 1
    ref = copy_row(server)
    assert ref["state"] == "Ready"
    return str(ref["local_path"])


def copy_row(server: ServerHarness) -> dict[str, Any]:
    with server.db.transaction() as session:
        ref = session.scalars(select(TemplatePoolRef)).one()
        return {
            "state": ref.state,
            "download_state": ref.download_state,
            "error_str": ref.error_str,
            "local_path": ref.local_path,
            "install_path": ref.install_path,
        }


def beat(
    server: ServerHarness,
    host_uuid: str,
    agent_url: str,
    *inventories: msg.PoolInventory,
    shutting_down: bool = False,
) -> None:
    agent = server.agents.agents[agent_url]
    body = msg.to_json(
        msg.Heartbeat(
            host_uuid=host_uuid,
            report=agent.report,
            shutting_down=shutting_down,
            pool_inventory=list(inventories),
        )
    )
    response = server.agent_api.post(
        "/agent/v1/heartbeat",
        content=body,
        headers={"Authorization": f"Bearer {agent.key}", "X-Kvmcloud-Host": host_uuid},
    )
    assert response.status_code == 200, response.text


def inventory(pool_id: str, *files: str, **fields: Any) -> msg.PoolInventory:
    values: dict[str, Any] = {"uuid": pool_id, "path": POOL_PATH, "files": list(files)}
    values.update(fields)
    return msg.PoolInventory(**values)


def test_a_missing_file_resets_the_copy_and_the_next_prepare_downloads_it(
    server: ServerHarness, cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    name = ready_copy(server, cloud)
    server.clock.advance(INVENTORY_GRACE_S + 1)

    beat(server, cloud.host_id, AGENT_URL, inventory(cloud.pool_id, "some-volume"))

    ref = copy_row(server)
    assert (ref["state"], ref["download_state"], ref["install_path"]) == (
        "Allocated",
        "NOT_DOWNLOADED",
        None,
    )
    assert f"The file {name} was missing on pool pool1 per host kvm1" in ref["error_str"]
    assert f"file {name} is missing on pool pool1 per host kvm1" in caplog.text
    listed = server.ok("listTemplates", templatefilter="all", showunique="true")["template"][0]
    template_id = listed["id"]
    # The next use downloads it again (it would otherwise fail on a missing backing file).
    sent = len(server.agents.agents[AGENT_URL].sent(msg.DirectDownloadCommand))
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    assert server.run_jobs() == 1
    assert len(server.agents.agents[AGENT_URL].sent(msg.DirectDownloadCommand)) == sent + 1
    assert copy_row(server)["state"] == "Ready"


def test_a_copy_updated_within_the_grace_period_is_left_alone(
    server: ServerHarness, cloud: Cloud
) -> None:
    ready_copy(server, cloud)
    server.clock.advance(INVENTORY_GRACE_S - 1)

    # The listing may have been taken just before the download was published.
    beat(server, cloud.host_id, AGENT_URL, inventory(cloud.pool_id))

    assert copy_row(server)["state"] == "Ready"


def test_a_present_file_and_inconclusive_listings_change_nothing(
    server: ServerHarness, cloud: Cloud
) -> None:
    name = ready_copy(server, cloud)
    server.clock.advance(INVENTORY_GRACE_S + 1)

    beat(server, cloud.host_id, AGENT_URL, inventory(cloud.pool_id, "other", name))
    # Truncated: the name may be past the cut. Another path: not the pool's directory.
    beat(server, cloud.host_id, AGENT_URL, inventory(cloud.pool_id, truncated=True))
    beat(server, cloud.host_id, AGENT_URL, inventory(cloud.pool_id, path="/mnt/elsewhere"))
    # A pool the server does not know, and a goodbye beat: ignored.
    beat(server, cloud.host_id, AGENT_URL, inventory("no-such-pool"))
    beat(server, cloud.host_id, AGENT_URL, inventory(cloud.pool_id), shutting_down=True)

    assert copy_row(server)["state"] == "Ready"


def test_a_host_that_does_not_reach_the_pool_is_not_believed(
    server: ServerHarness, cloud: Cloud
) -> None:
    ready_copy(server, cloud)
    other_url = "https://127.0.0.2:8252"
    server.agents.add(other_url)
    cluster = server.ok(
        "addCluster",
        clustername="c2",
        zoneid=cloud.zone_id,
        podid=cloud.pod_id,
        hypervisor="KVM",
    )["cluster"][0]
    other = server.ok(
        "addHost",
        zoneid=cloud.zone_id,
        podid=cloud.pod_id,
        clusterid=cluster["id"],
        url="http://127.0.0.2",
        username="root",
        password=FAKE_TOKEN,
        hypervisor="KVM",
    )["host"][0]
    server.clock.advance(INVENTORY_GRACE_S + 1)

    # pool1 is scoped to cluster c1: a host of c2 listing the same path sees another disk.
    beat(server, other["id"], other_url, inventory(cloud.pool_id))

    assert copy_row(server)["state"] == "Ready"
