"""Who sees and acts on which templates, ISOs, VMs, volumes, jobs and events (issue 13).

The tree: ROOT holds the root admin and the user rita; ROOT/sub the domain admin boss and
the user sam; ROOT/sub/child the user kid; ROOT/other the user olga. Each owns a private
template and a VM; the admin also owns a featured template and a public ISO, olga a
public template, sam and olga a private ISO each.
"""

from dataclasses import dataclass
from typing import Any

import pytest

from kvmcloud.server.accounts.service import ApiKeys
from tests.integration.server.conftest import Cloud, ServerHarness
from tests.integration.server.test_directory import account, domain
from tests.integration.server.test_vms import offering

UNKNOWN = "00000000-0000-4000-8000-000000000000"
USERS = ("rita", "boss", "sam", "kid", "olga")
EVERY_TEMPLATE = {"t-admin", "t-feat", "t-rita", "t-boss", "t-sam", "t-kid", "t-olga", "t-pub"}
PUBLIC = {"t-feat", "t-pub"}


@dataclass
class World:
    """The tree, its callers' keys, and the ids of what each owns."""

    server: ServerHarness
    cloud: Cloud
    domains: dict[str, str]
    keys: dict[str, ApiKeys]
    accounts: dict[str, str]  # account uuid -> name
    templates: dict[str, str]  # name -> uuid
    isos: dict[str, str]
    vms: dict[str, str]
    jobs: dict[str, str]  # VM name -> its deploy job
    offering: str

    def call(self, who: str, command: str, **params: Any) -> tuple[int, dict[str, Any]]:
        return self.server.call(command, self.keys[who], **params)

    def ok(self, who: str, command: str, **params: Any) -> dict[str, Any]:
        status, body = self.call(who, command, **params)
        assert status == 200, (who, command, params, body)
        return body

    def names(self, who: str, command: str, key: str, **params: Any) -> set[str]:
        """The names of what ``command`` lists for ``who``, read from field ``key``."""
        body = self.ok(who, command, pagesize=-1, **params)
        items = next((v for k, v in body.items() if k != "count"), [])
        assert body.get("count", 0) == len(items), body
        return {item[key] for item in items}

    def templates_seen(self, who: str, **params: Any) -> set[str]:
        params.setdefault("templatefilter", "executable")
        return self.names(who, "listTemplates", "name", **params)

    def owners_of(self, who: str, command: str, **params: Any) -> set[str]:
        """The account names of the jobs ``who`` lists (jobs show the account's uuid)."""
        body = self.ok(who, command, pagesize=-1, **params)
        return {self.accounts[job["accountid"]] for job in body.get("asyncjobs", [])}


def _register(world: World, who: str, name: str, command: str = "registerTemplate", **extra: Any):
    params: dict[str, Any] = {
        "name": name,
        "url": f"http://127.0.0.1:9/{name}.img",
        "zoneid": world.cloud.zone_id,
        "directdownload": "true",
    }
    if command == "registerTemplate":
        params |= {"format": "QCOW2", "hypervisor": "KVM"}
    key = "template" if command == "registerTemplate" else "iso"
    return world.ok(who, command, **params | extra)[key][0]


def _deploy(world: World, who: str, name: str, template: str, **extra: Any) -> dict[str, Any]:
    return world.ok(
        who,
        "deployVirtualMachine",
        zoneid=world.cloud.zone_id,
        templateid=world.templates[template],
        serviceofferingid=world.offering,
        name=name,
        **extra,
    )


