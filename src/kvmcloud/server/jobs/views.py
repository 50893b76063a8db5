"""CloudStack's async job and management server objects (pure)."""

import json
from typing import Any

from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.api.params import Entity
from kvmcloud.server.api.responses import format_date
from kvmcloud.server.jobs.models import JobStatus, ManagementServer
from kvmcloud.server.jobs.service import JobRecord

ASYNC_JOB = ObjectSchema(
    "AsyncJobResponse",
    (
        out("jobid", FieldType.STRING, "the UUID of the job"),
        out("accountid", FieldType.STRING, "the account id that executed the async command"),
        out("userid", FieldType.STRING, "the user that executed the async command"),
        out("cmd", FieldType.STRING, "the async command executed"),
        out("jobstatus", FieldType.INTEGER, "the current job status: 0 pending, 1 done, 2 failed"),
        out("jobprocstatus", FieldType.INTEGER, "the progress information of the PENDING job"),
        out("jobresultcode", FieldType.INTEGER, "the result code for the job"),
        out("jobresulttype", FieldType.STRING, "the result type"),
        out("jobresult", FieldType.OBJECT, "the result reason"),
        out("jobinstancetype", FieldType.STRING, "the instance/entity object related to the job"),
        out(
            "jobinstanceid",
            FieldType.STRING,
            "the unique ID of the instance/entity object related to the job",
        ),
        out("created", FieldType.DATE, "the created date of the job"),
        out("completed", FieldType.DATE, "the completed date of the job"),
    ),
)


def job_response(record: JobRecord) -> dict[str, Any]:
    """Map a job to CloudStack's async job object (with its result once it has ended)."""
    job = record.job
    item: dict[str, Any] = {
        "jobid": job.uuid,
        "accountid": record.account_uuid,
        "userid": record.user_uuid,
        "cmd": job.job_cmd,
        "jobstatus": job.job_status,
        "jobprocstatus": job.job_process_status,
        "jobresultcode": job.job_result_code,
        "jobresulttype": "object",
        "jobinstancetype": job.instance_type,
        "jobinstanceid": job.instance_uuid,
        "created": format_date(job.created),
        "completed": format_date(job.completed),
    }
    if job.job_status != JobStatus.PENDING and job.job_result:
        item["jobresult"] = json.loads(job.job_result)
    return ASYNC_JOB.render(item)


MANAGEMENT_SERVER = ObjectSchema(
    "ManagementServerResponse",
    (
        out("id", FieldType.STRING, "the ID of the management server"),
        out("name", FieldType.STRING, "the name of the management server"),
        out("state", FieldType.STRING, "the state of the management server"),
        out("version", FieldType.STRING, "the version of the management server"),
        out("lastserverstart", FieldType.DATE, "the last time this Management Server was started"),
        out("lastserverstop", FieldType.DATE, "the last time this Management Server was stopped"),
        out(
            "lastseen",
            FieldType.DATE,
            "kvmcloud: the last time this Management Server renewed its lease",
        ),
    ),
    entity=Entity.MANAGEMENT_SERVER,
)


def management_server_response(server: ManagementServer) -> dict[str, Any]:
    """Map an mshost row to CloudStack's management server object."""
    return MANAGEMENT_SERVER.render(
        {
            "id": server.msid,
            "name": server.name,
            "state": server.state.value,
            "version": server.version,
            "lastserverstart": format_date(server.started),
            "lastserverstop": format_date(server.stopped),
            # kvmcloud addition: when the server last renewed its lease.
            "lastseen": format_date(server.last_seen),
        }
    )
