"""VM lifecycle through the API with fake agents: placement, downloads, volumes, states."""

from typing import Any

from sqlalchemy import select

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.templates.models import TemplatePoolRef
from kvmcloud.server.vms.models import Volume
from tests.fakes import FakeAgent
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness


def register(server: ServerHarness, cloud: Cloud, name: str = "tiny", **extra: Any) -> str:
    params = {
        "name": name,
        "url": f"http://127.0.0.1:9/{name}.qcow2",
        "format": "QCOW2",
        "hypervisor": "KVM",
        "zoneid": cloud.zone_id,
        "directdownload": "true",
    }
    params.update(extra)
    return server.ok("registerTemplate", **params)["template"][0]["id"]


def offering(server: ServerHarness, memory: int = 256, storage: str = "shared") -> str:
    return server.ok(
        "createServiceOffering",
        name=f"o{memory}{storage}",
        cpunumber=1,
        cpuspeed=500,
        memory=memory,
        storagetype=storage,
    )["serviceoffering"]["id"]


def deploy(
    server: ServerHarness, cloud: Cloud, template_id: str, offering_id: str, **extra: Any
) -> dict:
    reply = server.ok(
        "deployVirtualMachine",
        zoneid=cloud.zone_id,
        templateid=template_id,
        serviceofferingid=offering_id,
        **extra,
    )
    assert set(reply) == {"id", "jobid"}
    server.run_jobs()
    return server.ok("queryAsyncJobResult", jobid=reply["jobid"])


def agent(server: ServerHarness) -> FakeAgent:
    return server.agents.agents[AGENT_URL]


def test_deploy_downloads_creates_overlay_and_starts(server: ServerHarness, cloud: Cloud) -> None:
    template_id, offering_id = register(server, cloud), offering(server)
    result = deploy(server, cloud, template_id, offering_id, name="web-1")
    assert result["jobstatus"] == 1, result
    vm = result["jobresult"]["virtualmachine"]
    assert (vm["name"], vm["state"], vm["hypervisor"]) == ("web-1", "Running", "KVM")
    assert vm["nic"][0]["ipaddress"] == "10.1.1.2" and vm["nic"][0]["macaddress"].startswith(
        "02:00:"
    )
    assert vm["hostname"] == "kvm1" and vm["templateid"] == template_id
    assert vm["details"]["accelerator"] == "kvm"
    downloads = agent(server).sent(msg.DirectDownloadCommand)
    assert len(downloads) == 1
    (volume,) = agent(server).sent(msg.CreateVolumeCommand)
    assert volume.backing_name == downloads[0].install_name and volume.backing_format == "QCOW2"
    (start,) = agent(server).sent(msg.StartVmCommand)
    assert start.spec.name == vm["instancename"] and start.spec.memory_mib == 256
    assert start.spec.disks[0].path == f"/var/lib/kvmcloud/pool1/{volume.name}"
    assert start.spec.boot_devices == ["hd", "cdrom"]
    with server.db.transaction() as session:
        ref = session.scalars(select(TemplatePoolRef)).one()
        assert (ref.state, ref.download_state) == ("Ready", "DOWNLOADED")
    volumes = server.ok("listVolumes", virtualmachineid=vm["id"])["volume"]
    assert (
        volumes[0]["type"] == "ROOT"
        and volumes[0]["state"] == "Ready"
        and volumes[0]["storage"] == "pool1"
    )
    # The volume's owner is its VM's: the same account and domain fields as the VM's.
    owner = ("account", "domain", "domainid")
    assert [volumes[0][k] for k in owner] == [vm[k] for k in owner]
    assert volumes[0]["account"] == "admin" and volumes[0]["domain"] == "ROOT"
    # A second VM from the same template on the same pool transfers nothing.
    second = deploy(server, cloud, template_id, offering_id, name="web-2")
    assert second["jobresult"]["virtualmachine"]["nic"][0]["ipaddress"] == "10.1.1.3"
    assert len(agent(server).sent(msg.DirectDownloadCommand)) == 1
    assert server.ok("listVirtualMachines", state="Running")["count"] == 2


