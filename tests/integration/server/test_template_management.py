"""updateTemplate/updateIso, permissions, template filters and copyTemplate/copyIso (issue 14).

The tree of test_visibility (ROOT: admin, rita; ROOT/sub: boss (domain admin), sam;
ROOT/sub/child: kid; ROOT/other: olga), plus sue, a second user of ROOT/sub.
"""

from typing import Any

import pytest
from sqlalchemy import select

from kvmcloud.server.templates.models import TemplateStoreRef
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness
from tests.integration.server.jobs import finished
from tests.integration.server.test_directory import account
from tests.integration.server.test_templates import register
from tests.integration.server.test_visibility import PUBLIC, World, _deploy, _register
from tests.integration.server.test_visibility import world as world  # the fixture
from tests.support.egress import ALLOW_SETTING, LOOPBACK


@pytest.fixture
def shared_world(world: World) -> World:
    made, world.keys["sue"] = account(world.server, "sue", world.domains["sub"])
    world.accounts[made["id"]] = "sue"
    return world


def _template(w: World, who: str, name: str) -> dict[str, Any]:
    (item,) = w.ok(who, "listTemplates", templatefilter="all", id=w.templates[name])["template"]
    return item


def _os_type(w: World, description: str) -> str:
    types = w.ok("admin", "listOsTypes", pagesize=-1)["ostype"]
    return next(t["id"] for t in types if t["description"] == description)


# ---------------------------------------------------------------- updateTemplate, updateIso


def test_update_template_changes_what_it_is_given_and_answers_the_template(world: World) -> None:
    w = world
    ubuntu = _os_type(w, "Ubuntu 22.04 LTS")
    reply = w.ok(
        "sam",
        "updateTemplate",
        id=w.templates["t-sam"],
        name="t-sam2",
        displaytext="Sam's image",
        ostypeid=ubuntu,
        passwordenabled=True,
        sshkeyenabled=True,
        isdynamicallyscalable=True,
        requireshvm=False,
        bootable=True,
        format="raw",
        **{"details[0].rootDiskController": "scsi"},
    )
    template = reply["template"]
    assert template["id"] == w.templates["t-sam"]
    assert (template["name"], template["displaytext"]) == ("t-sam2", "Sam's image")
    assert (template["ostypeid"], template["ostypename"]) == (ubuntu, "Ubuntu 22.04 LTS")
    assert template["passwordenabled"] is True and template["sshkeyenabled"] is True
    assert template["isdynamicallyscalable"] is True and template["requireshvm"] is False
    assert template["format"] == "RAW"
    assert template["details"] == {"rootDiskController": "scsi"}
    listed = _template(w, "sam", "t-sam")
    assert listed["name"] == "t-sam2" and listed["details"] == {"rootDiskController": "scsi"}
    (event,) = w.ok("sam", "listEvents", type="TEMPLATE.UPDATE")["event"]
    assert event["description"] == (
        f"Successfully completed updating template t-sam2 ({w.templates['t-sam']})"
    )
    # What is not given stays; cleanupdetails drops the details.
    again = w.ok("sam", "updateTemplate", id=w.templates["t-sam"], cleanupdetails=True)
    assert again["template"]["name"] == "t-sam2"
    assert "details" not in again["template"] or again["template"]["details"] == {}


def test_update_iso_answers_the_iso(world: World) -> None:
    w = world
    reply = w.ok("sam", "updateIso", id=w.isos["iso-sam"], bootable=False, displaytext="d")
    assert reply["iso"]["bootable"] is False and reply["iso"]["displaytext"] == "d"
    assert reply["iso"]["format"] == "ISO"
    # A template is not an ISO, and an ISO is not a template.
    status, _ = w.call("sam", "updateIso", id=w.templates["t-sam"], bootable=False)
    assert status == 431
    status, _ = w.call("sam", "updateTemplate", id=w.isos["iso-sam"], name="x")
    assert status == 431


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"format": "VHDX"}, "Image format: VHDX is incorrect. Supported formats are"),
        ({"format": "ISO"}, "format ISO cannot be set on a template"),
        ({"ostypeid": "00000000-0000-4000-8000-000000000000"}, "Invalid parameter ostypeid"),
        ({"name": " "}, "name cannot be empty"),
        ({"details[0].HTTP_HEADER:X-Token": "t"}, "HTTP_HEADER details are set when"),
        ({"sortkey": "high"}, "sortkey"),
    ],
)
def test_update_template_refuses_bad_values_with_431(
    world: World, params: dict[str, str], words: str
) -> None:
    status, body = world.call("sam", "updateTemplate", id=world.templates["t-sam"], **params)
    assert status == 431, body
    assert words in body["errortext"]
    assert _template(world, "sam", "t-sam")["name"] == "t-sam"


