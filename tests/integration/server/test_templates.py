"""Register, list, prepare and delete direct-download templates against fake agents."""

import json

from sqlalchemy import select

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.accounts.service import ApiKeys
from kvmcloud.server.infrastructure.models import Host
from kvmcloud.server.jobs.models import AsyncJob
from kvmcloud.server.templates.models import Template, TemplatePoolRef, TemplateStoreRef
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness

SHA256 = "{SHA-256}" + "ab" * 32


def register(
    server: ServerHarness, cloud: Cloud, keys: ApiKeys | None = None, **extra: object
) -> tuple[int, dict]:
    params: dict[str, object] = {
        "name": "tiny",
        "displaytext": "tiny",
        "url": "http://127.0.0.1:9/tiny.qcow2",
        "format": "QCOW2",
        "hypervisor": "KVM",
        "zoneid": cloud.zone_id,
        "directdownload": "true",
        "checksum": SHA256,
        "details[0].HTTP_HEADER:X-Auth-Token": "s3cret",
    }
    params.update(extra)
    return server.call("registerTemplate", keys, **params)


def test_register_writes_bypassed_store_ref_and_answers_like_cloudstack(
    server: ServerHarness, cloud: Cloud
) -> None:
    status, body = register(server, cloud)
    assert status == 200, body
    assert body["count"] == 1
    template = body["template"][0]
    assert template["directdownload"] is True
    assert template["isready"] is True
    assert template["status"] == "Bypassed Secondary Storage"
    assert template["checksum"] == "ab" * 32
    assert template["size"] == 4096 and template["physicalsize"] == 1000
    assert template["zoneid"] == cloud.zone_id
    assert template["details"] == {"HTTP_HEADER:X-Auth-Token": "******"}
    assert template["downloaddetails"] == []
    check = server.agents.agents[AGENT_URL].received[-1]
    assert isinstance(check, msg.CheckUrlCommand)
    assert check.headers == {"X-Auth-Token": "s3cret"}
    assert check.timeouts.connect_s == 5.0
    with server.db.transaction() as session:
        row = session.scalars(select(Template)).one()
        assert row.direct_download is True
        assert row.checksum == SHA256
        ref = session.scalars(select(TemplateStoreRef)).one()
        assert (ref.store_id, ref.download_state, ref.state, ref.size) == (
            None,
            "BYPASSED",
            "Ready",
            4096,
        )


def test_register_refuses_what_cloudstack_refuses_and_more(
    server: ServerHarness, cloud: Cloud
) -> None:
    cases = [
        ({"hypervisor": "XenServer"}, "hypervisor", "KVM"),
        ({"directdownload": "false"}, "directdownload", "secondary storage"),
        ({"checksum": "{SHA-256}abc"}, "checksum", "length"),
        ({"checksum": "{CRC32}abcdabcd"}, "checksum", "not supported"),
        ({"checksum": "zz" * 16}, "checksum", "hexadecimal"),
        ({"format": "VHD"}, "format", "QCOW2 or RAW"),
        ({"url": "ftp://host/x.qcow2"}, "url", "scheme"),
        ({"details[0].HTTP_HEADER:Bad Header": "x"}, "details", "header"),
    ]
    for extra, param, words in cases:
        status, body = register(server, cloud, **extra)
        assert status == 431, (extra, body)
        assert words in body["errortext"], (extra, body["errortext"])
        assert param in body["errortext"].lower(), (param, body["errortext"])
    assert server.ok("listTemplates", templatefilter="all") == {}


def test_url_check_failure_reports_the_hosts_reason(server: ServerHarness, cloud: Cloud) -> None:
    server.agents.agents[AGENT_URL].check_url = lambda _c: msg.Answer(
        ok=False,
        error=msg.ErrorInfo(
            code=ErrorCode.SOURCE_NOT_FOUND, message="HTTP 404 Not Found from http://x"
        ),
    )
    status, body = register(server, cloud)
    assert status == 431
    assert "failed the check on host kvm1" in body["errortext"]
    assert "HTTP 404 Not Found" in body["errortext"]
    with server.db.transaction() as session:
        assert session.scalars(select(Template)).all() == []


def test_register_without_an_up_host_says_so(server: ServerHarness, cloud: Cloud) -> None:
    with server.db.transaction() as session:
        session.scalars(select(Host)).one().status = "Down"
    status, body = register(server, cloud)
    assert status == 534
    assert "Couldn't find an Up KVM host" in body["errortext"]


