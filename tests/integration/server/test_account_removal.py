"""deleteAccount, deleteDomain, disableAccount and disableUser as jobs (issue 13, item 2)."""

from typing import Any

import pytest
from sqlalchemy import select

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.accounts.models import Account
from kvmcloud.server.accounts.service import ApiKeys
from kvmcloud.server.templates.models import TemplatePoolRef
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness
from tests.integration.server.jobs import finished, run_all_jobs
from tests.integration.server.test_directory import account, domain, names, root_id
from tests.integration.server.test_vms import offering

DELETE_ACCOUNT_CMD = "org.apache.cloudstack.api.command.admin.account.DeleteAccountCmd"


def owned_vm(
    server: ServerHarness, cloud: Cloud, keys: ApiKeys, name: str, *, start: bool = True
) -> tuple[str, str]:
    """The account registers a direct-download template and deploys a VM from it."""
    status, body = server.call(
        "registerTemplate",
        keys,
        name=f"{name}-t",
        displaytext=name,
        url=f"http://127.0.0.1:9/{name}.qcow2",
        format="QCOW2",
        hypervisor="KVM",
        zoneid=cloud.zone_id,
        directdownload=True,
    )
    assert status == 200, body
    template_id = body["template"][0]["id"]
    status, body = server.call(
        "deployVirtualMachine",
        keys,
        zoneid=cloud.zone_id,
        templateid=template_id,
        serviceofferingid=offering(server, memory=128 + len(name)),
        name=name,
        startvm=start,
    )
    assert status == 200, body
    run_all_jobs(server)
    return body["id"], template_id


def agent_commands(server: ServerHarness, kind: type) -> list[Any]:
    return server.agents.agents[AGENT_URL].sent(kind)


def vm_ids(server: ServerHarness) -> set[str]:
    return {
        vm["id"] for vm in server.ok("listVirtualMachines", listall=True).get("virtualmachine", [])
    }


def events(server: ServerHarness, event_type: str) -> list[dict[str, Any]]:
    return server.ok("listEvents", listall=True, type=event_type).get("event", [])


def account_state(server: ServerHarness, uuid: str) -> str:
    with server.db.transaction() as session:
        return session.scalars(select(Account.state).where(Account.uuid == uuid)).one()


# ---------------------------------------------------------------- deleteAccount


def test_deleting_an_account_removes_its_vms_and_templates_through_their_jobs(
    server: ServerHarness, cloud: Cloud
) -> None:
    a = domain(server, "a")
    alice, keys = account(server, "alice", a["id"])
    running, template_id = owned_vm(server, cloud, keys, "web")
    stopped, _ = owned_vm(server, cloud, keys, "db", start=False)
    assert {running, stopped} <= vm_ids(server)

    reply = server.ok("deleteAccount", id=alice["id"])

    # At once: the users' keys fail, the account leaves the lists, its name is free.
    assert server.call("listZones", keys)[0] == 401
    assert server.ok("listAccounts", listall=True, name="alice").get("account") is None
    assert account_state(server, alice["id"]) == "removing"
    result = finished(server, reply)
    assert (result["jobstatus"], result["jobresult"]) == (1, {"success": True})
    assert result["cmd"] == DELETE_ACCOUNT_CMD
    assert result["jobinstancetype"] == "Account" and result["jobinstanceid"] == alice["id"]
    assert account_state(server, alice["id"]) == "removed"
    # Through the normal jobs: the VMs destroyed and expunged, the templates deleted.
    assert not {running, stopped} & vm_ids(server)
    # The stopped VM was never placed: only the running one had a domain to destroy.
    assert len(agent_commands(server, msg.DestroyVmCommand)) == 1
    jobs = server.ok("listAsyncJobs", listall=True)["asyncjobs"]
    commands = [j["cmd"].rsplit(".", 1)[-1] for j in jobs if j.get("jobinstanceid") != alice["id"]]
    assert commands.count("DestroyVMCmd") == 2 and commands.count("DeleteTemplateCmd") == 2
    all_templates = server.ok("listTemplates", templatefilter="all").get("template", [])
    assert template_id not in {t["id"] for t in all_templates}
    with server.db.transaction() as session:
        assert session.scalars(select(TemplatePoolRef)).all() == []
    (deleted,) = events(server, "ACCOUNT.DELETE")
    assert (deleted["level"], deleted["resourcetype"], deleted["resourceid"]) == (
        "INFO",
        "Account",
        alice["id"],
    )
    assert len(events(server, "VM.DESTROY")) == 2 and len(events(server, "TEMPLATE.DELETE")) == 2
    # The removed account is gone: deleting it again names the unknown id; the name is free.
    status, body = server.call("deleteAccount", id=alice["id"])
    assert status == 431 and "Invalid parameter id" in body["errortext"]
    again, _ = account(server, "alice", a["id"])
    assert again["id"] != alice["id"]


