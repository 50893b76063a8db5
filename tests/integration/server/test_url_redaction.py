"""Defect 6 (issue 12): a presigned query and a userinfo password in a template URL.

The owner and admins see the query as registered; other accounts see its values masked;
the password is masked for everyone, in every response, job result, event and error.
"""

import json

from sqlalchemy import select

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.accounts.service import ApiKeys
from kvmcloud.server.events.models import Event
from kvmcloud.server.jobs.models import AsyncJob
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness
from tests.integration.server.test_templates import register

PASSWORD = "hunter2-pass"
SIGNATURE = "f00dfacecafe0123456789"
URL = (
    f"http://alice:{PASSWORD}@127.0.0.1:9/t.qcow2"
    f"?X-Amz-Signature={SIGNATURE}&X-Amz-Date=20260101T000000Z"
)
AS_REGISTERED = (
    f"http://alice:***@127.0.0.1:9/t.qcow2?X-Amz-Signature={SIGNATURE}&X-Amz-Date=20260101T000000Z"
)
MASKED = "http://alice:***@127.0.0.1:9/t.qcow2?X-Amz-Signature=***&X-Amz-Date=***"


def _listed_url(server: ServerHarness, keys: ApiKeys, template_id: str) -> str:
    status, body = server.call("listTemplates", keys, templatefilter="executable", id=template_id)
    assert status == 200, body
    (item,) = body["template"]
    return str(item["url"])


def test_owner_and_admin_see_the_query_others_see_it_masked(
    server: ServerHarness, cloud: Cloud
) -> None:
    owner, other = server.user("owner"), server.user("other")
    status, body = register(server, cloud, keys=owner, url=URL, ispublic="true")
    assert status == 200, body
    registered = body["template"][0]
    assert registered["url"] == AS_REGISTERED
    assert PASSWORD not in json.dumps(body)

    assert _listed_url(server, owner, registered["id"]) == AS_REGISTERED
    assert _listed_url(server, server.admin, registered["id"]) == AS_REGISTERED
    assert _listed_url(server, other, registered["id"]) == MASKED


def test_job_results_and_listings_of_jobs_never_show_the_password(
    server: ServerHarness, cloud: Cloud
) -> None:
    owner = server.user("owner")
    template_id = register(server, cloud, keys=owner, url=URL)[1]["template"][0]["id"]
    job_id = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)["template"][
        0
    ]["downloaddetails"][0]["jobid"]
    server.run_jobs()

    result = server.ok("queryAsyncJobResult", jobid=job_id)
    assert result["jobresult"]["template"]["url"] == AS_REGISTERED
    jobs = server.ok("listAsyncJobs", listall="true")["asyncjobs"]
    assert PASSWORD not in json.dumps(jobs)
    with server.db.transaction() as session:
        stored = session.scalars(select(AsyncJob.job_result)).all()
    assert not any(PASSWORD in (text or "") for text in stored)


def test_agent_answers_quoting_the_url_are_masked_in_errors_jobs_and_events(
    server: ServerHarness, cloud: Cloud
) -> None:
    # An agent that quotes the URL whole (as one from before redact_url did).
    failure = msg.Answer(
        ok=False, error=msg.ErrorInfo(code=ErrorCode.SOURCE_NOT_FOUND, message=f"404 from {URL}")
    )
    agent = server.agents.agents[AGENT_URL]
    agent.check_url = lambda _c: failure
    status, body = register(server, cloud, url=URL)
    assert status == 431, body
    assert MASKED in body["errortext"]
    assert PASSWORD not in body["errortext"] and SIGNATURE not in body["errortext"]

    agent.check_url = None
    template_id = register(server, cloud, url=URL)[1]["template"][0]["id"]
    agent.download = lambda _c: failure
    job_id = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)["template"][
        0
    ]["downloaddetails"][0]["jobid"]
    server.run_jobs()

    result = server.ok("queryAsyncJobResult", jobid=job_id)
    assert MASKED in result["jobresult"]["errortext"]
    (listed,) = server.ok("listTemplates", templatefilter="all", id=template_id)["template"]
    (details,) = listed["downloaddetails"]
    with server.db.transaction() as session:
        descriptions = session.scalars(select(Event.description)).all()
    assert any(MASKED in text for text in descriptions)
    for text in (json.dumps(result), details["errortext"], *descriptions):
        assert MASKED in text or "TEMPLATE" in text or "registered" in text, text
        assert PASSWORD not in text and SIGNATURE not in text