@pytest.fixture
def world(server: ServerHarness, cloud: Cloud) -> World:
    sub = domain(server, "sub")
    child = domain(server, "child", sub["id"])
    other = domain(server, "other")
    root = server.ok("listDomains")["domain"][0]["id"]
    homes = {"rita": root, "boss": sub["id"], "sam": sub["id"], "kid": child["id"]}
    homes["olga"] = other["id"]
    keys = {"admin": server.admin}
    accounts = {}
    for name in USERS:
        made, keys[name] = account(server, name, homes[name], 2 if name == "boss" else 0)
        accounts[made["id"]] = name
    admin_account = server.ok("listAccounts")["account"][0]
    accounts[admin_account["id"]] = "admin"
    world = World(
        server,
        cloud,
        {"ROOT": root, "sub": sub["id"], "child": child["id"], "other": other["id"]},
        keys,
        accounts,
        {},
        {},
        {},
        {},
        offering(server),
    )
    for who in ("admin", *USERS):
        world.templates[f"t-{who}"] = _register(world, who, f"t-{who}")["id"]
    world.templates["t-feat"] = _register(world, "admin", "t-feat", ispublic=True, isfeatured=True)[
        "id"
    ]
    world.templates["t-pub"] = _register(world, "olga", "t-pub", ispublic=True)["id"]
    for who, extra in (("sam", {}), ("olga", {}), ("admin", {"ispublic": True})):
        name = "iso-pub" if extra else f"iso-{who}"
        world.isos[name] = _register(world, who, name, "registerIso", **extra)["id"]
    for who in ("admin", *USERS):
        reply = _deploy(world, who, f"vm-{who}", f"t-{who}")
        world.vms[f"vm-{who}"], world.jobs[f"vm-{who}"] = reply["id"], reply["jobid"]
    server.run_jobs()
    return world


# ---------------------------------------------------------------- templates and ISOs


def test_templates_each_caller_sees_by_filter(world: World) -> None:
    w = world
    # Without listall every caller gets their own images, plus public and featured ones.
    for who in ("admin", *USERS):
        assert w.templates_seen(who) == {f"t-{who}"} | PUBLIC, who
    # listall widens an admin's view to what they administer; a user's stays theirs.
    assert w.templates_seen("admin", listall=True) == EVERY_TEMPLATE
    assert w.templates_seen("boss", listall=True) == {"t-boss", "t-sam", "t-kid"} | PUBLIC
    assert w.templates_seen("sam", listall=True) == {"t-sam"} | PUBLIC
    # templatefilter=all lists as listall does; for users it means executable.
    assert w.templates_seen("admin", templatefilter="all") == EVERY_TEMPLATE
    assert w.templates_seen("boss", templatefilter="all") == {"t-boss", "t-sam", "t-kid"} | PUBLIC
    assert w.templates_seen("kid", templatefilter="all") == {"t-kid"} | PUBLIC
    # self: the caller's reach, no public images of others.
    assert w.templates_seen("admin", templatefilter="self") == {"t-admin", "t-feat"}
    assert w.templates_seen("boss", templatefilter="self", listall=True) == {
        "t-boss",
        "t-sam",
        "t-kid",
    }
    assert w.templates_seen("olga", templatefilter="self") == {"t-olga", "t-pub"}
    assert w.templates_seen("olga", templatefilter="self", listall=True) == {"t-olga", "t-pub"}
    # featured and community are the same for everyone.
    for who in ("admin", "boss", "rita"):
        assert w.templates_seen(who, templatefilter="featured") == {"t-feat"}
        assert w.templates_seen(who, templatefilter="community") == {"t-pub"}
    # sharedexecutable: only what other accounts shared with the caller (launch
    # permissions, test_template_management.py), not what is public.
    assert w.templates_seen("olga", templatefilter="sharedexecutable") == set()
    assert w.templates_seen("sam", templatefilter="sharedexecutable") == set()


def test_template_domain_and_account_filters(world: World) -> None:
    w, d = world, world.domains
    self_ = {"templatefilter": "self"}
    assert w.templates_seen("admin", domainid=d["sub"], **self_) == {"t-boss", "t-sam"}
    assert w.templates_seen("admin", domainid=d["sub"], isrecursive=True, **self_) == {
        "t-boss",
        "t-sam",
        "t-kid",
    }
    assert w.templates_seen("admin", domainid=d["ROOT"], **self_) == {
        "t-admin",
        "t-feat",
        "t-rita",
    }
    assert w.templates_seen("admin", account="sam", domainid=d["sub"], **self_) == {"t-sam"}
    assert w.templates_seen("boss", domainid=d["child"], **self_) == {"t-kid"}
    # account without domainid looks in the caller's own domain.
    assert w.templates_seen("boss", account="sam", **self_) == {"t-sam"}
    assert w.templates_seen("admin", account="rita", **self_) == {"t-rita"}
    # A user may name their own account and domain; it changes nothing.
    assert w.templates_seen("sam", account="sam", domainid=d["sub"], **self_) == {"t-sam"}
    # A domain filter narrows the owned part of executable; public images stay.
    assert w.templates_seen("admin", domainid=d["other"]) == {"t-olga"} | PUBLIC