def test_a_failed_vm_fails_the_deletion_and_a_second_delete_retries_it(
    server: ServerHarness, cloud: Cloud
) -> None:
    alice, keys = account(server, "alice", root_id(server))
    vm_id, _ = owned_vm(server, cloud, keys, "web")
    server.agents.agents[AGENT_URL].reachable = False

    first = server.ok("deleteAccount", id=alice["id"])
    # Asked again while it is pending, the same job answers.
    assert server.ok("deleteAccount", id=alice["id"]) == first
    result = finished(server, first)

    assert (result["jobstatus"], result["jobresultcode"]) == (2, 530)
    text = result["jobresult"]["errortext"]
    assert text.startswith(f"Failed to delete account alice ({alice['id']}): VM web ({vm_id})")
    assert "could not be destroyed" in text and "Cannot reach the agent" in text
    assert text.endswith("call deleteAccount again to retry")
    assert account_state(server, alice["id"]) == "removing"
    assert vm_id in vm_ids(server)
    (failed,) = events(server, "ACCOUNT.DELETE")
    assert failed["level"] == "ERROR" and "could not be destroyed" in failed["description"]

    server.agents.agents[AGENT_URL].reachable = True
    second = server.ok("deleteAccount", id=alice["id"])
    assert second != first
    assert finished(server, second)["jobstatus"] == 1
    assert vm_id not in vm_ids(server)
    assert account_state(server, alice["id"]) == "removed"


def test_delete_account_refusals(server: ServerHarness) -> None:
    a, other = domain(server, "a"), domain(server, "other")
    alice, alice_keys = account(server, "alice", a["id"])
    _, boss = account(server, "boss", other["id"], account_type=2)
    admin = server.ok("listAccounts", name="admin")["account"][0]

    unknown = "6a1c5c32-1d1e-4c39-9e5e-0d3b3f7f0a11"
    status, body = server.call("deleteAccount", id=unknown)
    assert status == 431 and f"Invalid parameter id value={unknown}" in body["errortext"]
    status, body = server.call("deleteAccount", id=admin["id"])
    assert status == 531 and "system account" in body["errortext"]
    # A plain user may not (the User role lacks deleteAccount: 432), nor a domain admin
    # of another subtree (531).
    assert server.call("deleteAccount", alice_keys, id=alice["id"])[0] == 432
    assert server.call("deleteAccount", boss, id=alice["id"])[0] == 531
    assert account_state(server, alice["id"]) == "enabled"


# ---------------------------------------------------------------- deleteDomain


