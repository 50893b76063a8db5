"""Pool sizes from a real agent's heartbeats, maintenance, and deleting a pool's files."""

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cs import CloudStackApiException

from tests.e2e.conftest import Stack, register_template, running_stack, wait_jobs
from tests.support.processes import start_agent
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("e2e-pools")
    with running_stack(f"sqlite:///{workdir}/kvmcloud.db", workdir) as running:
        # Heartbeats every second, so a restarted agent's first (inventory) beat comes now.
        running.api.updateConfiguration(name="ping.interval", value="1")
        yield running


def pool(stack: Stack) -> dict[str, Any]:
    (listed,) = stack.api.listStoragePools(id=stack.pool_id)["storagepool"]
    return dict(listed)


def prepare(stack: Stack, name: str) -> dict[str, Any]:
    template = register_template(stack, name)
    prepared = stack.api.prepareTemplate(
        templateid=template["id"], zoneid=stack.zone_id, storageid=stack.pool_id
    )
    (result,) = wait_jobs(stack.api, [prepared["template"][0]["downloaddetails"][0]["jobid"]])
    assert result["jobstatus"] == 1, result
    return template


def restart_agent(stack: Stack) -> None:
    """Restart the agent; return once its host is Up again.

    The stopping agent's last heartbeat marks the host Disconnected; the next test needs an
    Up host (registration checks the URL through one).
    """
    stack.agent.stop()
    stack.agent = start_agent(
        stack.agent_port,
        stack.workdir / "agent-state",
        stack.workdir / "agent.log",
        stack.agent_env,
    )
    assert wait_until(
        lambda: stack.api.listHosts(id=stack.host_id)["host"][0]["state"] == "Up",
        timeout_s=TIMEOUT_S,
        interval_s=0.2,
    ), stack.api.listHosts(id=stack.host_id)


def test_pool_sizes_come_from_the_agents_inventory(stack: Stack) -> None:
    prepare(stack, "e2e-sizes")
    assert pool(stack)["disksizeallocated"] == 1024 * 1024  # the copy's virtual size
    with stack.db.begin() as conn:
        conn.exec_driver_sql(
            "update storage_pool set capacity_bytes = 1, available_bytes = 0 where uuid = ?",
            (stack.pool_id,),
        )
    assert pool(stack)["disksizetotal"] == 1
    restart_agent(stack)
    stats = os.statvfs(stack.pool_path)
    total = stats.f_blocks * stats.f_frsize
    deadline = time.monotonic() + TIMEOUT_S
    while pool(stack)["disksizetotal"] != total:
        assert time.monotonic() < deadline, pool(stack)
        time.sleep(0.3)
    used = pool(stack)["disksizeused"]
    assert 0 < used <= total
    assert abs(used - (total - stats.f_bavail * stats.f_frsize)) < 64 << 20


def test_maintenance_then_delete_removes_the_copies_from_the_pool(stack: Stack) -> None:
    template = prepare(stack, "e2e-delete")
    (copy,) = stack.rows(
        "select r.install_path from template_spool_ref r join vm_template t "
        "on t.id = r.template_id where t.uuid = :id",
        id=template["id"],
    )
    published = stack.pool_path / copy["install_path"].rsplit("/", 1)[-1]
    assert published.is_file()
    with pytest.raises(CloudStackApiException) as refused:
        stack.api.deleteStoragePool(id=stack.pool_id)
    assert "not in Maintenance state" in str(refused.value)
    result = stack.api.enableStorageMaintenance(id=stack.pool_id)
    assert result["storagepool"]["state"] == "Maintenance"
    with pytest.raises(CloudStackApiException) as refused:
        stack.api.prepareTemplate(
            templateid=template["id"], zoneid=stack.zone_id, storageid=stack.pool_id
        )
    assert "storageid" in str(refused.value)
    assert stack.api.deleteStoragePool(id=stack.pool_id)["success"] is True
    assert not published.exists()
    assert [f for f in stack.pool_files() if not f.startswith(".")] == []
    assert stack.rows("select id from template_spool_ref") == []
    assert stack.api.listStoragePools().get("storagepool") is None
    # The pool's directory stays: it is the operator's.
    assert stack.pool_path.is_dir()