def test_isos_follow_the_same_rules(world: World) -> None:
    w = world

    def isos(who: str, **params: Any) -> set[str]:
        return w.names(who, "listIsos", "name", **params)

    assert isos("sam") == {"iso-sam", "iso-pub"}
    assert isos("kid") == {"iso-pub"}
    assert isos("boss") == {"iso-pub"}
    assert isos("boss", listall=True) == {"iso-sam", "iso-pub"}
    assert isos("olga", isofilter="self") == {"iso-olga"}
    assert isos("admin", isofilter="all") == {"iso-sam", "iso-olga", "iso-pub"}
    assert isos("admin", isofilter="self", domainid=w.domains["other"]) == {"iso-olga"}
    status, _ = w.call("boss", "listIsos", domainid=w.domains["other"])
    assert status == 531


def test_a_private_template_by_id_is_for_those_over_its_owner(world: World) -> None:
    w = world
    seen = w.templates_seen("boss", id=w.templates["t-kid"])
    assert seen == {"t-kid"}
    (listed,) = w.ok("boss", "listTemplates", templatefilter="executable", id=w.templates["t-kid"])[
        "template"
    ]
    # The URL and status are shown to admins over the owner as to the owner.
    assert listed["status"] and listed["url"].endswith("t-kid.img")
    for who, name in (("boss", "t-olga"), ("sam", "t-kid"), ("olga", "t-sam")):
        status, body = w.call(
            who, "listTemplates", templatefilter="executable", id=w.templates[name]
        )
        assert status == 531, (who, name, body)
        assert "launch instances from template" in body["errortext"]


# ---------------------------------------------------------------- VMs, volumes, jobs, events


def test_vms_and_volumes_each_caller_sees(world: World) -> None:
    w, d = world, world.domains

    def vms(who: str, **params: Any) -> set[str]:
        return w.names(who, "listVirtualMachines", "name", **params)

    def volumes(who: str, **params: Any) -> set[str]:
        return w.names(who, "listVolumes", "vmname", **params)

    every = {f"vm-{who}" for who in ("admin", *USERS)}
    for listing in (vms, volumes):
        for who in ("admin", *USERS):
            assert listing(who) == {f"vm-{who}"}, (listing, who)
        assert listing("admin", listall=True) == every
        assert listing("boss", listall=True) == {"vm-boss", "vm-sam", "vm-kid"}
        assert listing("sam", listall=True) == {"vm-sam"}
        assert listing("admin", domainid=d["sub"]) == {"vm-boss", "vm-sam"}
        assert listing("admin", domainid=d["sub"], isrecursive=True) == {
            "vm-boss",
            "vm-sam",
            "vm-kid",
        }
        assert listing("admin", domainid=d["ROOT"], isrecursive=True) == every
        assert listing("admin", account="olga", domainid=d["other"]) == {"vm-olga"}
        assert listing("boss", domainid=d["child"]) == {"vm-kid"}
        assert listing("boss", account="kid", domainid=d["child"]) == {"vm-kid"}
        assert listing("rita", domainid=d["ROOT"]) == {"vm-rita"}
    # An id looks in the caller's whole reach, as CloudStack's does; beyond it, nothing.
    assert vms("admin", id=w.vms["vm-olga"]) == {"vm-olga"}
    assert vms("boss", id=w.vms["vm-kid"]) == {"vm-kid"}
    assert vms("boss", id=w.vms["vm-olga"]) == set()
    assert vms("sam", id=w.vms["vm-kid"]) == set()


def test_jobs_and_events_each_caller_sees(world: World) -> None:
    w, d = world, world.domains
    for who in ("admin", *USERS):
        assert w.owners_of(who, "listAsyncJobs") == {who}
    assert w.owners_of("admin", "listAsyncJobs", listall=True) == {"admin", *USERS}
    assert w.owners_of("boss", "listAsyncJobs", listall=True) == {"boss", "sam", "kid"}
    assert w.owners_of("kid", "listAsyncJobs", listall=True) == {"kid"}
    assert w.owners_of("boss", "listAsyncJobs", domainid=d["child"]) == {"kid"}
    assert w.owners_of("admin", "listAsyncJobs", domainid=d["sub"], isrecursive=True) == {
        "boss",
        "sam",
        "kid",
    }
    assert w.owners_of("admin", "listAsyncJobs", account="rita") == {"rita"}

    def events(who: str, **params: Any) -> set[str]:
        return w.names(who, "listEvents", "account", **params)

    for who in ("admin", *USERS):
        assert events(who) == {who}
    assert events("admin", listall=True) == {"admin", *USERS}
    assert events("boss", listall=True) == {"boss", "sam", "kid"}
    assert events("olga", listall=True) == {"olga"}
    assert events("admin", domainid=d["sub"]) == {"boss", "sam"}
    assert events("admin", domainid=d["sub"], isrecursive=True) == {"boss", "sam", "kid"}
    assert events("boss", account="sam") == {"sam"}