def test_deleting_a_domain_with_cleanup_removes_its_subtree_and_accounts(
    server: ServerHarness, cloud: Cloud
) -> None:
    a = domain(server, "a")
    b = domain(server, "b", a["id"])
    alice, keys = account(server, "alice", b["id"])
    bob, _ = account(server, "bob", a["id"])
    vm_id, _ = owned_vm(server, cloud, keys, "web")

    status, body = server.call("deleteDomain", id=a["id"])
    assert status == 530 and body["errortext"].startswith("Delete failed on domain a")
    reply = server.ok("deleteDomain", id=a["id"], cleanup=True)

    # While the job runs the subtree is Inactive: nothing new may be created in it.
    listed = server.ok("listDomains", listall=True)["domain"]
    assert {d["name"]: d["state"] for d in listed} == {
        "ROOT": "Active",
        "a": "Inactive",
        "b": "Inactive",
    }
    status, body = server.call(
        "createAccount",
        username="late",
        email="l@example.org",
        firstname="L",
        lastname="L",
        accounttype=0,
        domainid=b["id"],
    )
    assert (status, body["errortext"]) == (
        530,
        "The account cannot be created as domain b is being deleted",
    )
    status, body = server.call("createDomain", name="c", parentdomainid=a["id"])
    assert (status, body["errortext"]) == (
        530,
        "The domain cannot be created as the parent domain a is being deleted",
    )
    status, body = server.call(
        "createUser",
        username="late",
        email="l@example.org",
        firstname="L",
        lastname="L",
        account="bob",
        domainid=a["id"],
    )
    assert status == 530 and "The user cannot be created as domain a" in body["errortext"]
    assert server.call("listZones", keys)[0] == 401

    result = finished(server, reply)

    assert (result["jobstatus"], result["jobresult"]) == (1, {"success": True})
    assert names(server.ok("listDomains", listall=True)["domain"]) == ["ROOT"]
    assert vm_id not in vm_ids(server)
    assert account_state(server, alice["id"]) == account_state(server, bob["id"]) == "removed"
    (deleted,) = events(server, "DOMAIN.DELETE")
    assert (deleted["level"], deleted["resourcetype"], deleted["resourceid"]) == (
        "INFO",
        "Domain",
        a["id"],
    )
    status, _ = server.call("deleteDomain", id=a["id"], cleanup=True)
    assert status == 431


def test_a_failed_cleanup_keeps_what_is_left_inactive_and_can_be_retried(
    server: ServerHarness, cloud: Cloud
) -> None:
    a = domain(server, "a")
    b, c = domain(server, "b", a["id"]), domain(server, "c", a["id"])
    alice, keys = account(server, "alice", b["id"])
    account(server, "carol", c["id"])
    vm_id, _ = owned_vm(server, cloud, keys, "web")
    server.agents.agents[AGENT_URL].reachable = False

    result = finished(server, server.ok("deleteDomain", id=a["id"], cleanup=True))

    assert result["jobstatus"] == 2
    text = result["jobresult"]["errortext"]
    assert text.startswith(f"Failed to clean up domain a ({a['id']}): account alice: VM web")
    assert text.endswith("call deleteDomain with cleanup=true again to retry")
    # The emptied branch went, deepest first; the rest waits, Inactive.
    listed = server.ok("listDomains", listall=True)["domain"]
    assert {d["name"]: d["state"] for d in listed} == {
        "ROOT": "Active",
        "a": "Inactive",
        "b": "Inactive",
    }
    assert account_state(server, alice["id"]) == "removing"
    status, body = server.call("deleteDomain", id=b["id"])
    assert (status, body["errortext"]) == (
        530,
        "Can't delete the domain yet because it has 1 accounts to cleanup",
    )
    (failed,) = events(server, "DOMAIN.DELETE")
    assert failed["level"] == "ERROR"

    server.agents.agents[AGENT_URL].reachable = True
    retried = finished(server, server.ok("deleteDomain", id=a["id"], cleanup=True))

    assert retried["jobstatus"] == 1
    assert names(server.ok("listDomains", listall=True)["domain"]) == ["ROOT"]
    assert vm_id not in vm_ids(server)


def test_delete_domain_refusals(server: ServerHarness) -> None:
    a = domain(server, "a")
    _, root_admin_in_a = account(server, "ops", a["id"], account_type=1)
    _, boss = account(server, "boss", a["id"], account_type=2)

    status, body = server.call("deleteDomain", id=root_id(server))
    assert (status, body["errortext"]) == (531, "Can't delete ROOT domain")
    unknown = "6a1c5c32-1d1e-4c39-9e5e-0d3b3f7f0a11"
    assert server.call("deleteDomain", id=unknown)[0] == 431
    status, body = server.call("deleteDomain", root_admin_in_a, id=a["id"], cleanup=True)
    assert status == 531 and "the account you are calling as is in it" in body["errortext"]
    assert server.call("deleteDomain", boss, id=a["id"], cleanup=True)[0] == 531
    assert server.ok("listDomains", id=a["id"])["domain"][0]["state"] == "Active"


