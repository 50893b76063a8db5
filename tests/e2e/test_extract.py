"""extractTemplate through real server and agent: the signed URL relays the pool's copy."""

import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from kvmcloud.server.sealing.keyfile import key_file_path, load_box
from kvmcloud.server.templates.extract_tokens import ExtractClaims, sign_token, signing_key
from tests.e2e.conftest import Stack, wait_jobs
from tests.e2e.test_direct_download import register, wait_job

pytestmark = pytest.mark.e2e


def served_reads(stack: Stack) -> int:
    """How many pool-file reads the agent has logged serving."""
    return stack.agent.log_path.read_text(errors="replace").count("serving ")


def extract(stack: Stack, template_id: str) -> dict:
    reply = stack.api.extractTemplate(id=template_id, mode="HTTP_DOWNLOAD", fetch_result=False)
    (result,) = wait_jobs(stack.api, [reply["jobid"]], timeout_s=60)
    assert result["jobstatus"] == 1, result
    return result["jobresult"]["template"]


def test_extract_before_prepare_answers_the_registered_url(stack: Stack) -> None:
    template = register(stack, "e2e-extract-origin")
    stack.api.updateTemplatePermissions(id=template["id"], isextractable=True)
    answer = extract(stack, template["id"])
    assert answer["url"] == stack.origin.url(stack.image_path)
    assert "registered URL" in answer["resultstring"]
    assert "checked from host" in answer["resultstring"]


def test_signed_url_streams_the_verified_copy_and_refuses_forged_ones(stack: Stack) -> None:
    template = register(stack, "e2e-extract")
    prepared = stack.api.prepareTemplate(
        templateid=template["id"], zoneid=stack.zone_id, storageid=stack.pool_id
    )
    result = wait_job(stack, prepared["template"][0]["downloaddetails"][0]["jobid"])
    assert result["jobstatus"] == 1, result
    origin_gets = stack.origin.get_count(stack.image_path)

    answer = extract(stack, template["id"])
    url = answer["url"]
    server_base = stack.endpoint.removesuffix("/client/api")
    assert url.startswith(f"{server_base}/client/extract/")
    assert answer["state"] == "DOWNLOAD_URL_CREATED" and answer["storagetype"] == "Primary"
    assert "e2e-secret" not in url and stack.keys.secret_key not in url

    with httpx.Client(timeout=30) as http:
        response = http.get(url)
        assert response.status_code == 200, response.text
        assert hashlib.sha256(response.content).hexdigest() == stack.image_sha256
        assert response.headers["content-length"] == str(len(response.content))
        part = http.get(url, headers={"Range": "bytes=0-3"})
        assert part.status_code == 206
        assert part.content == b"QFI\xfb"  # the qcow2 magic
        assert part.headers["content-range"] == f"bytes 0-3/{len(response.content)}"
        # The bytes came from the pool through the agent, not from the origin again.
        assert stack.origin.get_count(stack.image_path) == origin_gets
        reads = served_reads(stack)
        assert reads >= 2

        token = url.rsplit("/", 1)[1]
        body, signature = token.split(".")
        tampered = f"{body[:-1]}{'A' if body[-1] != 'A' else 'B'}.{signature}"
        refused = http.get(f"{server_base}/client/extract/{tampered}")
        assert refused.status_code == 403 and "not valid" in refused.text

        # A token signed with the server's own key, but expired.
        box = load_box(key_file_path(stack.config_dir))
        ref_id = stack.rows(
            "select r.id from template_spool_ref r join vm_template t on t.id = r.template_id "
            "where t.uuid = :id",
            id=template["id"],
        )[0]["id"]
        past = int((datetime.now(UTC) - timedelta(seconds=1)).timestamp())
        expired = sign_token(
            ExtractClaims(ref_id, template["id"], past),
            box.current,
            signing_key(box.keys[box.current]),
        )
        refused = http.get(f"{server_base}/client/extract/{expired}")
        assert refused.status_code == 403 and "expired" in refused.text
        assert served_reads(stack) == reads