def test_update_template_needs_an_id_that_exists(world: World) -> None:
    status, body = world.call("sam", "updateTemplate", name="x")
    assert status == 431 and "id" in body["errortext"]
    status, body = world.call(
        "sam", "updateTemplate", id="00000000-0000-4000-8000-000000000000", name="x"
    )
    assert status == 431 and "Invalid parameter id" in body["errortext"]


def test_template_type_is_for_root_admins(world: World) -> None:
    w = world
    for who in ("sam", "boss"):
        for param in ({"templatetype": "ROUTING"}, {"isrouting": True}):
            status, body = w.call(who, "updateTemplate", id=w.templates["t-sam"], **param)
            assert status == 531, body
            assert "can only be specified by a Root Admin" in body["errortext"]
    reply = w.ok("admin", "updateTemplate", id=w.templates["t-sam"], templatetype="routing")
    assert reply["template"]["templatetype"] == "ROUTING"
    status, body = w.call("admin", "updateTemplate", id=w.templates["t-sam"], templatetype="X")
    assert status == 431 and "templatetype" in body["errortext"]


def test_who_may_update_a_template(world: World) -> None:
    w = world
    # A user: their own only; another's private one is 531, another's public one too.
    for who, name, words in (
        ("sam", "t-kid", "does not have permission to launch instances"),
        ("kid", "t-pub", "can modify only their own Public templates"),
        ("boss", "t-olga", "does not have permission to launch instances"),
    ):
        status, body = w.call(who, "updateTemplate", id=w.templates[name], name="stolen")
        assert status == 531, (who, name, body)
        assert words in body["errortext"]
    # A domain admin: their subtree's; the root admin: every one.
    assert w.ok("boss", "updateTemplate", id=w.templates["t-kid"], name="k2")["template"]
    assert w.ok("admin", "updateTemplate", id=w.templates["t-olga"], name="o2")["template"]
    assert _template(w, "admin", "t-kid")["name"] == "k2"
    assert _template(w, "admin", "t-olga")["name"] == "o2"


def test_sortkey_orders_the_listing(world: World) -> None:
    w = world
    w.ok("olga", "updateTemplate", id=w.templates["t-olga"], sortkey=-1)
    names = [
        t["name"] for t in w.ok("olga", "listTemplates", templatefilter="executable")["template"]
    ]
    assert names[0] == "t-olga"


# ---------------------------------------------------------------- permissions


def _share(w: World, who: str, name: str, op: str, accounts: str, **extra: Any) -> dict:
    return w.ok(
        who, "updateTemplatePermissions", id=w.templates[name], op=op, accounts=accounts, **extra
    )


def test_a_template_shared_with_an_account_is_listed_and_deployable_there(
    shared_world: World,
) -> None:
    w = shared_world
    status, body = w.call("sue", "listTemplates", templatefilter="all", id=w.templates["t-sam"])
    assert status == 531, body
    assert _share(w, "sam", "t-sam", "add", "sue") == {"success": True}
    assert w.templates_seen("sue", templatefilter="sharedexecutable") == {"t-sam"}
    assert w.templates_seen("sue", templatefilter="shared") == {"t-sam"}
    assert w.templates_seen("sue", templatefilter="all") == {"t-sam"} | PUBLIC
    # As in CloudStack: executable and self are the caller's own and public ones.
    assert w.templates_seen("sue", templatefilter="executable") == PUBLIC
    assert w.templates_seen("sue", templatefilter="self") == set()
    # Only the account it is shared with; the owner does not list it as shared.
    assert w.templates_seen("sam", templatefilter="sharedexecutable") == set()
    assert w.templates_seen("kid", templatefilter="sharedexecutable") == set()
    assert w.templates_seen("sue", id=w.templates["t-sam"]) == {"t-sam"}
    _deploy(w, "sue", "vm-sue", "t-sam")
    permissions = w.ok("sam", "listTemplatePermissions", id=w.templates["t-sam"])
    assert permissions["templatepermission"] == {
        "id": w.templates["t-sam"],
        "ispublic": False,
        "account": ["sue", "sam"],
        "projectids": [],
    }
    # The account it is shared with may look at its permissions; others may not.
    assert w.ok("sue", "listTemplatePermissions", id=w.templates["t-sam"])["templatepermission"]
    assert w.call("kid", "listTemplatePermissions", id=w.templates["t-sam"])[0] == 531
    by_admin = w.ok("admin", "listTemplatePermissions", id=w.templates["t-sam"])
    assert by_admin["templatepermission"]["domainid"] == w.domains["sub"]
    # Removing takes it back: no listing, no deploy.
    _share(w, "sam", "t-sam", "remove", "sue")
    assert w.templates_seen("sue", templatefilter="sharedexecutable") == set()
    status, body = w.call(
        "sue",
        "deployVirtualMachine",
        zoneid=w.cloud.zone_id,
        templateid=w.templates["t-sam"],
        serviceofferingid=w.offering,
    )
    assert status == 531 and "launch instances from template" in body["errortext"]


