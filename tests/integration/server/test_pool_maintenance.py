"""enableStorageMaintenance, cancelStorageMaintenance and deleteStoragePool, through the API."""

from typing import Any

from sqlalchemy import func, select, update

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.infrastructure.models import Host, StoragePool
from kvmcloud.server.templates.models import TemplatePoolRef
from kvmcloud.server.vms.models import Volume
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness
from tests.integration.server.test_pool_inventory import beat as send_beat
from tests.integration.server.test_pool_inventory import inventory
from tests.integration.server.test_vms import agent, deploy, offering, register

UNKNOWN = "8f0c4a8e-3f0b-4b59-9a57-0c1d2e3f4a5b"


def job(server: ServerHarness, command: str, **params: Any) -> dict[str, Any]:
    reply = server.ok(command, **params)
    server.run_jobs()
    return server.ok("queryAsyncJobResult", jobid=reply["jobid"])


def state(server: ServerHarness, pool_id: str) -> str:
    (listed,) = server.ok("listStoragePools", id=pool_id)["storagepool"]
    return str(listed["state"])


def copies_on(server: ServerHarness) -> int:
    with server.db.transaction() as session:
        return session.scalar(select(func.count(TemplatePoolRef.id))) or 0


def beat(server: ServerHarness, host_id: str, *inventories: msg.PoolInventory) -> None:
    send_beat(server, host_id, AGENT_URL, *inventories)


def volume_file(server: ServerHarness, volume_id: str) -> str:
    with server.db.transaction() as session:
        return session.scalars(select(Volume.path).where(Volume.uuid == volume_id)).one()


def maintain(server: ServerHarness, cloud: Cloud) -> None:
    result = job(server, "enableStorageMaintenance", id=cloud.pool_id)
    assert result["jobstatus"] == 1, result
    assert result["jobresult"]["storagepool"]["state"] == "Maintenance"


