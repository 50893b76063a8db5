"""extractTemplate/extractIso: a signed URL relaying a verified pool copy, or the registered URL."""

from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.infrastructure.models import Host, HostStatus
from kvmcloud.server.templates.models import TemplatePoolRef
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness
from tests.integration.server.jobs import finished, run_all_jobs
from tests.integration.server.test_templates import register

COPY_BYTES = bytes(range(256)) * 3 + b"\x00" * 232  # the fake agent's copies are 1000 bytes


def _template(server: ServerHarness, cloud: Cloud, **extra: object) -> dict[str, Any]:
    status, body = register(server, cloud, **extra)
    assert status == 200, body
    return body["template"][0]


def _prepare(server: ServerHarness, cloud: Cloud, template_id: str) -> str:
    """Put a Ready copy on the pool; the fake agent then serves its bytes. Returns its name."""
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    run_all_jobs(server)
    with server.db.transaction() as session:
        ref = session.scalars(select(TemplatePoolRef)).one()
        assert ref.local_path is not None
        name = ref.local_path
    server.agents.agents[AGENT_URL].files[name] = COPY_BYTES
    return name


def _extract(server: ServerHarness, template_id: str, **params: Any) -> dict[str, Any]:
    keys = params.pop("keys", None)
    status, reply = server.call(
        "extractTemplate", keys, id=template_id, mode="HTTP_DOWNLOAD", **params
    )
    assert status == 200, reply
    result = finished(server, reply)
    assert result["jobstatus"] == 1, result
    assert result["jobresulttype"] == "object"
    return result["jobresult"]["template"]


def _path(url: str) -> str:
    return urlsplit(url).path


def test_extract_of_a_template_on_a_pool_answers_a_signed_url_that_relays_the_copy(
    server: ServerHarness, cloud: Cloud
) -> None:
    template = _template(server, cloud, isextractable="true")
    name = _prepare(server, cloud, template["id"])
    extract = _extract(server, template["id"], zoneid=cloud.zone_id)
    assert extract["id"] == template["id"] and extract["name"] == "tiny"
    assert extract["state"] == "DOWNLOAD_URL_CREATED"
    assert extract["extractMode"] == "HTTP_DOWNLOAD"
    assert extract["zoneid"] == cloud.zone_id and extract["zonename"] == "zone1"
    assert extract["accountid"] and extract["storagetype"] == "Primary"
    assert "verified copy on pool pool1" in extract["resultstring"]
    assert "/client/extract/" in extract["url"]
    # No secret but the token: neither the header detail nor the agent key is in it.
    assert "s3cret" not in extract["url"]

    response = server.client.get(_path(extract["url"]))
    assert response.status_code == 200
    assert response.content == COPY_BYTES
    assert response.headers["content-length"] == "1000"
    assert response.headers["content-disposition"] == 'attachment; filename="tiny.qcow2"'
    head = server.client.head(_path(extract["url"]))
    assert head.status_code == 200 and head.headers["content-length"] == "1000"
    assert head.content == b""
    read, _head_read = server.agents.agents[AGENT_URL].reads
    assert read.name == name and read.size_bytes == 1000 and read.pool.uuid == cloud.pool_id

    (event,) = server.ok("listEvents", type="TEMPLATE.EXTRACT")["event"]
    assert event["level"] == "INFO" and event["resourcetype"] == "Template"


def test_a_tampered_or_expired_token_is_refused_403_without_asking_the_agent(
    server: ServerHarness, cloud: Cloud
) -> None:
    template = _template(server, cloud)
    _prepare(server, cloud, template["id"])
    path = _path(_extract(server, template["id"])["url"])
    agent = server.agents.agents[AGENT_URL]

    body, signature = path.rsplit("/", 1)[1].split(".")
    flipped = ("A" if body[5] != "A" else "B").join((body[:5], body[6:]))
    for bad in (f"{flipped}.{signature}", f"{body}.{signature[:-2]}", "nonsense", "a.b"):
        response = server.client.get(f"/client/extract/{bad}")
        assert response.status_code == 403, bad
        assert "not valid" in response.text
    assert agent.reads == []

    server.clock.advance(14400 + 1)  # extract.url.expiration.interval's default
    response = server.client.get(path)
    assert response.status_code == 403 and "expired" in response.text
    assert agent.reads == []


def test_the_expiry_follows_the_setting(server: ServerHarness, cloud: Cloud) -> None:
    server.ok("updateConfiguration", name="extract.url.expiration.interval", value="60")
    template = _template(server, cloud)
    _prepare(server, cloud, template["id"])
    path = _path(_extract(server, template["id"])["url"])
    server.clock.advance(59)
    assert server.client.get(path).status_code == 200
    server.clock.advance(2)
    assert server.client.get(path).status_code == 403


def test_without_a_pool_copy_the_registered_url_is_answered_masked_for_others(
    server: ServerHarness, cloud: Cloud
) -> None:
    url = "http://127.0.0.1:9/tiny.qcow2?X-Amz-Signature=abc"
    template = _template(server, cloud, url=url, ispublic="true", isextractable="true")
    own = _extract(server, template["id"])
    assert own["url"] == url
    assert "registered URL" in own["resultstring"] and "storagetype" not in own
    user = server.user("ulla")
    other = _extract(server, template["id"], keys=user)
    assert other["url"] == "http://127.0.0.1:9/tiny.qcow2?X-Amz-Signature=***"