def test_startvm_false_then_start_stop_reboot(server: ServerHarness, cloud: Cloud) -> None:
    template_id, offering_id = register(server, cloud), offering(server)
    result = deploy(server, cloud, template_id, offering_id, startvm="false")
    vm = result["jobresult"]["virtualmachine"]
    assert vm["state"] == "Stopped" and vm["nic"][0]["ipaddress"]
    assert agent(server).sent(msg.StartVmCommand) == []
    job = server.ok("startVirtualMachine", id=vm["id"])
    assert server.ok("listVirtualMachines", id=vm["id"])["virtualmachine"][0]["state"] == "Starting"
    server.run_jobs()
    assert (
        server.ok("queryAsyncJobResult", jobid=job["jobid"])["jobresult"]["virtualmachine"]["state"]
        == "Running"
    )
    status, body = server.call("startVirtualMachine", id=vm["id"])
    assert status == 432 and "Running" in body["errortext"]
    server.ok("rebootVirtualMachine", id=vm["id"])
    server.run_jobs()
    assert len(agent(server).sent(msg.RebootVmCommand)) == 1
    stop = server.ok("stopVirtualMachine", id=vm["id"], forced="true")
    server.run_jobs()
    stopped = server.ok("queryAsyncJobResult", jobid=stop["jobid"])["jobresult"]["virtualmachine"]
    assert stopped["state"] == "Stopped" and "hostid" not in stopped
    assert agent(server).sent(msg.StopVmCommand)[0].forced is True


def test_destroy_recover_and_expunge(server: ServerHarness, cloud: Cloud) -> None:
    template_id, offering_id = register(server, cloud), offering(server)
    vm = deploy(server, cloud, template_id, offering_id)["jobresult"]["virtualmachine"]
    server.ok("destroyVirtualMachine", id=vm["id"])
    server.run_jobs()
    assert (
        server.ok("listVirtualMachines", id=vm["id"])["virtualmachine"][0]["state"] == "Destroyed"
    )
    assert agent(server).domains == {}
    recovered = server.ok("recoverVirtualMachine", id=vm["id"])["virtualmachine"]
    assert recovered["state"] == "Stopped"
    server.ok("startVirtualMachine", id=vm["id"])
    server.run_jobs()
    assert len(agent(server).sent(msg.CreateVolumeCommand)) == 1  # the disk was kept
    job = server.ok("destroyVirtualMachine", id=vm["id"], expunge="true")
    server.run_jobs()
    assert server.ok("queryAsyncJobResult", jobid=job["jobid"])["jobstatus"] == 1
    assert server.ok("listVirtualMachines") == {}
    (deleted,) = agent(server).sent(msg.DeletePoolFileCommand)
    assert deleted.name == agent(server).sent(msg.CreateVolumeCommand)[0].name
    with server.db.transaction() as session:
        assert session.scalars(select(Volume)).one().state == "Expunged"
    # The NIC's address is free again.
    again = deploy(server, cloud, template_id, offering_id)
    assert again["jobresult"]["virtualmachine"]["nic"][0]["ipaddress"] == "10.1.1.2"


def test_deploy_from_iso_gets_a_blank_disk_and_boots_the_cd(
    server: ServerHarness, cloud: Cloud
) -> None:
    iso_id = server.ok(
        "registerIso",
        name="installer",
        url="http://127.0.0.1:9/i.iso",
        zoneid=cloud.zone_id,
        directdownload="true",
    )["iso"][0]["id"]
    offering_id = offering(server)
    status, body = server.call(
        "deployVirtualMachine",
        zoneid=cloud.zone_id,
        templateid=iso_id,
        serviceofferingid=offering_id,
    )
    assert status == 431 and "diskofferingid" in body["errortext"]
    disk = server.ok("createDiskOffering", name="small", disksize=2)["diskoffering"]
    result = deploy(server, cloud, iso_id, offering_id, diskofferingid=disk["id"])
    vm = result["jobresult"]["virtualmachine"]
    assert vm["state"] == "Running" and vm["isoid"] == iso_id
    (volume,) = agent(server).sent(msg.CreateVolumeCommand)
    assert volume.backing_name is None and volume.size_bytes == 2 * 1024**3
    (download,) = agent(server).sent(msg.DirectDownloadCommand)
    assert download.install_name.endswith(".iso") and download.format == "ISO"
    (start,) = agent(server).sent(msg.StartVmCommand)
    assert start.spec.boot_devices == ["cdrom", "hd"]
    assert start.spec.disks[1].device == "cdrom" and start.spec.disks[1].path.endswith(".iso")


