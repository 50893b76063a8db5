"""Downloads to a shared pool are tried on distinct hosts in turn, stopping when none could help."""

import dataclasses

from sqlalchemy import select, update

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.infrastructure.models import Host
from kvmcloud.server.jobs.models import AsyncJob, JobStatus
from kvmcloud.server.templates.models import TemplatePoolRef
from tests.fakes import FAKE_TOKEN, FakeAgent
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness


def second_host(server: ServerHarness, cloud: Cloud) -> FakeAgent:
    report = dataclasses.replace(FakeAgent().report, hostname="kvm2")
    agent = server.agents.add("https://127.0.0.2:8252", FakeAgent(report=report))
    server.ok(
        "addHost",
        zoneid=cloud.zone_id,
        podid=cloud.pod_id,
        clusterid=cloud.cluster_id,
        url="http://127.0.0.2",
        username="root",
        password=FAKE_TOKEN,
        hypervisor="KVM",
    )
    return agent


def failing(code: ErrorCode, message: str):
    return lambda _c: msg.Answer(ok=False, error=msg.ErrorInfo(code=code, message=message))


def register(server: ServerHarness, cloud: Cloud) -> str:
    return server.ok(
        "registerTemplate",
        name="t",
        url="http://127.0.0.1:9/t.qcow2",
        format="QCOW2",
        hypervisor="KVM",
        zoneid=cloud.zone_id,
        directdownload="true",
    )["template"][0]["id"]


def prepare(server: ServerHarness, cloud: Cloud, template_id: str | None = None) -> dict:
    template_id = template_id or register(server, cloud)
    prepared = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    job_id = prepared["template"][0]["downloaddetails"][0]["jobid"]
    server.run_jobs()
    return server.ok("queryAsyncJobResult", jobid=job_id)


def test_a_5xx_on_the_first_host_is_retried_on_the_second(
    server: ServerHarness, cloud: Cloud
) -> None:
    first, second = server.agents.agents[AGENT_URL], second_host(server, cloud)
    first.download = failing(
        ErrorCode.SOURCE_UNAVAILABLE, "HTTP 500 Internal Server Error from http://x"
    )
    job = prepare(server, cloud)
    assert job["jobstatus"] == 1, job
    assert len(first.sent(msg.DirectDownloadCommand)) == 1
    assert len(second.sent(msg.DirectDownloadCommand)) == 1
    with server.db.transaction() as session:
        ref = session.scalars(select(TemplatePoolRef)).one()
        done_by = session.get(Host, ref.host_id)
        assert done_by is not None and done_by.name == "kvm2"


def test_a_404_stops_after_one_attempt_with_the_reason(server: ServerHarness, cloud: Cloud) -> None:
    first, second = server.agents.agents[AGENT_URL], second_host(server, cloud)
    first.download = second.download = failing(
        ErrorCode.SOURCE_NOT_FOUND, "HTTP 404 Not Found from http://x"
    )
    job = prepare(server, cloud)
    assert job["jobstatus"] == 2 and "404" in job["jobresult"]["errortext"]
    sent = len(first.sent(msg.DirectDownloadCommand)) + len(second.sent(msg.DirectDownloadCommand))
    assert sent == 1


def test_every_attempt_is_reported_and_attempts_are_bounded(
    server: ServerHarness, cloud: Cloud
) -> None:
    first, second = server.agents.agents[AGENT_URL], second_host(server, cloud)
    first.download = failing(ErrorCode.TIMEOUT, "no data for 5 s")
    template_id = register(server, cloud)
    second.reachable = False
    job = prepare(server, cloud, template_id)
    text = job["jobresult"]["errortext"]
    assert job["jobstatus"] == 2 and "tried 2 hosts" in text
    assert "kvm1: " in text and "no data for 5 s" in text and "kvm2: " in text
    with server.db.transaction() as session:
        assert "tried 2 hosts" in (session.scalars(select(TemplatePoolRef)).one().error_str or "")
    server.ok("updateConfiguration", name="direct.download.max.attempts", value="1")
    second.reachable = True
    retry = prepare(server, cloud, template_id)
    assert retry["jobstatus"] == 2 and "tried" not in retry["jobresult"]["errortext"]


def test_jobs_queued_before_a_download_failed_share_its_failure_and_later_ones_try_again(
    server: ServerHarness, cloud: Cloud
) -> None:
    from tests.integration.server.test_vms import offering

    agent = server.agents.agents[AGENT_URL]
    agent.download = failing(ErrorCode.SOURCE_UNAVAILABLE, "HTTP 503 from http://x")
    template_id, offering_id = register(server, cloud), offering(server)
    queued = [
        server.ok(
            "deployVirtualMachine",
            zoneid=cloud.zone_id,
            templateid=template_id,
            serviceofferingid=offering_id,
        )["jobid"]
        for _ in range(3)
    ]
    server.clock.advance(1)
    server.run_jobs()

    results = [server.ok("queryAsyncJobResult", jobid=job_id) for job_id in queued]
    assert [r["jobstatus"] for r in results] == [2, 2, 2]
    for result in results:
        assert "HTTP 503 from http://x" in result["jobresult"]["errortext"], result
    # One transfer was tried and one failure recorded, not one per waiting deploy.
    assert len(agent.sent(msg.DirectDownloadCommand)) == 1
    failures = server.ok("listEvents", type="TEMPLATE.DIRECT.DOWNLOAD.FAILURE")["event"]
    assert len(failures) == 1

    # A deploy asked for after the failure tries again: the source may be back.
    server.clock.advance(1)
    agent.download = None
    later = server.ok(
        "deployVirtualMachine",
        zoneid=cloud.zone_id,
        templateid=template_id,
        serviceofferingid=offering_id,
    )["jobid"]
    server.clock.advance(1)
    server.run_jobs()
    assert server.ok("queryAsyncJobResult", jobid=later)["jobstatus"] == 1
    assert len(agent.sent(msg.DirectDownloadCommand)) == 2


def test_a_download_job_resumed_after_its_failure_was_recorded_does_not_download_again(
    server: ServerHarness, cloud: Cloud
) -> None:
    # The state a takeover resumes from when a server died between recording the failed
    # download (copy DOWNLOAD_ERROR, event) and recording the job's outcome.
    agent = server.agents.agents[AGENT_URL]
    agent.download = failing(ErrorCode.SOURCE_UNAVAILABLE, "HTTP 503 from http://x")
    template_id = register(server, cloud)
    job_id = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)["template"][
        0
    ]["downloaddetails"][0]["jobid"]
    server.clock.advance(1)
    server.run_jobs()
    with server.db.transaction() as session:
        session.execute(
            update(AsyncJob)
            .where(AsyncJob.uuid == job_id)
            .values(job_status=JobStatus.PENDING, owner=None, completed=None, job_result=None)
        )
    server.clock.advance(1)
    server.run_jobs()

    result = server.ok("queryAsyncJobResult", jobid=job_id)
    assert result["jobstatus"] == 2 and "HTTP 503 from http://x" in result["jobresult"]["errortext"]
    assert len(agent.sent(msg.DirectDownloadCommand)) == 1
    failures = server.ok("listEvents", type="TEMPLATE.DIRECT.DOWNLOAD.FAILURE")["event"]
    assert len(failures) == 1