def test_register_iso_and_lists_keep_templates_and_isos_apart(
    server: ServerHarness, cloud: Cloud
) -> None:
    register(server, cloud)
    iso = server.ok(
        "registerIso",
        name="boot",
        url="http://127.0.0.1:9/boot.iso",
        zoneid=cloud.zone_id,
        directdownload="true",
    )
    assert iso["iso"][0]["format"] == "ISO" and iso["iso"][0]["bootable"] is True
    assert server.ok("listIsos")["count"] == 1
    templates = server.ok("listTemplates", templatefilter="executable")
    assert [t["name"] for t in templates["template"]] == ["tiny"]
    assert server.ok("listTemplates", templatefilter="self", keyword="ti")["count"] == 1
    assert server.ok("listTemplates", templatefilter="featured") == {}
    status, body = server.call("listTemplates")
    assert status == 431 and "templatefilter" in body["errortext"]


def test_prepare_downloads_once_and_records_the_spool_ref(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id = register(server, cloud)[1]["template"][0]["id"]
    prepared = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    details = prepared["template"][0]["downloaddetails"]
    assert len(details) == 1 and details[0]["downloadState"] == "NOT_DOWNLOADED"
    job_id = details[0]["jobid"]
    assert server.run_jobs() == 1
    result = server.ok("queryAsyncJobResult", jobid=job_id)
    assert result["jobstatus"] == 1 and result["jobresultcode"] == 0
    done = result["jobresult"]["template"]["downloaddetails"][0]
    assert done["downloadState"] == "DOWNLOADED" and done["downloadPercent"] == 100
    download = server.agents.agents[AGENT_URL].received[-1]
    assert isinstance(download, msg.DirectDownloadCommand)
    assert download.headers == {"X-Auth-Token": "s3cret"} and download.checksum == SHA256
    with server.db.transaction() as session:
        ref = session.scalars(select(TemplatePoolRef)).one()
        assert (ref.download_state, ref.state, ref.template_size, ref.physical_size) == (
            "DOWNLOADED",
            "Ready",
            4096,
            1000,
        )
        assert ref.install_path == f"/var/lib/kvmcloud/pool1/{ref.local_path}"
    # Preparing again transfers nothing: no new job, no new command to the agent.
    sent = len(server.agents.agents[AGENT_URL].received)
    again = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    assert again["template"][0]["downloaddetails"][0]["jobid"] == job_id
    assert server.run_jobs() == 0
    assert len(server.agents.agents[AGENT_URL].received) == sent


def test_prepare_twice_before_the_job_runs_queues_one_job(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id = register(server, cloud)[1]["template"][0]["id"]
    first = server.ok(
        "prepareTemplate", templateid=template_id, zoneid=cloud.zone_id, storageid=cloud.pool_id
    )
    second = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    assert (
        first["template"][0]["downloaddetails"][0]["jobid"]
        == second["template"][0]["downloaddetails"][0]["jobid"]
    )
    with server.db.transaction() as session:
        assert len(session.scalars(select(AsyncJob)).all()) == 1


def test_failed_download_fails_the_job_with_the_agents_reason(
    server: ServerHarness, cloud: Cloud
) -> None:
    server.agents.agents[AGENT_URL].download = lambda _c: msg.Answer(
        ok=False,
        error=msg.ErrorInfo(
            code=ErrorCode.CHECKSUM_MISMATCH, message="checksum mismatch: expected {SHA-256}ab…"
        ),
    )
    template_id = register(server, cloud)[1]["template"][0]["id"]
    job_id = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)["template"][
        0
    ]["downloaddetails"][0]["jobid"]
    server.run_jobs()
    result = server.ok("queryAsyncJobResult", jobid=job_id)
    assert result["jobstatus"] == 2
    assert result["jobresultcode"] == 534
    assert "could not be downloaded to pool pool1" in result["jobresult"]["errortext"]
    assert "checksum mismatch" in result["jobresult"]["errortext"]
    with server.db.transaction() as session:
        ref = session.scalars(select(TemplatePoolRef)).one()
        assert ref.download_state == "DOWNLOAD_ERROR" and "checksum mismatch" in (
            ref.error_str or ""
        )
    # A failed copy can be prepared again: a new job is queued.
    server.agents.agents[AGENT_URL].download = None
    retry = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    assert retry["template"][0]["downloaddetails"][0]["jobid"] != job_id
    server.run_jobs()
    with server.db.transaction() as session:
        assert session.scalars(select(TemplatePoolRef)).one().state == "Ready"


def test_prepare_needs_an_up_host_reaching_the_pool(server: ServerHarness, cloud: Cloud) -> None:
    template_id = register(server, cloud)[1]["template"][0]["id"]
    with server.db.transaction() as session:
        session.scalars(select(Host)).one().status = "Disconnected"
    job_id = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)["template"][
        0
    ]["downloaddetails"][0]["jobid"]
    server.run_jobs()
    result = server.ok("queryAsyncJobResult", jobid=job_id)
    assert (
        result["jobstatus"] == 2
        and "No Up KVM host can reach pool pool1" in result["jobresult"]["errortext"]
    )


