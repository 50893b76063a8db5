"""Several management servers: leases, takeover of a dead server's jobs, shared schedules."""

from datetime import datetime

import pytest
from sqlalchemy import select

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.app import (
    JOB_HANDLERS,
    MAX_TAKEOVERS,
    recover_after_restart,
    take_over_lost_work,
)
from kvmcloud.server.jobs import queue, servers
from kvmcloud.server.jobs.models import AsyncJob, JobStatus, ManagementServer
from kvmcloud.server.jobs.runner import JobRunner
from kvmcloud.server.templates.models import DownloadState, TemplatePoolRef
from kvmcloud.server.vms.models import VirtualMachine, VmState
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness
from tests.integration.server.test_vms import offering, register


@pytest.fixture
def server(server_on_each_database: ServerHarness) -> ServerHarness:
    """Every test here runs on SQLite, PostgreSQL and MariaDB: claims and leases are SQL."""
    return server_on_each_database


def add_server(server: ServerHarness, msid: str, name: str, last_seen: datetime) -> None:
    with server.db.transaction() as session:
        session.add(
            ManagementServer(
                msid=msid,
                name=name,
                version="0",
                state="Up",
                started=last_seen,
                last_seen=last_seen,
            )
        )


def claim_as(server: ServerHarness, msid: str, job_uuid: str) -> None:
    """Let server ``msid`` claim the job, as if its runner had picked it up and then died."""
    with server.db.transaction() as session:
        job = queue.claim_next(session, f"{msid}/0", server.clock(), msid=msid)
        assert job is not None and job.uuid == job_uuid


def job_row(server: ServerHarness, job_uuid: str) -> AsyncJob:
    with server.db.transaction() as session:
        job = session.scalars(select(AsyncJob).where(AsyncJob.uuid == job_uuid)).one()
        session.expunge(job)
        return job


def server_states(server: ServerHarness) -> dict[str, str]:
    with server.db.transaction() as session:
        return {s.msid: s.state.value for s in session.scalars(select(ManagementServer))}


def deploy_queued(server: ServerHarness, cloud: Cloud) -> dict:
    template_id, offering_id = register(server, cloud), offering(server)
    return server.ok(
        "deployVirtualMachine",
        zoneid=cloud.zone_id,
        templateid=template_id,
        serviceofferingid=offering_id,
    )


def test_start_registers_this_run_and_retires_an_earlier_one(server: ServerHarness) -> None:
    add_server(server, "earlier-run", server.services.name, server.clock())
    add_server(server, "other-server", "elsewhere:8080", server.clock())

    recover_after_restart(server.services)

    assert server_states(server) == {
        "earlier-run": "Down",
        "other-server": "Up",
        server.services.msid: "Up",
    }


def test_a_deploy_left_by_a_crashed_run_is_resumed_and_the_vm_runs(
    server: ServerHarness, cloud: Cloud
) -> None:
    reply = deploy_queued(server, cloud)
    add_server(server, "crashed-run", server.services.name, server.clock())
    claim_as(server, "crashed-run", reply["jobid"])

    recover_after_restart(server.services)

    job = job_row(server, reply["jobid"])
    assert (job.job_status, job.owner, job.takeovers) == (JobStatus.PENDING, None, 1)
    server.run_jobs()
    vm = server.ok("listVirtualMachines", id=reply["id"])["virtualmachine"][0]
    assert vm["state"] == "Running"
    assert server.ok("queryAsyncJobResult", jobid=reply["jobid"])["jobstatus"] == 1


def test_a_live_servers_jobs_are_taken_over_only_after_its_lease(
    server: ServerHarness, cloud: Cloud
) -> None:
    recover_after_restart(server.services)
    template_id = register(server, cloud)
    job_id = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)["template"][
        0
    ]
    del job_id
    with server.db.transaction() as session:
        ref = session.scalars(select(TemplatePoolRef)).one()
        job_uuid = ref.job_id
    assert job_uuid is not None
    add_server(server, "other", "elsewhere:8080", server.clock())
    claim_as(server, "other", job_uuid)

    server.clock.advance(server.services.settings.lease_s - 1)
    take_over_lost_work(server.services)
    assert job_row(server, job_uuid).owner == "other/0"

    server.clock.advance(2)
    take_over_lost_work(server.services)
    assert server_states(server)["other"] == "Down"
    job = job_row(server, job_uuid)
    assert (job.owner, job.executing_msid, job.takeovers) == (None, None, 1)


class ServerDied(BaseException):
    """Raised inside a job to stop it the way a killed process would: nothing recorded."""


def test_a_resumed_download_resends_the_same_command_id(
    server: ServerHarness, cloud: Cloud
) -> None:
    recover_after_restart(server.services)
    template_id = register(server, cloud)
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    fake = server.agents.agents[AGENT_URL]
    add_server(server, "gone", "gone:8080", server.clock())
    doomed = JobRunner(
        db=server.db,
        agents=server.services.agents,
        clock=server.clock,
        settings=server.services.settings,
        handlers=JOB_HANDLERS,
        owner="gone/0",
        msid="gone",
        box=server.services.box,
    )

    def die(command: msg.DirectDownloadCommand) -> msg.Answer:
        raise ServerDied

    fake.download = die
    with pytest.raises(ServerDied):
        doomed.run_once()
    fake.download = None
    with server.db.transaction() as session:
        ref = session.scalars(select(TemplatePoolRef)).one()
        assert ref.download_state == DownloadState.DOWNLOAD_IN_PROGRESS

    server.clock.advance(server.services.settings.lease_s + 1)
    take_over_lost_work(server.services)
    server.run_jobs()

    assert len(fake.run_ids) == 2 and fake.run_ids[0] == fake.run_ids[1]
    template = server.ok("listTemplates", templatefilter="all", id=template_id)["template"][0]
    assert template["isready"] is True