def test_domain_and_root_admins_see_what_is_shared_with_their_own_account(
    shared_world: World,
) -> None:
    w = shared_world
    # The caller is skipped, as in CloudStack: the owner may launch it anyway.
    _share(w, "olga", "t-olga", "add", "olga")
    _share(w, "rita", "t-rita", "add", "admin")
    _share(w, "sam", "t-sam", "add", "boss")
    assert w.templates_seen("boss", templatefilter="sharedexecutable") == {"t-sam"}
    assert w.templates_seen("admin", templatefilter="sharedexecutable") == {"t-rita"}
    # With listall (many accounts) CloudStack answers sharedexecutable with nothing.
    assert w.templates_seen("admin", templatefilter="sharedexecutable", listall=True) == set()
    assert w.ok("olga", "listTemplatePermissions", id=w.templates["t-olga"])["templatepermission"][
        "account"
    ] == ["olga"]


def test_adding_accounts_is_all_or_nothing_and_in_the_owners_domain(shared_world: World) -> None:
    w = shared_world
    status, body = w.call(
        "sam", "updateTemplatePermissions", id=w.templates["t-sam"], op="add", accounts="sue,kid"
    )
    assert status == 431, body
    assert body["errortext"].endswith(
        f"Unable to grant a launch permission to account kid in domain id={w.domains['sub']}, "
        "account not found.  No permissions updated, please verify the account names and retry."
    )
    assert w.templates_seen("sue", templatefilter="sharedexecutable") == set()


@pytest.mark.parametrize(
    ("who", "params", "status", "words"),
    [
        ("sam", {"op": "share", "accounts": "sue"}, 431, "Given operation is: 'share'"),
        ("sam", {"accounts": "sue"}, 431, "the operation must be either 'add' or 'remove'"),
        ("sam", {"op": "add"}, 431, "Operation add requires accounts or projectIds"),
        ("sam", {"isfeatured": True}, 531, "isfeatured can only be specified by an Admin"),
        ("sam", {"isextractable": True}, 431, "Only ROOT admins are allowed to modify"),
        ("boss", {"isextractable": True}, 431, "Only ROOT admins are allowed to modify"),
        ("kid", {"ispublic": True}, 531, "does not have permission"),
        ("olga", {"op": "add", "accounts": "olga"}, 531, "does not have permission"),
        ("sam", {"projectids": "00000000-0000-4000-8000-000000000000"}, 431, "projects"),
    ],
)
def test_update_permissions_refuses_as_cloudstack(
    shared_world: World, who: str, params: dict[str, Any], status: int, words: str
) -> None:
    w = shared_world
    got, body = w.call(who, "updateTemplatePermissions", id=w.templates["t-sam"], **params)
    assert got == status, body
    assert words in body["errortext"]
    assert _template(w, "sam", "t-sam")["ispublic"] is False