# ---------------------------------------------------------------- disabling


def test_disabling_an_account_stops_its_running_vms_through_stop_jobs(
    server: ServerHarness, cloud: Cloud
) -> None:
    alice, keys = account(server, "alice", root_id(server))
    running, _ = owned_vm(server, cloud, keys, "web")
    owned_vm(server, cloud, keys, "db", start=False)

    reply = server.ok("disableAccount", id=alice["id"], lock=False)

    assert server.call("listZones", keys)[0] == 401
    result = finished(server, reply)
    assert result["jobstatus"] == 1
    assert result["jobresult"]["account"]["state"] == "disabled"
    (stop,) = agent_commands(server, msg.StopVmCommand)
    assert stop.forced is False
    vm = server.ok("listVirtualMachines", id=running, listall=True)["virtualmachine"][0]
    assert vm["state"] == "Stopped"
    (disabled,) = events(server, "ACCOUNT.DISABLE")
    assert (disabled["level"], disabled["resourceid"]) == ("INFO", alice["id"])
    assert len(events(server, "VM.STOP")) == 1


def test_locking_through_disable_account_stops_nothing(server: ServerHarness, cloud: Cloud) -> None:
    alice, keys = account(server, "alice", root_id(server))
    running, _ = owned_vm(server, cloud, keys, "web")

    result = finished(server, server.ok("disableAccount", id=alice["id"], lock=True))

    assert result["jobresult"]["account"]["state"] == "locked"
    assert agent_commands(server, msg.StopVmCommand) == []
    assert (
        server.ok("listVirtualMachines", id=running, listall=True)["virtualmachine"][0]["state"]
        == "Running"
    )


def test_a_vm_that_does_not_stop_fails_the_disable_job(server: ServerHarness, cloud: Cloud) -> None:
    alice, keys = account(server, "alice", root_id(server))
    running, _ = owned_vm(server, cloud, keys, "web")
    server.agents.agents[AGENT_URL].reachable = False

    result = finished(server, server.ok("disableAccount", id=alice["id"], lock=False))

    assert result["jobstatus"] == 2
    assert result["jobresult"]["errortext"].startswith(
        f"Disabled account alice ({alice['id']}), but not all of its VMs stopped: "
        f"VM web ({running}) could not be stopped"
    )
    assert account_state(server, alice["id"]) == "disabled"


def test_disabling_a_user_is_a_job(server: ServerHarness) -> None:
    a = domain(server, "a")
    created, _ = account(server, "alice", a["id"])
    user_id = created["user"][0]["id"]
    pair = server.ok("registerUserKeys", id=user_id)["userkeys"]
    keys = ApiKeys("alice", pair["apikey"], pair["secretkey"])

    reply = server.ok("disableUser", id=user_id)

    assert server.call("listZones", keys)[0] == 401
    result = finished(server, reply)
    assert result["jobstatus"] == 1
    user = result["jobresult"]["user"]
    assert (user["id"], user["state"], user["iscallerchilddomain"]) == (user_id, "disabled", True)
    (disabled,) = events(server, "USER.DISABLE")
    assert (disabled["resourcetype"], disabled["resourceid"]) == ("User", user_id)
    assert server.call("disableUser", id="6a1c5c32-1d1e-4c39-9e5e-0d3b3f7f0a11")[0] == 431
    me = server.ok("listUsers", username="admin")["user"][0]["id"]
    assert server.call("disableUser", id=me)[0] == 531
    server.ok("enableUser", id=user_id)
    # The User role lacks disableUser.
    assert server.call("disableUser", keys, id=me)[0] == 432


@pytest.mark.parametrize(
    "command", ["deleteAccount", "deleteDomain", "disableAccount", "disableUser"]
)
def test_list_apis_says_these_commands_are_async(server: ServerHarness, command: str) -> None:
    (api,) = server.ok("listApis", name=command)["api"]
    assert api["isasync"] is True