# ---------------------------------------------------------------- forbidden filters


@pytest.mark.parametrize(
    "command",
    [
        "listTemplates",
        "listIsos",
        "listVirtualMachines",
        "listVolumes",
        "listAsyncJobs",
        "listEvents",
    ],
)
def test_filters_out_of_reach_are_531_and_unknown_ones_431(world: World, command: str) -> None:
    w, d = world, world.domains
    extra = {"templatefilter": "self"} if command == "listTemplates" else {}

    def call(who: str, **params: Any) -> tuple[int, dict[str, Any]]:
        return w.call(who, command, **extra, **params)

    for who, params in (
        ("boss", {"domainid": d["other"]}),
        ("boss", {"domainid": d["ROOT"]}),
        ("sam", {"domainid": d["child"]}),
        ("sam", {"domainid": d["ROOT"]}),
    ):
        status, body = call(who, **params)
        assert status == 531, (who, params, body)
        assert body["errortext"] == (
            f"Account {who} does not have permission to access domain {params['domainid']}"
        )
    for who, params in (
        ("boss", {"account": "olga", "domainid": d["other"]}),
        ("sam", {"account": "boss"}),
        ("sam", {"account": "kid", "domainid": d["child"]}),
    ):
        assert call(who, **params)[0] == 531, (who, params)
    status, body = call("sam", account="boss")
    assert body["errortext"] == "Account sam does not have permission to access account boss"

    status, body = call("admin", account="nobody", domainid=d["sub"])
    assert status == 431
    assert body["errortext"] == f"Unable to find account nobody in domain {d['sub']}"
    # account without domainid looks in the caller's domain: kid is not in ROOT.
    status, body = call("admin", account="kid")
    assert status == 431 and "account kid" in body["errortext"]
    status, body = call("admin", domainid=UNKNOWN)
    assert status == 431 and "domainid" in body["errortext"]


# ---------------------------------------------------------------- actions on one resource


def test_a_domain_admin_acts_on_their_subtree_a_user_on_their_own(world: World) -> None:
    w = world
    sams, olgas, kids = w.vms["vm-sam"], w.vms["vm-olga"], w.vms["vm-kid"]
    assert w.ok("boss", "stopVirtualMachine", id=sams)["jobid"]
    assert w.ok("boss", "rebootVirtualMachine", id=kids)["jobid"]
    for who, vm in (("boss", olgas), ("sam", kids), ("kid", sams), ("rita", sams)):
        status, body = w.call(who, "stopVirtualMachine", id=vm)
        assert status == 531, (who, body)
        assert body["errortext"] == (
            f"Account {who} does not have permission to operate with resource VM instance {vm}"
        )
    # Jobs: the domain admin reads those of the subtree, a user only their own.
    assert w.ok("boss", "queryAsyncJobResult", jobid=w.jobs["vm-kid"])["jobstatus"] == 1
    for who, vm in (("boss", "vm-olga"), ("boss", "vm-admin"), ("sam", "vm-kid")):
        job = w.jobs[vm]
        status, body = w.call(who, "queryAsyncJobResult", jobid=job)
        assert status == 531, (who, body)
        assert body["errortext"] == f"Account {who} is not authorized to see job id={job}"
    # Images: the domain admin deletes one of the subtree, never one beyond it.
    assert w.ok("boss", "deleteTemplate", id=w.templates["t-kid"], forced=True)["jobid"]
    status, body = w.call("boss", "deleteTemplate", id=w.templates["t-olga"])
    assert status == 531 and "launch instances" in body["errortext"]
    status, body = w.call("boss", "deleteTemplate", id=w.templates["t-pub"])
    assert status == 531 and "only their own Public templates" in body["errortext"]
    # and launches the subtree's private images, as CloudStack's checkAccess allows.
    assert w.ok("boss", "deployVirtualMachine", **_deploy_params(w, "t-sam"))["jobid"]
    status, _ = w.call("boss", "deployVirtualMachine", **_deploy_params(w, "t-olga"))
    assert status == 531


