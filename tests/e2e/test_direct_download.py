"""Register → BYPASSED row → prepareTemplate → verified file on the pool, end to end."""

import hashlib
import json
import subprocess
import sys

import pytest
from cs import CloudStackApiException

from tests.e2e.conftest import HEADER, Stack, add_host, wait_jobs
from tests.support.egress import ALLOW_SETTING, LOOPBACK
from tests.support.processes import free_port, start_agent

pytestmark = pytest.mark.e2e


def register(
    stack: Stack,
    name: str,
    *,
    checksum: str | None = None,
    path: str | None = None,
    header: bool = True,
) -> dict:
    params = {
        "name": name,
        "displaytext": name,
        "url": stack.origin.url(path or stack.image_path),
        "format": "QCOW2",
        "hypervisor": "KVM",
        "zoneid": stack.zone_id,
        "directdownload": True,
        "checksum": checksum if checksum is not None else f"{{SHA-256}}{stack.image_sha256}",
    }
    if header:
        params["details"] = {f"HTTP_HEADER:{HEADER[0]}": HEADER[1]}
    return stack.api.registerTemplate(**params)["template"][0]


def wait_job(stack: Stack, job_id: str) -> dict:
    # cs would follow the job itself and raise on failure; reading raw states (fetch_result
    # off) lets the test assert on a failed job's errortext.
    (result,) = wait_jobs(stack.api, [job_id], timeout_s=60)
    return result


def test_register_with_checksum_and_header_writes_bypassed_row(stack: Stack) -> None:
    template = register(stack, "e2e-register")
    assert template["directdownload"] is True and template["isready"] is True
    assert template["status"] == "Bypassed Secondary Storage"
    assert template["details"] == {f"HTTP_HEADER:{HEADER[0]}": "******"}
    rows = stack.rows(
        "select s.store_id, s.download_state, s.state, s.size, s.physical_size, t.direct_download "
        "from template_store_ref s join vm_template t on t.id = s.template_id where t.uuid = :id",
        id=template["id"],
    )
    assert len(rows) == 1
    row = rows[0]
    assert (
        row["store_id"] is None and row["download_state"] == "BYPASSED" and row["state"] == "Ready"
    )
    assert bool(row["direct_download"]) is True
    size = (stack.pool_path.parent / "images" / "tiny.qcow2").stat().st_size
    assert row["physical_size"] == size
    assert row["size"] == 1024 * 1024  # the qcow2's virtual size, read from its header by the host


def test_prepare_downloads_verifies_and_records_the_spool_ref(stack: Stack) -> None:
    template = register(stack, "e2e-prepare")
    before = stack.origin.get_count(stack.image_path)
    prepared = stack.api.prepareTemplate(
        templateid=template["id"], zoneid=stack.zone_id, storageid=stack.pool_id
    )
    job_id = prepared["template"][0]["downloaddetails"][0]["jobid"]
    result = wait_job(stack, job_id)
    assert result["jobstatus"] == 1, result
    refs = stack.rows(
        "select r.download_state, r.state, r.install_path, r.template_size, r.physical_size, "
        "r.download_pct from template_spool_ref r join vm_template t on t.id = r.template_id "
        "where t.uuid = :id",
        id=template["id"],
    )
    assert len(refs) == 1
    ref = refs[0]
    assert (ref["download_state"], ref["state"], ref["download_pct"]) == (
        "DOWNLOADED",
        "Ready",
        100,
    )
    published = stack.pool_path / ref["install_path"].rsplit("/", 1)[-1]
    assert ref["install_path"] == str(published)
    assert hashlib.sha256(published.read_bytes()).hexdigest() == stack.image_sha256
    assert ref["physical_size"] == published.stat().st_size
    assert ref["template_size"] == 1024 * 1024
    assert not any(".part" in name for name in stack.pool_files())
    assert stack.origin.get_count(stack.image_path) == before + 1
    # The template's pool copy says who downloaded it and that every byte arrived.
    (listed,) = stack.api.listTemplates(templatefilter="all", id=template["id"])["template"]
    (copy,) = listed["downloaddetails"]
    size = (stack.pool_path.parent / "images" / "tiny.qcow2").stat().st_size
    assert copy["totalbytes"] == copy["downloadedbytes"] == size
    (host,) = stack.api.listHosts(id=stack.host_id)["host"]
    assert (copy["hostid"], copy["hostname"]) == (stack.host_id, host["name"])
    assert copy["attempts"] == 1 and copy["failures"] == []
    # Preparing again on the same pool transfers nothing.
    again = stack.api.prepareTemplate(templateid=template["id"], zoneid=stack.zone_id)
    assert again["template"][0]["downloaddetails"][0]["downloadState"] == "DOWNLOADED"
    assert stack.origin.get_count(stack.image_path) == before + 1