def test_attach_and_detach_iso_on_a_running_vm(server: ServerHarness, cloud: Cloud) -> None:
    template_id, offering_id = register(server, cloud), offering(server)
    vm = deploy(server, cloud, template_id, offering_id)["jobresult"]["virtualmachine"]
    iso_id = server.ok(
        "registerIso",
        name="tools",
        url="http://127.0.0.1:9/t.iso",
        zoneid=cloud.zone_id,
        directdownload="true",
    )["iso"][0]["id"]
    job = server.ok("attachIso", id=iso_id, virtualmachineid=vm["id"])
    server.run_jobs()
    attached = server.ok("queryAsyncJobResult", jobid=job["jobid"])["jobresult"]["virtualmachine"]
    assert attached["isoid"] == iso_id
    (insert,) = agent(server).sent(msg.AttachIsoCommand)
    assert insert.iso_path is not None and insert.iso_path.endswith(".iso")
    status, body = server.call("attachIso", id=template_id, virtualmachineid=vm["id"])
    assert status == 431 and "not an ISO" in body["errortext"]
    server.ok("detachIso", virtualmachineid=vm["id"])
    server.run_jobs()
    assert agent(server).sent(msg.AttachIsoCommand)[-1].iso_path is None
    assert "isoid" not in server.ok("listVirtualMachines", id=vm["id"])["virtualmachine"][0]


def test_no_capacity_and_failed_start_are_reported(server: ServerHarness, cloud: Cloud) -> None:
    template_id = register(server, cloud)
    huge = offering(server, memory=64 * 1024)
    result = deploy(server, cloud, template_id, huge)
    assert result["jobstatus"] == 2 and result["jobresultcode"] == 533
    assert "free memory" in result["jobresult"]["errortext"]
    vm = server.ok("listVirtualMachines")["virtualmachine"][0]
    assert vm["state"] == "Error" and "free memory" in vm["lasterror"]
    local = offering(server, storage="local")
    result = deploy(server, cloud, template_id, local)
    assert result["jobstatus"] == 2 and "host-local" in result["jobresult"]["errortext"]
    agent(server).start_vm = lambda c: msg.Answer(
        ok=False,
        error=msg.ErrorInfo(code=ErrorCode.VM_FAILURE, message="qemu: could not open disk"),
    )
    result = deploy(server, cloud, template_id, offering(server))
    assert result["jobstatus"] == 2 and "could not open disk" in result["jobresult"]["errortext"]


def test_heartbeat_reconciles_vm_states(server: ServerHarness, cloud: Cloud) -> None:
    vm = deploy(server, cloud, register(server, cloud), offering(server))["jobresult"][
        "virtualmachine"
    ]
    fake = agent(server)

    def beat(states: dict[str, msg.VmPowerState] | None) -> None:
        body = msg.to_json(
            msg.Heartbeat(host_uuid=cloud.host_id, report=fake.report, vm_states=states)
        )
        response = server.agent_api.post(
            "/agent/v1/heartbeat",
            content=body,
            headers={"Authorization": f"Bearer {fake.key}", "X-Kvmcloud-Host": cloud.host_id},
        )
        assert response.status_code == 200

    def state() -> dict:
        return server.ok("listVirtualMachines", id=vm["id"])["virtualmachine"][0]

    beat({vm["instancename"]: msg.VmPowerState.RUNNING})
    assert state()["state"] == "Running"
    # One report that disagrees may predate a job's change: nothing happens yet.
    beat({})
    assert state()["state"] == "Running"
    beat({vm["instancename"]: msg.VmPowerState.RUNNING})
    beat({})
    assert state()["state"] == "Running"
    # A report that libvirt could not be asked changes nothing either.
    beat(None)
    beat(None)
    assert state()["state"] == "Running"
    beat({})
    assert state()["state"] == "Stopped" and "stopped outside kvmcloud" in state()["lasterror"]
    beat({vm["instancename"]: msg.VmPowerState.RUNNING})
    assert state()["state"] == "Stopped"
    beat({vm["instancename"]: msg.VmPowerState.RUNNING})
    assert state()["state"] == "Running" and state()["hostname"] == "kvm1"