def test_a_stop_left_by_a_dead_server_fails_with_the_reason_and_the_vm_is_settled(
    server: ServerHarness, cloud: Cloud
) -> None:
    recover_after_restart(server.services)
    reply = deploy_queued(server, cloud)
    server.run_jobs()
    stop = server.ok("stopVirtualMachine", id=reply["id"])
    add_server(server, "dead", "dead:8080", server.clock())
    claim_as(server, "dead", stop["jobid"])
    with server.db.transaction() as session:
        vm = session.scalars(select(VirtualMachine).where(VirtualMachine.uuid == reply["id"])).one()
        vm.state = VmState.STOPPING

    server.clock.advance(server.services.settings.lease_s + 1)
    take_over_lost_work(server.services)

    result = server.ok("queryAsyncJobResult", jobid=stop["jobid"])
    assert result["jobstatus"] == 2
    assert "dead:8080 stopped while running this job" in result["jobresult"]["errortext"]
    vm_reply = server.ok("listVirtualMachines", id=reply["id"])["virtualmachine"][0]
    assert vm_reply["state"] == "Running" and "restart" in vm_reply["lasterror"]


def test_a_job_taken_over_too_often_fails_and_its_download_claim_is_released(
    server: ServerHarness, cloud: Cloud
) -> None:
    recover_after_restart(server.services)
    template_id = register(server, cloud)
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    with server.db.transaction() as session:
        ref = session.scalars(select(TemplatePoolRef)).one()
        ref.download_state = DownloadState.DOWNLOAD_IN_PROGRESS
        job_uuid = ref.job_id
        job = session.scalars(select(AsyncJob).where(AsyncJob.uuid == job_uuid)).one()
        job.takeovers = MAX_TAKEOVERS
    assert job_uuid is not None
    add_server(server, "dead", "dead:8080", server.clock())
    claim_as(server, "dead", job_uuid)
    with server.db.transaction() as session:
        servers.mark_stopped(session, "dead", server.clock())

    take_over_lost_work(server.services)

    result = server.ok("queryAsyncJobResult", jobid=job_uuid)
    assert result["jobstatus"] == 2 and "giving up" in result["jobresult"]["errortext"]
    with server.db.transaction() as session:
        ref = session.scalars(select(TemplatePoolRef)).one()
        assert ref.download_state == DownloadState.DOWNLOAD_ERROR
        assert ref.error_str is not None and "ended before the copy was ready" in ref.error_str
    # The copy is not stuck: preparing again queues a new download that succeeds.
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    server.run_jobs()
    assert server.ok("listTemplates", templatefilter="all", id=template_id)["template"][0][
        "isready"
    ]


def test_a_server_that_lost_its_job_cannot_record_an_outcome(server: ServerHarness) -> None:
    now = server.clock()
    with server.db.transaction() as session:
        job = queue.enqueue(session, kind="k", cmd="c", payload={}, now=now)
        job_id = job.id
    with server.db.transaction() as session:
        assert queue.claim_next(session, "a/0", now, msid="a") is not None
        assert servers.take_over_orphans(
            session, now=now, resumable={"k"}, max_takeovers=3
        ).resumed  # "a" is not an Up server: its claim is an orphan
        assert queue.claim_next(session, "b/0", now, msid="b") is not None
    ok = {"status": JobStatus.SUCCEEDED, "code": 0, "result": {}, "now": now}
    with server.db.transaction() as session:
        assert queue.finish(session, job_id, msid="a", **ok) is False
    with server.db.transaction() as session:
        assert queue.finish(session, job_id, msid="b", **ok) is True
        assert session.get(AsyncJob, job_id).job_status == JobStatus.SUCCEEDED  # type: ignore[union-attr]


def test_a_periodic_task_runs_on_one_server_per_interval(server: ServerHarness) -> None:
    now = server.clock()

    def claim(msid: str, seconds: float) -> bool:
        server.clock.now = now
        server.clock.advance(seconds)
        return servers.claim_periodic_run(
            server.db, name="host-states", interval_s=10, msid=msid, now=server.clock()
        )

    assert claim("a", 0) is True
    assert claim("b", 0) is False
    assert claim("b", 5) is False
    assert claim("b", 9.5) is True
    assert claim("a", 10) is False
    assert claim("a", 19) is True


def test_a_clean_shutdown_marks_the_server_down(server: ServerHarness) -> None:
    recover_after_restart(server.services)
    server.services.start_background()
    server.services.stop_background()
    assert server_states(server)[server.services.msid] == "Down"


def test_list_management_servers_shows_runs_and_states(server: ServerHarness) -> None:
    add_server(server, "earlier-run", server.services.name, server.clock())
    recover_after_restart(server.services)

    listed = server.ok("listManagementServers")
    assert listed["count"] == 2
    first, second = listed["managementserver"]
    assert (first["id"], first["state"], first["name"]) == (
        server.services.msid,
        "Up",
        server.services.name,
    )
    assert (second["id"], second["state"]) == ("earlier-run", "Down")
    assert "lastserverstop" in second and "lastserverstop" not in first
    only = server.ok("listManagementServers", id=server.services.msid)
    assert [s["id"] for s in only["managementserver"]] == [server.services.msid]


def test_list_management_servers_is_for_admins(server: ServerHarness) -> None:
    status, body = server.call("listManagementServers", server.user("alice"))
    assert status == 432 and body["errorcode"] == 432