def _deploy_params(world: World, template: str) -> dict[str, str]:
    return {
        "zoneid": world.cloud.zone_id,
        "templateid": world.templates[template],
        "serviceofferingid": world.offering,
    }


# ---------------------------------------------------------------- creating for an account


def test_admins_create_for_an_account_of_their_reach(world: World) -> None:
    w, d = world, world.domains
    made = _register(w, "admin", "for-olga", account="olga", domainid=d["other"])
    assert (made["account"], made["domainid"]) == ("olga", d["other"])
    assert "for-olga" in w.templates_seen("olga", templatefilter="self")
    iso = _register(w, "boss", "iso-for-kid", "registerIso", account="kid", domainid=d["child"])
    assert iso["account"] == "kid"
    assert w.names("kid", "listIsos", "name", isofilter="self") == {"iso-for-kid"}

    reply = _deploy(w, "boss", "vm-for-kid", "t-kid", account="kid", domainid=d["child"])
    w.server.run_jobs()
    (vm,) = w.ok("kid", "listVirtualMachines", id=reply["id"])["virtualmachine"]
    assert (vm["account"], vm["domainid"], vm["state"]) == ("kid", d["child"], "Running")
    # The owner follows the deploy's job and its events as their own.
    assert w.ok("kid", "queryAsyncJobResult", jobid=reply["jobid"])["jobstatus"] == 1
    assert "kid" in w.names("kid", "listEvents", "account", type="VM.CREATE")
    # A user may name themselves.
    assert _register(w, "sam", "mine", account="sam", domainid=d["sub"])["account"] == "sam"


def test_creating_for_an_account_is_refused_as_cloudstack_refuses(world: World) -> None:
    w, d = world, world.domains

    def register(who: str, **owner: str) -> tuple[int, dict[str, Any]]:
        return w.call(
            who,
            "registerTemplate",
            name="x",
            url="http://127.0.0.1:9/x.img",
            format="QCOW2",
            hypervisor="KVM",
            zoneid=w.cloud.zone_id,
            directdownload="true",
            **owner,
        )

    def deploy(who: str, template: str, **owner: str) -> tuple[int, dict[str, Any]]:
        return w.call(who, "deployVirtualMachine", **_deploy_params(w, template), **owner)

    status, body = register("admin", account="sam")
    assert status == 431
    assert body["errortext"] == "AccountName and domainId must be specified together"
    status, body = deploy("admin", "t-admin", domainid=d["sub"])
    assert status == 431 and body["errortext"].startswith("Invalid parameter account:")
    status, body = register("admin", account="nobody", domainid=d["sub"])
    assert status == 431
    assert body["errortext"] == f"Unable to find account nobody in domain {d['sub']}"
    status, body = register("boss", account="olga", domainid=d["other"])
    assert status == 531
    assert body["errortext"] == (
        f"Account boss does not have permission to access domain {d['other']}"
    )
    status, body = deploy("sam", "t-sam", account="kid", domainid=d["child"])
    assert status == 531
    assert body["errortext"] == (
        f"Can't create/list resources for account kid in domain {d['child']}, permission denied"
    )
    # The owner must be able to launch the image: not another account's private one.
    status, body = deploy("admin", "t-admin", account="sam", domainid=d["sub"])
    assert status == 531
    assert body["errortext"] == (
        "Account sam does not have permission to launch instances from template "
        f"{w.templates['t-admin']}"
    )
    # Nothing is created for an account that is not enabled.
    olga = next(a for a, name in w.accounts.items() if name == "olga")
    w.server.ok("disableAccount", id=olga, lock=False)
    status, body = deploy("admin", "t-olga", account="olga", domainid=d["other"])
    assert status == 531
    assert body["errortext"] == f"The owner of vm to deploy is disabled: Acct[{olga}-olga]"
    w.server.ok("lockAccount", id=olga)
    status, body = register("admin", account="olga", domainid=d["other"])
    assert status == 531
    assert body["errortext"] == f"The owner of template to register is locked: Acct[{olga}-olga]"
    assert (
        w.server.ok("listVirtualMachines", listall=True, account="olga", domainid=d["other"])[
            "count"
        ]
        == 1
    )
