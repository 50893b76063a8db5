"""Defect 8 and the authorisation gaps of issue 12, with two accounts and an admin.

As CloudStack: another account's resource is 531 (PermissionDeniedException), an id that
does not exist is 431; ``isfeatured`` is ignored unless an admin registers.
"""

from typing import Any

from kvmcloud.server.accounts.service import ApiKeys
from tests.integration.server.conftest import Cloud, ServerHarness
from tests.integration.server.test_vms import offering

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _register(
    server: ServerHarness, cloud: Cloud, keys: ApiKeys, name: str, **extra: Any
) -> dict[str, Any]:
    status, body = server.call(
        "registerTemplate",
        keys,
        name=name,
        url=f"http://127.0.0.1:9/{name}.qcow2",
        format="QCOW2",
        hypervisor="KVM",
        zoneid=cloud.zone_id,
        directdownload="true",
        **extra,
    )
    assert status == 200, body
    return dict(body["template"][0])


def _deploy_call(
    server: ServerHarness, cloud: Cloud, keys: ApiKeys, template_id: str
) -> tuple[int, dict[str, Any]]:
    return server.call(
        "deployVirtualMachine",
        keys,
        zoneid=cloud.zone_id,
        templateid=template_id,
        serviceofferingid=offering(server),
    )


def _deploy(server: ServerHarness, cloud: Cloud, keys: ApiKeys, template_id: str) -> dict:
    status, reply = _deploy_call(server, cloud, keys, template_id)
    assert status == 200, reply
    server.run_jobs()
    return dict(reply)


def test_only_admins_register_featured_templates_and_isos(
    server: ServerHarness, cloud: Cloud
) -> None:
    user = server.user("alice")
    mine = _register(server, cloud, user, "mine", isfeatured="true", ispublic="true")
    assert mine["isfeatured"] is False
    status, body = server.call(
        "registerIso",
        user,
        name="iso",
        url="http://127.0.0.1:9/x.iso",
        zoneid=cloud.zone_id,
        directdownload="true",
        isfeatured="true",
    )
    assert status == 200 and body["iso"][0]["isfeatured"] is False, body
    featured = server.call("listTemplates", user, templatefilter="featured")[1]
    assert featured.get("count", 0) == 0

    admins = _register(server, cloud, server.admin, "admins", isfeatured="true")
    assert admins["isfeatured"] is True


def test_another_accounts_vm_is_531_and_an_unknown_one_431(
    server: ServerHarness, cloud: Cloud
) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    template = _register(server, cloud, alice, "t")
    vm_id = _deploy(server, cloud, alice, template["id"])["id"]

    for command in ("stopVirtualMachine", "startVirtualMachine", "destroyVirtualMachine"):
        status, body = server.call(command, bob, id=vm_id)
        assert status == 531, (command, body)
        assert body["errortext"] == (
            f"Account bob does not have permission to operate with resource VM instance {vm_id}"
        )
        status, body = server.call(command, bob, id=UNKNOWN)
        assert status == 431 and "id value=" in body["errortext"], (command, body)
    iso = server.ok(
        "registerIso",
        name="pub",
        url="http://127.0.0.1:9/p.iso",
        zoneid=cloud.zone_id,
        directdownload="true",
        ispublic="true",
    )["iso"][0]["id"]
    status, body = server.call("attachIso", bob, id=iso, virtualmachineid=vm_id)
    assert status == 531, body
    # Listings filter instead, as CloudStack's do: an empty answer, not an error.
    volume_id = server.ok("listVolumes", virtualmachineid=vm_id, listall="true")["volume"][0]["id"]
    for command, key, resource in (
        ("listVirtualMachines", "virtualmachine", vm_id),
        ("listVolumes", "volume", volume_id),
    ):
        status, body = server.call(command, bob, id=resource)
        assert status == 200 and key not in body, (command, body)
    status, body = server.call("listVolumes", bob, virtualmachineid=vm_id)
    assert status == 200 and "volume" not in body, body
    # The owner and admins still act.
    status, body = server.call("stopVirtualMachine", alice, id=vm_id)
    assert status == 200, body


def test_another_accounts_template_is_531(server: ServerHarness, cloud: Cloud) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    private = _register(server, cloud, alice, "private")["id"]
    public = _register(server, cloud, alice, "public", ispublic="true")["id"]

    status, body = _deploy_call(server, cloud, bob, private)
    assert status == 531, body
    assert body["errortext"] == (
        f"Account bob does not have permission to launch instances from template {private}"
    )
    status, body = server.call("listTemplates", bob, templatefilter="executable", id=private)
    assert status == 531, body
    status, body = server.call("listTemplates", bob, templatefilter="executable", id=public)
    assert status == 200 and body["template"][0]["id"] == public

    status, body = server.call("deleteTemplate", bob, id=private)
    assert status == 531 and "launch instances" in body["errortext"], body
    status, body = server.call("deleteTemplate", bob, id=public)
    assert status == 531, body
    assert body["errortext"] == (
        "Domain Admin and regular users can modify only their own Public templates"
    )
    status, body = server.call("deleteTemplate", bob, id=UNKNOWN)
    assert status == 431, body
    status, body = server.call("deleteTemplate", alice, id=private)
    assert status == 200, body


def test_another_accounts_job_is_531(server: ServerHarness, cloud: Cloud) -> None:
    alice, bob = server.user("alice"), server.user("bob")
    template = _register(server, cloud, alice, "t")
    job_id = _deploy(server, cloud, alice, template["id"])["jobid"]

    status, body = server.call("queryAsyncJobResult", bob, jobid=job_id)
    assert status == 531, body
    assert body["errortext"] == f"Account bob is not authorized to see job id={job_id}"
    status, body = server.call("queryAsyncJobResult", bob, jobid=UNKNOWN)
    assert status == 431, body
    assert server.call("queryAsyncJobResult", alice, jobid=job_id)[0] == 200
    assert server.call("queryAsyncJobResult", server.admin, jobid=job_id)[0] == 200
    listed = server.call("listAsyncJobs", bob)[1]
    assert all(job["jobid"] != job_id for job in listed.get("asyncjobs", []))


def test_only_a_root_admin_names_the_host_of_a_deploy(server: ServerHarness, cloud: Cloud) -> None:
    user = server.user("alice")
    template = _register(server, cloud, user, "t")
    status, body = server.call(
        "deployVirtualMachine",
        user,
        zoneid=cloud.zone_id,
        templateid=template["id"],
        serviceofferingid=offering(server),
        hostid=cloud.host_id,
    )
    assert status == 531, body
    assert body["errortext"] == (
        "Parameter hostid can only be specified by a Root Admin, permission denied"
    )