def test_public_featured_and_reset(shared_world: World) -> None:
    w = shared_world
    w.ok("sam", "updateTemplatePermissions", id=w.templates["t-sam"], ispublic=True)
    assert "t-sam" in w.templates_seen("kid")
    assert "t-sam" in w.templates_seen("olga", templatefilter="community")
    # Anyone may list the permissions of a public template; a private one's are 531.
    assert w.ok("olga", "listTemplatePermissions", id=w.templates["t-sam"])[
        "templatepermission"
    ] == {"id": w.templates["t-sam"], "ispublic": True, "account": [], "projectids": []}
    status, _ = w.call("olga", "listTemplatePermissions", id=w.templates["t-kid"])
    assert status == 531
    # Featured is for admins; a domain admin may feature their subtree's.
    w.ok("boss", "updateTemplatePermissions", id=w.templates["t-sam"], isfeatured=True)
    assert w.templates_seen("olga", templatefilter="featured") == {"t-feat", "t-sam"}
    w.ok("admin", "updateTemplatePermissions", id=w.templates["t-sam"], isextractable=True)
    assert _template(w, "sam", "t-sam")["isextractable"] is True
    _share(w, "sam", "t-sam", "add", "sue")
    # reset: private, not featured, shared with no one.
    w.ok("sam", "updateTemplatePermissions", id=w.templates["t-sam"], op="reset")
    item = _template(w, "sam", "t-sam")
    assert (item["ispublic"], item["isfeatured"]) == (False, False)
    assert w.templates_seen("sue", templatefilter="sharedexecutable") == set()
    assert "t-sam" not in w.templates_seen("kid")


def test_iso_permissions(shared_world: World) -> None:
    w = shared_world
    iso = w.isos["iso-sam"]
    # A user may make their own ISO extractable (CloudStack: ISOs have no derivatives).
    w.ok("sam", "updateIsoPermissions", id=iso, op="add", accounts="sue", isextractable=True)
    assert w.names("sue", "listIsos", "name", isofilter="sharedexecutable") == {"iso-sam"}
    listed = w.ok("sam", "listIsoPermissions", id=iso)["templatepermission"]
    assert listed["account"] == ["sue", "sam"]
    status, body = w.call("sam", "updateIsoPermissions", id=w.templates["t-sam"], ispublic=True)
    assert status == 431 and body["errortext"].endswith("Please provide a valid iso")
    status, body = w.call("sam", "listTemplatePermissions", id=iso)
    assert status == 431 and body["errortext"].endswith("Please provide a valid template")


# ---------------------------------------------------------------- filters


def test_featured_and_community_are_public_images_only(world: World) -> None:
    w = world
    _register(w, "admin", "t-featprivate", isfeatured=True)
    for who in ("admin", "boss", "sam"):
        assert w.templates_seen(who, templatefilter="featured") == {"t-feat"}, who
        assert w.templates_seen(who, templatefilter="community") == {"t-pub"}, who
    # executable is the caller's own and the public ones, as in CloudStack.
    assert "t-featprivate" not in w.templates_seen("sam")
    assert "t-featprivate" in w.templates_seen("admin")
    # Nor may they deploy from it by id: featured alone does not make it theirs to launch.
    w.templates["t-featprivate"] = w.names(
        "admin", "listTemplates", "id", templatefilter="self", name="t-featprivate"
    ).pop()
    status, body = w.call(
        "sam", "listTemplates", templatefilter="featured", id=w.templates["t-featprivate"]
    )
    assert status == 531, body
    status, body = w.call(
        "sam",
        "deployVirtualMachine",
        zoneid=w.cloud.zone_id,
        templateid=w.templates["t-featprivate"],
        serviceofferingid=w.offering,
    )
    assert status == 531 and "launch instances from template" in body["errortext"], body
    assert w.templates_seen("boss", templatefilter="selfexecutable") == {"t-boss"}
    assert w.templates_seen("boss", templatefilter="selfexecutable", listall=True) == {
        "t-boss",
        "t-sam",
        "t-kid",
    }


def test_an_id_ignores_the_filter_as_in_cloudstack(world: World) -> None:
    w = world
    # t-pub is olga's: not "self" for sam, but asked for by id it is listed.
    assert w.templates_seen("sam", templatefilter="self", id=w.templates["t-pub"]) == {"t-pub"}


# ---------------------------------------------------------------- copyTemplate, copyIso


def _zone2(server: ServerHarness, *, allow_loopback: bool = True) -> str:
    zone = server.ok("createZone", name="zone2", networktype="Advanced", dns1="8.8.8.8")["zone"]
    if allow_loopback:
        server.ok("updateConfiguration", name=ALLOW_SETTING, value=LOOPBACK, zoneid=zone["id"])
    return str(zone["id"])