def test_the_registered_url_is_checked_from_a_host_with_its_headers_first(
    server: ServerHarness, cloud: Cloud
) -> None:
    template = _template(server, cloud)
    agent = server.agents.agents[AGENT_URL]
    checks = len(agent.sent(msg.CheckUrlCommand))
    answer = _extract(server, template["id"])
    check = agent.sent(msg.CheckUrlCommand)[checks]
    assert check.url == "http://127.0.0.1:9/tiny.qcow2"
    assert check.headers == {"X-Auth-Token": "s3cret"}
    assert "checked from host" in answer["resultstring"]


def test_a_registered_url_that_no_longer_answers_fails_the_job(
    server: ServerHarness, cloud: Cloud
) -> None:
    template = _template(server, cloud)
    agent = server.agents.agents[AGENT_URL]
    agent.check_url = lambda _: msg.Answer(
        ok=False, error=msg.ErrorInfo(code=ErrorCode.SOURCE_NOT_FOUND, message="HTTP 404")
    )
    reply = server.ok("extractTemplate", id=template["id"], mode="HTTP_DOWNLOAD")
    result = finished(server, reply)
    assert result["jobstatus"] == 2
    assert result["jobresult"]["errorcode"] == 534
    assert "registered URL" in result["jobresult"]["errortext"]
    assert "HTTP 404" in result["jobresult"]["errortext"]
    (event,) = server.ok("listEvents", type="TEMPLATE.EXTRACT")["event"]
    assert event["level"] == "ERROR"


def test_without_an_up_host_the_registered_url_is_answered_unchecked(
    server: ServerHarness, cloud: Cloud
) -> None:
    template = _template(server, cloud)
    with server.db.transaction() as session:
        session.execute(update(Host).values(status=HostStatus.DISCONNECTED))
    answer = _extract(server, template["id"])
    assert answer["url"] == "http://127.0.0.1:9/tiny.qcow2"
    assert "not checked: no Up host" in answer["resultstring"]


def test_a_url_whose_copy_is_gone_answers_404(server: ServerHarness, cloud: Cloud) -> None:
    template = _template(server, cloud)
    name = _prepare(server, cloud, template["id"])
    path = _path(_extract(server, template["id"])["url"])
    del server.agents.agents[AGENT_URL].files[name]
    assert server.client.get(path).status_code == 404
    finished(server, server.ok("deleteTemplate", id=template["id"]))
    response = server.client.get(path)
    assert response.status_code == 404 and "no longer there" in response.text


def test_extract_iso_answers_an_iso_object_and_records_iso_extract(
    server: ServerHarness, cloud: Cloud
) -> None:
    iso = server.ok(
        "registerIso",
        name="boot",
        url="http://127.0.0.1:9/boot.iso",
        zoneid=cloud.zone_id,
        directdownload="true",
    )["iso"][0]
    reply = server.ok("extractIso", id=iso["id"], mode="HTTP_DOWNLOAD")
    result = finished(server, reply)
    assert result["jobstatus"] == 1, result
    assert result["jobresult"]["iso"]["id"] == iso["id"]
    assert result["jobresult"]["iso"]["url"] == "http://127.0.0.1:9/boot.iso"
    assert server.ok("listEvents", type="ISO.EXTRACT")["event"]


@pytest.mark.parametrize(
    ("params", "code", "param", "words"),
    [
        ({"mode": "FTP_UPLOAD"}, 431, "mode", "FTP_UPLOAD is not supported"),
        ({"mode": "SCP"}, 431, "mode", "Please specify a valid extract Mode"),
        ({"mode": "HTTP_DOWNLOAD", "zoneid": "00000000-0000-4000-8000-000000000000"}, 431, "", ""),
    ],
)
def test_extract_refuses_bad_parameters(
    server: ServerHarness, cloud: Cloud, params: dict[str, str], code: int, param: str, words: str
) -> None:
    template = _template(server, cloud)
    status, body = server.call("extractTemplate", id=template["id"], **params)
    assert status == code, body
    assert words in body["errortext"]
    if param:
        assert param in body["errortext"].lower()


def test_extract_refuses_what_cloudstack_refuses(server: ServerHarness, cloud: Cloud) -> None:
    template = _template(server, cloud, ispublic="true")
    user = server.user("ulla")
    status, body = server.call("extractTemplate", user, id=template["id"], mode="HTTP_DOWNLOAD")
    assert status == 431
    assert body["errortext"] == (
        f"Unable to extract template id={template['id']} as it's not extractable"
    )
    # The root admin may extract what is not extractable.
    assert _extract(server, template["id"])["url"]
    status, body = server.call("extractIso", id=template["id"], mode="HTTP_DOWNLOAD")
    assert status == 431
    # CloudStack's text, prefixed (as kvmcloud does for every 431) by the parameter's name.
    assert (
        body["errortext"] == "Invalid parameter id: Unsupported format, could not extract the ISO"
    )
    private = _template(server, cloud, name="private", isextractable="true")
    status, body = server.call("extractTemplate", user, id=private["id"], mode="HTTP_DOWNLOAD")
    assert status == 531, body
    server.ok("updateConfiguration", name="disable.extraction", value="true")
    status, body = server.call("extractTemplate", user, id=template["id"], mode="HTTP_DOWNLOAD")
    assert status == 531 and body["errortext"] == "Extraction has been disabled by admin"