def test_deleting_a_template_keeps_copies_in_use_and_removes_them_later(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id, offering_id = register(server, cloud), offering(server)
    vm = deploy(server, cloud, template_id, offering_id)["jobresult"]["virtualmachine"]
    status, body = server.call("deleteTemplate", id=template_id)
    assert status == 536 and "forced=true" in body["errortext"]
    job = server.ok("deleteTemplate", id=template_id, forced="true")
    server.run_jobs()
    result = server.ok("queryAsyncJobResult", jobid=job["jobid"])["jobresult"]
    assert result["success"] is True and "kept on pool(s) pool1" in result["displaytext"]
    assert agent(server).sent(msg.DeletePoolFileCommand) == []
    server.ok("destroyVirtualMachine", id=vm["id"], expunge="true")
    server.run_jobs()
    deleted = [c.name for c in agent(server).sent(msg.DeletePoolFileCommand)]
    template_copy = agent(server).sent(msg.DirectDownloadCommand)[0].install_name
    assert template_copy in deleted
    with server.db.transaction() as session:
        assert session.scalars(select(TemplatePoolRef)).all() == []


def test_deleting_an_unused_template_removes_its_copies(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id = register(server, cloud)
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    server.run_jobs()
    job = server.ok("deleteTemplate", id=template_id)
    server.run_jobs()
    assert server.ok("queryAsyncJobResult", jobid=job["jobid"])["jobresult"] == {
        "success": True,
        "displaytext": "removed from pool(s) pool1",
    }


def test_paused_domains_count_as_running(server: ServerHarness, cloud: Cloud) -> None:
    vm = deploy(server, cloud, register(server, cloud), offering(server))["jobresult"][
        "virtualmachine"
    ]
    fake = agent(server)
    body = msg.to_json(
        msg.Heartbeat(
            host_uuid=cloud.host_id,
            report=fake.report,
            vm_states={vm["instancename"]: msg.VmPowerState.PAUSED},
        )
    )
    for _ in range(3):
        server.agent_api.post(
            "/agent/v1/heartbeat",
            content=body,
            headers={"Authorization": f"Bearer {fake.key}", "X-Kvmcloud-Host": cloud.host_id},
        )
    assert server.ok("listVirtualMachines", id=vm["id"])["virtualmachine"][0]["state"] == "Running"


def test_a_restart_settles_vms_whose_job_cannot_be_resumed(
    server: ServerHarness, cloud: Cloud
) -> None:
    from kvmcloud.server.app import MAX_TAKEOVERS, recover_after_restart
    from kvmcloud.server.jobs.models import AsyncJob
    from kvmcloud.server.jobs.queue import claim_next

    template_id, offering_id = register(server, cloud), offering(server)
    reply = server.ok(
        "deployVirtualMachine",
        zoneid=cloud.zone_id,
        templateid=template_id,
        serviceofferingid=offering_id,
    )
    # The server "dies" with the deploy job claimed, and not for the first time: the job
    # has been taken over as often as allowed, so this time it fails instead of resuming.
    with server.db.transaction() as session:
        job = claim_next(session, "dead-server", server.clock())
        assert job is not None
        session.get_one(AsyncJob, job.id).takeovers = MAX_TAKEOVERS
    recover_after_restart(server.services)
    vm = server.ok("listVirtualMachines", id=reply["id"])["virtualmachine"][0]
    assert vm["state"] == "Stopped" and "restart" in vm["lasterror"]
    job_reply = server.ok("queryAsyncJobResult", jobid=reply["jobid"])
    assert job_reply["jobstatus"] == 2 and "giving up" in job_reply["jobresult"]["errortext"]
    server.ok("startVirtualMachine", id=reply["id"])
    server.run_jobs()
    assert (
        server.ok("listVirtualMachines", id=reply["id"])["virtualmachine"][0]["state"] == "Running"
    )


def test_others_private_isos_cannot_be_inserted(server: ServerHarness, cloud: Cloud) -> None:
    iso_id = server.ok(
        "registerIso",
        name="private",
        url="http://127.0.0.1:9/p.iso",
        zoneid=cloud.zone_id,
        directdownload="true",
    )["iso"][0]["id"]
    user = server.user("bob")
    status, body = server.call("attachIso", user, id=iso_id, virtualmachineid=iso_id)
    assert status == 531 and "permission to launch instances" in body["errortext"]


def test_failed_copy_deletes_are_retried_by_the_storage_cleanup(
    server: ServerHarness, cloud: Cloud
) -> None:
    from kvmcloud.server.templates.deletion import queue_storage_cleanup

    template_id = register(server, cloud)
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    server.run_jobs()
    fake = agent(server)
    real_call = server.agents.call

    def failing_delete(endpoint, command, *, timeout_s):
        if isinstance(command, msg.DeletePoolFileCommand):
            return msg.Answer(
                ok=False, error=msg.ErrorInfo(code=ErrorCode.POOL_UNAVAILABLE, message="busy")
            )
        return real_call(endpoint, command, timeout_s=timeout_s)

    server.agents.call = failing_delete  # type: ignore[method-assign]
    job = server.ok("deleteTemplate", id=template_id)
    server.run_jobs()
    assert (
        "kept on pool(s) pool1"
        in server.ok("queryAsyncJobResult", jobid=job["jobid"])["jobresult"]["displaytext"]
    )
    with server.db.transaction() as session:
        assert session.scalars(select(TemplatePoolRef)).one().marked_for_gc is True
    server.agents.call = real_call  # type: ignore[method-assign]
    with server.db.transaction() as session:
        assert queue_storage_cleanup(session, server.clock()) is True
        assert queue_storage_cleanup(session, server.clock()) is False  # one pending is enough
    server.run_jobs()
    with server.db.transaction() as session:
        assert session.scalars(select(TemplatePoolRef)).all() == []
    assert fake.sent(msg.DeletePoolFileCommand)


def test_console_log_is_read_from_the_vms_host(server: ServerHarness, cloud: Cloud) -> None:
    template_id, offering_id = register(server, cloud), offering(server)
    vm = deploy(server, cloud, template_id, offering_id)["jobresult"]["virtualmachine"]
    agent(server).console_logs[vm["instancename"]] = b"booting\n\xffkvmcloud ready\n"
    console = server.ok("getVirtualMachineConsoleLog", id=vm["id"])["consolelog"]
    assert console == {
        "id": vm["id"],
        "log": "booting\n\ufffdkvmcloud ready\n",
        "truncated": False,
        "size": 24,
    }
    (read,) = agent(server).sent(msg.ReadConsoleLogCommand)
    assert (read.name, read.max_bytes) == (vm["instancename"], 64 * 1024)
    tail = server.ok("getVirtualMachineConsoleLog", id=vm["id"], bytes=6)["consolelog"]
    assert (tail["log"], tail["truncated"], tail["size"]) == ("ready\n", True, 24)
    for bad in (0, 1024 * 1024 + 1, "many"):
        status, body = server.call("getVirtualMachineConsoleLog", id=vm["id"], bytes=bad)
        assert status == 431 and "bytes" in body["errortext"], body
    status, body = server.call("getVirtualMachineConsoleLog", server.user("bob"), id=vm["id"])
    assert status == 531, body
    agent(server).reachable = False
    status, body = server.call("getVirtualMachineConsoleLog", id=vm["id"])
    assert status == 534 and "Cannot reach the agent" in body["errortext"], body


def test_console_log_of_a_vm_that_never_ran(server: ServerHarness, cloud: Cloud) -> None:
    template_id, offering_id = register(server, cloud), offering(server)
    result = deploy(server, cloud, template_id, offering_id, startvm="false")
    vm_id = result["jobresult"]["virtualmachine"]["id"]
    status, body = server.call("getVirtualMachineConsoleLog", id=vm_id)
    assert status == 534 and "has not run on any host" in body["errortext"], body