def test_copy_template_adds_a_bypassed_zone_record_and_copies_nothing(
    server: ServerHarness, cloud: Cloud
) -> None:
    _status, body = register(server, cloud)
    template_id = body["template"][0]["id"]
    zone2 = _zone2(server)
    sent_before = len(server.agents.agents[AGENT_URL].received)
    reply = server.ok("copyTemplate", id=template_id, sourcezoneid=cloud.zone_id, destzoneid=zone2)
    result = finished(server, reply)
    assert result["jobstatus"] == 1, result
    copied = result["jobresult"]["template"]
    assert (copied["id"], copied["zoneid"], copied["zonename"]) == (template_id, zone2, "zone2")
    assert copied["isready"] is True and copied["status"] == "Bypassed Secondary Storage"
    listed = server.ok("listTemplates", templatefilter="self", id=template_id)["template"]
    assert sorted(t["zoneid"] for t in listed) == sorted([cloud.zone_id, zone2])
    only2 = server.ok("listTemplates", templatefilter="self", zoneid=zone2)["template"]
    assert [t["id"] for t in only2] == [template_id]
    # No bytes copied: no host was asked, still the one BYPASSED store row.
    assert len(server.agents.agents[AGENT_URL].received) == sent_before
    with server.db.transaction() as session:
        refs = session.scalars(select(TemplateStoreRef)).all()
        assert [(r.download_state, r.state) for r in refs] == [("BYPASSED", "Ready")]
    # Copying again to a zone it is in changes nothing.
    again = finished(server, server.ok("copyTemplate", id=template_id, destzoneids=zone2))
    assert again["jobstatus"] == 1, again
    assert len(server.ok("listTemplates", templatefilter="self")["template"]) == 2


def test_copy_iso_answers_the_iso(server: ServerHarness, cloud: Cloud) -> None:
    iso = server.ok(
        "registerIso",
        name="boot",
        url="http://127.0.0.1:9/boot.iso",
        zoneid=cloud.zone_id,
        directdownload="true",
    )["iso"][0]
    zone2 = _zone2(server)
    result = finished(server, server.ok("copyIso", id=iso["id"], destzoneid=zone2))
    assert result["jobresult"]["iso"]["zoneid"] == zone2
    assert result["cmd"].endswith("CopyIsoCmd")
    status, _ = server.call("copyTemplate", id=iso["id"], destzoneid=zone2)
    assert status == 431


def test_copy_template_refuses_as_cloudstack(server: ServerHarness, cloud: Cloud) -> None:
    _status, body = register(server, cloud)
    template_id = body["template"][0]["id"]
    zone2 = _zone2(server)
    cases: list[tuple[dict[str, str], str]] = [
        (
            {"sourcezoneid": cloud.zone_id, "destzoneid": cloud.zone_id},
            "Please specify different source and destination zones.",
        ),
        ({}, "Either destzoneid or destzoneids parameters have to be specified."),
        (
            {"destzoneid": zone2, "destzoneids": zone2},
            "Both destzoneid and destzoneids cannot be specified at the same time.",
        ),
        ({"destzoneid": "00000000-0000-4000-8000-000000000000"}, "Invalid parameter destzoneid"),
        (
            {"sourcezoneid": zone2, "destzoneid": cloud.zone_id},
            f"There is no template {template_id} ready on image store in zone zone2.",
        ),
    ]
    for params, words in cases:
        status, reply = server.call("copyTemplate", id=template_id, **params)
        assert status == 431, (params, reply)
        assert words in reply["errortext"], (params, reply)
    # Another user's private template: 531.
    status, reply = server.call(
        "copyTemplate", server.user("bob"), id=template_id, destzoneid=zone2
    )
    assert status == 531, reply
    assert len(server.ok("listTemplates", templatefilter="self")["template"]) == 1


def test_copy_to_a_zone_whose_egress_policy_refuses_the_url(
    server: ServerHarness, cloud: Cloud
) -> None:
    _status, body = register(server, cloud)
    zone2 = _zone2(server, allow_loopback=False)
    status, reply = server.call("copyTemplate", id=body["template"][0]["id"], destzoneid=zone2)
    assert status == 431, reply
    assert "zone2" in reply["errortext"]