def test_wrong_checksum_fails_the_job_and_leaves_nothing(stack: Stack) -> None:
    files_before = stack.pool_files()
    template = register(stack, "e2e-bad-sum", checksum="{SHA-256}" + "0" * 64)
    prepared = stack.api.prepareTemplate(
        templateid=template["id"], zoneid=stack.zone_id, storageid=stack.pool_id
    )
    result = wait_job(stack, prepared["template"][0]["downloaddetails"][0]["jobid"])
    assert result["jobstatus"] == 2
    text = result["jobresult"]["errortext"]
    assert "e2e-bad-sum" in text and "pool1" in text and "checksum" in text.lower(), text
    assert stack.pool_files() == files_before
    ref = stack.rows(
        "select r.download_state, r.error_str from template_spool_ref r join vm_template t "
        "on t.id = r.template_id where t.uuid = :id",
        id=template["id"],
    )[0]
    assert ref["download_state"] == "DOWNLOAD_ERROR" and "checksum" in ref["error_str"].lower()
    # The failure is an ERROR event naming the host and the reason, listed through cs.
    found = stack.api.listEvents(
        type="TEMPLATE.DIRECT.DOWNLOAD.FAILURE", resourcetype="Template", resourceid=template["id"]
    )
    assert found["count"] == 1, found
    event = found["event"][0]
    assert event["level"] == "ERROR" and "e2e-bad-sum" in event["description"]
    assert "after 1 attempt: host " in event["description"]
    assert "checksum" in event["description"].lower()


def test_url_404_and_missing_header_are_refused_at_registration(stack: Stack) -> None:
    with pytest.raises(CloudStackApiException) as missing:
        register(stack, "e2e-404", path="/no-such.qcow2")
    assert missing.value.error["errorcode"] == 431
    assert "404" in missing.value.error["errortext"]
    with pytest.raises(CloudStackApiException) as denied:
        register(stack, "e2e-403", header=False)
    assert "403" in denied.value.error["errortext"]
    names = [t["name"] for t in stack.api.listTemplates(templatefilter="all", fetch_list=True)]
    assert "e2e-404" not in names and "e2e-403" not in names


def test_cs_lists_and_deletes(stack: Stack) -> None:
    template = register(stack, "e2e-delete")
    listed = stack.api.listTemplates(templatefilter="executable", id=template["id"])
    assert listed["count"] == 1 and listed["template"][0]["name"] == "e2e-delete"
    assert stack.api.deleteTemplate(id=template["id"]) == {"success": True}
    assert stack.api.listTemplates(templatefilter="executable", id=template["id"]) == {}
    hosts = stack.api.listHosts(id=stack.host_id)["host"]
    assert hosts[0]["state"] == "Up"


def test_cs_updates_shares_and_copies_a_template(stack: Stack) -> None:
    template = register(stack, "e2e-manage")
    updated = stack.api.updateTemplate(id=template["id"], name="e2e-managed", sortkey=3)
    assert updated["template"]["name"] == "e2e-managed"
    assert stack.api.updateTemplatePermissions(id=template["id"], ispublic=True) == {
        "success": True
    }
    permission = stack.api.listTemplatePermissions(id=template["id"])["templatepermission"]
    assert permission["ispublic"] is True and permission["id"] == template["id"]
    zone = stack.api.createZone(name="e2e-zone2", networktype="Advanced", dns1="8.8.8.8")
    zone_id = zone["zone"]["id"]
    stack.api.updateConfiguration(name=ALLOW_SETTING, value=LOOPBACK, zoneid=zone_id)
    # cs follows the job: the answer is the job's result, the template in the new zone.
    copied = stack.api.copyTemplate(id=template["id"], destzoneid=zone_id)
    assert copied["template"]["zoneid"] == zone_id
    assert copied["template"]["status"] == "Bypassed Secondary Storage"
    rows = stack.rows(
        "select count(*) as n from template_zone_ref z join vm_template t on t.id = z.template_id "
        "where t.uuid = :id and z.removed is null",
        id=template["id"],
    )
    assert rows[0]["n"] == 2
    stores = stack.rows(
        "select count(*) as n from template_store_ref s join vm_template t "
        "on t.id = s.template_id where t.uuid = :id",
        id=template["id"],
    )
    assert stores[0]["n"] == 1
    stack.api.deleteTemplate(id=template["id"])


def test_cli_prepare_waits_with_progress(stack: Stack) -> None:
    template = register(stack, "e2e-cli")
    env = {
        "KVMCLOUD_URL": stack.endpoint,
        "KVMCLOUD_API_KEY": stack.keys.api_key,
        "KVMCLOUD_SECRET_KEY": stack.keys.secret_key,
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kvmcloud.cli",
            "api",
            "prepareTemplate",
            f"templateid={template['id']}",
            f"zoneid={stack.zone_id}",
            "--wait",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "pool1" in result.stderr and "done" in result.stderr
    outcome = json.loads(result.stdout)
    assert outcome[0]["jobstatus"] == 1


def test_agent_sigterm_exits_cleanly_and_host_goes_disconnected(stack: Stack) -> None:
    port = free_port()
    agent = start_agent(port, stack.workdir / "agent2-state", stack.workdir / "agent2.log")
    try:
        host = add_host(stack, port, stack.workdir / "agent2-state")
        assert host["state"] == "Up"
    finally:
        assert agent.stop() == 0, agent.log_tail()
    # The agent's last heartbeat says it is shutting down: no need to wait for a timeout.
    assert stack.api.listHosts(id=host["id"])["host"][0]["state"] == "Disconnected"
    assert stack.api.listHosts(id=stack.host_id)["host"][0]["state"] == "Up"