def test_delete_template_is_async_and_hides_it(server: ServerHarness, cloud: Cloud) -> None:
    template_id = register(server, cloud)[1]["template"][0]["id"]
    job = server.ok("deleteTemplate", id=template_id)
    assert set(job) == {"jobid"}
    server.run_jobs()
    result = server.ok("queryAsyncJobResult", jobid=job["jobid"])
    assert result["jobstatus"] == 1 and result["jobresult"] == {"success": True}
    assert server.ok("listTemplates", templatefilter="all") == {}
    status, body = server.call("deleteTemplate", id=template_id)
    assert status == 431 and "entity does not exist" in body["errortext"]
    with server.db.transaction() as session:
        job_row = session.scalars(select(AsyncJob)).one()
        assert json.loads(job_row.job_result or "{}") == {"success": True}


def test_nfs_urls_register_directly_and_bad_ones_are_refused(
    server: ServerHarness, cloud: Cloud
) -> None:
    status, body = register(server, cloud, url="nfs://127.0.0.1/export/templates/tiny.qcow2")
    assert status == 200, body
    check = server.agents.agents[AGENT_URL].received[-1]
    assert isinstance(check, msg.CheckUrlCommand) and check.url.startswith("nfs://")
    assert check.timeouts.request_s == 5.0
    status, body = register(server, cloud, url="nfs://127.0.0.1/export/../etc/shadow")
    assert status == 431 and "'..'" in body["errortext"]


def test_metalink_registration_reports_each_mirror(server: ServerHarness, cloud: Cloud) -> None:
    dead = msg.ErrorInfo(code=ErrorCode.SOURCE_UNAVAILABLE, message="connection refused")
    server.agents.agents[AGENT_URL].check_url = lambda _c: msg.Answer(
        ok=True,
        result=msg.CheckUrlResult(
            physical_size_bytes=1000,
            virtual_size_bytes=4096,
            mirrors=[
                msg.MirrorCheck(url="http://a/t.qcow2", ok=True),
                msg.MirrorCheck(url="http://b/t.qcow2", ok=False, error=dead),
            ],
        ),
    )
    status, body = register(server, cloud, url="http://127.0.0.1:9/t.meta4", checksum="")
    assert status == 200, body
    assert body["template"][0]["mirrors"] == [
        {"url": "http://a/t.qcow2", "ok": True},
        {"url": "http://b/t.qcow2", "ok": False, "errortext": "connection refused"},
    ]


def test_list_apis_describes_templates_as_answered(server: ServerHarness) -> None:
    apis = {a["name"]: a for a in server.ok("listApis")["api"]}
    listed = {f["name"]: f for f in apis["listTemplates"]["response"]}
    details = {f["name"]: f for f in listed["downloaddetails"]["response"]}
    assert (
        listed["downloaddetails"]["type"] == "list" and details["downloadState"]["type"] == "string"
    )
    assert listed["size"]["type"] == "long" and "mirrors" not in listed
    assert "mirrors" in {f["name"] for f in apis["registerTemplate"]["response"]}
    related = set(apis["listTemplates"]["related"].split(","))
    assert {"listIsos", "registerIso", "updateTemplate", "copyIso", "prepareTemplate"} <= related
    assert "listTemplatePermissions" not in related
    update_id = {p["name"]: p for p in apis["updateTemplate"]["params"]}["id"]
    assert "listTemplates" in update_id["related"].split(",")
    os_type = {f["name"]: f for f in apis["listOsTypes"]["response"]}
    assert os_type["isuserdefined"]["type"] == "string"
    assert server.ok("listOsTypes")["ostype"][0]["isuserdefined"] == "false"