def test_maintenance_takes_the_pool_out_of_placement_and_back(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id, offering_id = register(server, cloud), offering(server)
    reply = server.ok("enableStorageMaintenance", id=cloud.pool_id)
    # Placement leaves it alone from the moment the command is accepted.
    assert state(server, cloud.pool_id) == "PrepareForMaintenance"
    server.run_jobs()
    result = server.ok("queryAsyncJobResult", jobid=reply["jobid"])
    assert result["jobstatus"] == 1, result
    assert result["jobresult"]["storagepool"]["id"] == cloud.pool_id
    assert state(server, cloud.pool_id) == "Maintenance"
    refused = deploy(server, cloud, template_id, offering_id)
    assert refused["jobstatus"] == 2 and refused["jobresultcode"] == 533, refused
    status, body = server.call(
        "prepareTemplate", templateid=template_id, zoneid=cloud.zone_id, storageid=cloud.pool_id
    )
    assert status == 431 and "storageid" in body["errortext"], body
    assert "Maintenance" in body["errortext"]
    cancelled = job(server, "cancelStorageMaintenance", id=cloud.pool_id)
    assert cancelled["jobstatus"] == 1, cancelled
    assert cancelled["jobresult"]["storagepool"]["state"] == "Up"
    assert deploy(server, cloud, template_id, offering_id)["jobstatus"] == 1
    events = server.ok("listEvents", resourcetype="StoragePool", resourceid=cloud.pool_id)
    types = sorted(e["type"] for e in events["event"] if e["state"] == "Completed")
    assert types == ["MAINT.CANCEL.PS", "MAINT.PREPARE.PS"]


def test_maintenance_is_refused_while_running_vms_use_the_pool(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id, offering_id = register(server, cloud), offering(server)
    vm = deploy(server, cloud, template_id, offering_id, name="web-1")["jobresult"][
        "virtualmachine"
    ]
    status, body = server.call("enableStorageMaintenance", id=cloud.pool_id)
    assert status == 536, body
    assert "web-1 (Running)" in body["errortext"] and "stop them first" in body["errortext"]
    assert state(server, cloud.pool_id) == "Up"
    server.ok("stopVirtualMachine", id=vm["id"])
    server.run_jobs()
    maintain(server, cloud)
    # A stopped VM whose disk is on a pool in maintenance does not start.
    started = job(server, "startVirtualMachine", id=vm["id"])
    assert started["jobstatus"] == 2, started
    job(server, "cancelStorageMaintenance", id=cloud.pool_id)
    assert job(server, "startVirtualMachine", id=vm["id"])["jobstatus"] == 1


def test_maintenance_commands_refuse_bad_ids_and_states(
    server: ServerHarness, cloud: Cloud
) -> None:
    for command in ("enableStorageMaintenance", "cancelStorageMaintenance", "deleteStoragePool"):
        status, body = server.call(command)
        assert status == 431 and "missing parameter id" in body["errortext"], (command, body)
        status, body = server.call(command, id=UNKNOWN)
        assert status == 431 and "entity does not exist" in body["errortext"], (command, body)
        status, body = server.call(command, id="not-a-uuid")
        assert status == 431 and "id" in body["errortext"], (command, body)
        status, _ = server.call(command, server.user("alice" + command[:3]), id=cloud.pool_id)
        assert status == 432, command
    status, body = server.call("cancelStorageMaintenance", id=cloud.pool_id)
    assert status == 534, body
    assert body["errortext"] == (
        f"Primary storage with id {cloud.pool_id} is not ready to complete migration, as the "
        "status is:Up"
    )
    maintain(server, cloud)
    status, body = server.call("enableStorageMaintenance", id=cloud.pool_id)
    assert status == 431, body
    assert body["errortext"] == (
        f"Primary storage with id {cloud.pool_id} is not ready for migration, as the status "
        "is:Maintenance"
    )
    # A Disabled pool may enter maintenance too; cancelling brings it back Up.
    job(server, "cancelStorageMaintenance", id=cloud.pool_id)
    server.ok("updateStoragePool", id=cloud.pool_id, enabled=False)
    maintain(server, cloud)
    status, body = server.call("updateStoragePool", id=cloud.pool_id, enabled=True)
    assert status == 431 and "Storage pool state : Maintenance" in body["errortext"], body


def test_delete_needs_maintenance_then_removes_template_copies(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id = register(server, cloud)
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    server.run_jobs()
    assert copies_on(server) == 1
    status, body = server.call("deleteStoragePool", id=cloud.pool_id)
    assert status == 431, body
    assert body["errortext"] == (
        "Unable to delete storage due to it is not in Maintenance state, id: "
        f"{cloud.pool_id} (pool pool1 is Up)"
    )
    maintain(server, cloud)
    assert server.ok("deleteStoragePool", id=cloud.pool_id) == {"success": True}
    (deleted,) = agent(server).sent(msg.DeletePoolFileCommand)
    assert deleted.pool.uuid == cloud.pool_id and deleted.name
    assert copies_on(server) == 0
    assert server.ok("listStoragePools").get("storagepool") is None
    status, body = server.call("deleteStoragePool", id=cloud.pool_id)
    assert status == 431 and "entity does not exist" in body["errortext"], body
    # The name is free again.
    server.ok(
        "createStoragePool",
        name="pool1",
        zoneid=cloud.zone_id,
        clusterid=cloud.cluster_id,
        url="SharedMountPoint://localhost/var/lib/kvmcloud/pool1",
    )


def test_volumes_keep_the_pool_and_forced_expunges_destroyed_ones(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id, offering_id = register(server, cloud), offering(server)
    vm = deploy(server, cloud, template_id, offering_id, name="web-1")["jobresult"][
        "virtualmachine"
    ]
    (volume,) = server.ok("listVolumes", virtualmachineid=vm["id"])["volume"]
    server.ok("stopVirtualMachine", id=vm["id"])
    server.run_jobs()
    maintain(server, cloud)
    for forced in (False, True):
        status, body = server.call("deleteStoragePool", id=cloud.pool_id, forced=forced)
        assert status == 530, body
        assert body["errortext"].startswith(
            "Cannot delete pool pool1 as there are non-destroyed volumes associated to this pool."
        )
        assert "(VM web-1, Stopped)" in body["errortext"]
    server.ok("destroyVirtualMachine", id=vm["id"])
    server.run_jobs()
    status, body = server.call("deleteStoragePool", id=cloud.pool_id)
    assert status == 530 and "(VM web-1, Destroyed)" in body["errortext"], body
    assert agent(server).sent(msg.DeletePoolFileCommand) == []
    assert server.ok("deleteStoragePool", id=cloud.pool_id, forced=True) == {"success": True}
    names = {c.name for c in agent(server).sent(msg.DeletePoolFileCommand)}
    assert len(names) == 2 and volume_file(server, volume["id"]) in names
    assert server.ok("listVolumes", id=volume["id"]).get("volume") is None
    assert copies_on(server) == 0


def test_a_file_the_host_cannot_delete_keeps_the_pool_unless_forced(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id = register(server, cloud)
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    server.run_jobs()
    maintain(server, cloud)
    agent(server).delete_pool_file = lambda command: msg.Answer(
        ok=False, error=msg.ErrorInfo(code=ErrorCode.INTERNAL, message="read-only file system")
    )
    status, body = server.call("deleteStoragePool", id=cloud.pool_id)
    assert status == 530, body
    assert "copy of template tiny: read-only file system" in body["errortext"]
    assert state(server, cloud.pool_id) == "Maintenance" and copies_on(server) == 1
    assert server.ok("deleteStoragePool", id=cloud.pool_id, forced=True) == {"success": True}
    assert copies_on(server) == 0


def test_no_up_host_to_clean_up_refuses_unless_forced(server: ServerHarness, cloud: Cloud) -> None:
    template_id = register(server, cloud)
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    server.run_jobs()
    maintain(server, cloud)
    with server.db.transaction() as session:
        session.get_one(Host, 1).status = "Disconnected"  # type: ignore[assignment]
    status, body = server.call("deleteStoragePool", id=cloud.pool_id)
    assert status == 534, body
    assert "No Up KVM host reaches pool pool1" in body["errortext"]
    assert "forced=true" in body["errortext"]
    assert server.ok("deleteStoragePool", id=cloud.pool_id, forced=True) == {"success": True}
    assert agent(server).sent(msg.DeletePoolFileCommand) == []
    assert copies_on(server) == 0


def test_an_empty_pool_in_maintenance_is_deleted_without_asking_a_host(
    server: ServerHarness, cloud: Cloud
) -> None:
    maintain(server, cloud)
    assert server.ok("deleteStoragePool", id=cloud.pool_id) == {"success": True}
    assert agent(server).sent(msg.DeletePoolFileCommand) == []


def test_pool_sizes_come_from_the_agents_reports_and_what_the_pool_holds(
    server: ServerHarness, cloud: Cloud
) -> None:
    (created,) = server.ok("listStoragePools", id=cloud.pool_id)["storagepool"]
    assert created["disksizeallocated"] == 0
    template_id, offering_id = register(server, cloud), offering(server)
    vm = deploy(server, cloud, template_id, offering_id)["jobresult"]["virtualmachine"]
    (volume,) = server.ok("listVolumes", virtualmachineid=vm["id"])["volume"]
    with server.db.transaction() as session:
        copy_size = session.scalars(select(TemplatePoolRef.template_size)).one()
    (listed,) = server.ok("listStoragePools", id=cloud.pool_id)["storagepool"]
    assert listed["disksizeallocated"] == volume["size"] + copy_size > 0
    # A heartbeat's pool inventory refreshes the capacity and the use.
    usage = {"capacity_bytes": 100 << 30, "available_bytes": 60 << 30}
    beat(server, cloud.host_id, inventory(cloud.pool_id, **usage))
    (listed,) = server.ok("listStoragePools", id=cloud.pool_id)["storagepool"]
    assert (listed["disksizetotal"], listed["disksizeused"]) == (100 << 30, 40 << 30)
    # A report without figures, or for a pool of another cluster, changes nothing.
    beat(server, cloud.host_id, inventory(cloud.pool_id))
    other = {"capacity_bytes": 1, "available_bytes": 1}
    with server.db.transaction() as session:
        session.execute(
            update(StoragePool).where(StoragePool.uuid == cloud.pool_id).values(cluster_id=None)
        )
    beat(server, cloud.host_id, inventory(cloud.pool_id, **other))
    with server.db.transaction() as session:
        session.execute(
            update(StoragePool)
            .where(StoragePool.uuid == cloud.pool_id)
            .values(cluster_id=select(Host.cluster_id).where(Host.id == 1).scalar_subquery())
        )
    (listed,) = server.ok("listStoragePools", id=cloud.pool_id)["storagepool"]
    assert (listed["disksizetotal"], listed["disksizeused"]) == (100 << 30, 40 << 30)


def test_a_download_queued_before_maintenance_does_not_run_on_the_pool(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id = register(server, cloud)
    queued = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    (copy,) = queued["template"][0]["downloaddetails"]
    # The job has not run: the copy is not being downloaded yet, so maintenance may begin.
    reply = server.ok("enableStorageMaintenance", id=cloud.pool_id)
    server.run_jobs()
    result = server.ok("queryAsyncJobResult", jobid=copy["jobid"])
    assert result["jobstatus"] == 2, result
    assert "pool1 is in PrepareForMaintenance" in result["jobresult"]["errortext"]
    assert agent(server).sent(msg.DirectDownloadCommand) == []
    assert server.ok("queryAsyncJobResult", jobid=reply["jobid"])["jobstatus"] == 1
    assert state(server, cloud.pool_id) == "Maintenance"


def test_a_pool_brought_back_up_while_its_files_go_is_not_deleted(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id = register(server, cloud)
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    server.run_jobs()
    maintain(server, cloud)

    def cancel_meanwhile(command: msg.DeletePoolFileCommand) -> msg.Answer:
        # No transaction is open during the agent call: another one can change the pool.
        with server.db.transaction() as session:
            session.execute(
                update(StoragePool).where(StoragePool.uuid == cloud.pool_id).values(status="Up")
            )
        return msg.Answer(ok=True, result=msg.PoolFileDeleted(existed=True))

    agent(server).delete_pool_file = cancel_meanwhile
    status, body = server.call("deleteStoragePool", id=cloud.pool_id)
    assert status == 530 and "it was not deleted" in body["errortext"], body
    assert state(server, cloud.pool_id) == "Up" and copies_on(server) == 0
