from datetime import UTC, datetime

from kvmcloud.server.jobs.models import (
    AsyncJob,
    JobStatus,
    ManagementServer,
    ManagementServerState,
)
from kvmcloud.server.jobs.service import JobRecord
from kvmcloud.server.jobs.views import job_response, management_server_response

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_job(**changes: object) -> AsyncJob:
    values: dict[str, object] = {
        "uuid": "job-1",
        "job_cmd": "deployVirtualMachine",
        "job_status": JobStatus.PENDING,
        "job_process_status": 40,
        "job_result_code": 0,
        "job_result": None,
        "instance_type": "VirtualMachine",
        "instance_uuid": "vm-1",
        "created": CREATED,
        "completed": None,
    }
    values.update(changes)
    return AsyncJob(**values)


def test_a_pending_job_has_no_result_yet():
    assert job_response(JobRecord(make_job(), "acc-1", "user-1")) == {
        "jobid": "job-1",
        "accountid": "acc-1",
        "userid": "user-1",
        "cmd": "deployVirtualMachine",
        "jobstatus": 0,
        "jobprocstatus": 40,
        "jobresultcode": 0,
        "jobresulttype": "object",
        "jobinstancetype": "VirtualMachine",
        "jobinstanceid": "vm-1",
        "created": "2026-01-02T03:04:05+0000",
    }


def test_an_ended_job_carries_its_result_as_json():
    job = make_job(
        job_status=JobStatus.FAILED,
        job_result_code=530,
        job_result='{"errorcode": 530, "errortext": "boom"}',
        completed=CREATED,
    )
    item = job_response(JobRecord(job, None, None))
    assert item["jobresult"] == {"errorcode": 530, "errortext": "boom"}
    assert item["completed"] == "2026-01-02T03:04:05+0000"
    assert "accountid" not in item and "userid" not in item


def test_management_server_response():
    server = ManagementServer(
        msid="ms-1",
        name="host:8080",
        version="0.1",
        state=ManagementServerState.UP,
        started=CREATED,
        last_seen=CREATED,
        stopped=None,
    )
    assert management_server_response(server) == {
        "id": "ms-1",
        "name": "host:8080",
        "state": "Up",
        "version": "0.1",
        "lastserverstart": "2026-01-02T03:04:05+0000",
        "lastseen": "2026-01-02T03:04:05+0000",
    }
