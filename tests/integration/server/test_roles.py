"""Roles through the real app: the role gate, listApis per role, and the role commands."""

import re
from pathlib import Path
from typing import Any

import pytest

from kvmcloud.server.accounts.permissions import DEFAULT_PERMISSIONS
from kvmcloud.server.accounts.roles import DEFAULT_ROLES
from kvmcloud.server.accounts.service import ApiKeys
from kvmcloud.server.app import build_registry
from tests.integration.server.conftest import ServerHarness
from tests.integration.server.test_directory import DETAILS, account, domain

ROOT_ADMIN, RESOURCE_ADMIN, DOMAIN_ADMIN, USER = (r.uuid for r in DEFAULT_ROLES)
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def not_available(command: str) -> str:
    return f"The API {command} does not exist or is not available for this account."


def new_role(server: ServerHarness, name: str, **params: Any) -> dict[str, Any]:
    params.setdefault("type", "User")
    return dict(server.ok("createRole", name=name, **params)["role"])


def add_rule(server: ServerHarness, role_id: str, rule: str, permission: str) -> dict[str, Any]:
    reply = server.ok("createRolePermission", roleid=role_id, rule=rule, permission=permission)
    return dict(reply["rolepermission"])


def member(
    server: ServerHarness, name: str, role_id: str, keys: ApiKeys | None = None, **extra: Any
) -> tuple[dict[str, Any], ApiKeys]:
    """An account of ``role_id`` made by ``keys`` (the root admin by default), with keys."""
    status, body = server.call(
        "createAccount", keys, username=name, **DETAILS, roleid=role_id, **extra
    )
    assert status == 200, body
    created = body["account"]
    pair = server.ok("registerUserKeys", id=created["user"][0]["id"])["userkeys"]
    return created, ApiKeys(name, pair["apikey"], pair["secretkey"])


def api_names(server: ServerHarness, keys: ApiKeys) -> set[str]:
    status, body = server.call("listApis", keys)
    assert status == 200, body
    return {api["name"] for api in body["api"]}


def rules(server: ServerHarness, role_id: str) -> list[tuple[str, str]]:
    listed = server.ok("listRolePermissions", roleid=role_id).get("rolepermission", [])
    return [(r["rule"], r["permission"]) for r in listed]


# ---------------------------------------------------------------- the role gate


def test_a_user_is_refused_an_admin_command_before_its_parameters_are_read(
    server: ServerHarness,
) -> None:
    user = server.user("alice")

    # Missing and malformed parameters would be 431s: the role is checked first.
    status, body = server.call("createZone", user, networktype="Nowhere")
    assert (status, body["errortext"]) == (432, not_available("createZone")), body
    assert body["cserrorcode"] == 9999
    status, body = server.call("addHost", user, zoneid="not-a-uuid")
    assert (status, body["errortext"]) == (432, not_available("addHost")), body
    # Names are matched without regard to case; the text names the command properly.
    status, body = server.call("createzone", user)
    assert (status, body["errortext"]) == (432, not_available("createZone")), body


def test_an_unknown_caller_gets_401_before_the_role_gate(server: ServerHarness) -> None:
    stranger = ApiKeys("nobody", "no-such-key", "no-secret")
    status, _ = server.call("createZone", stranger)
    assert status == 401


def test_a_domain_admin_may_create_accounts_but_not_add_hosts(server: ServerHarness) -> None:
    a = domain(server, "a")
    _, boss = account(server, "boss", a["id"], account_type=2)

    created, _ = account(server, "carol", a["id"], keys=boss)
    assert created["rolename"] == "User"
    status, body = server.call("addHost", boss, zoneid=UNKNOWN)
    assert (status, body["errortext"]) == (432, not_available("addHost")), body


def test_list_apis_shows_what_each_role_may_call(server: ServerHarness) -> None:
    a = domain(server, "a")
    _, boss = account(server, "boss", a["id"], account_type=2)
    user = server.user("plain")
    registered = {c.name for c in build_registry().all()}

    everything = api_names(server, server.admin)
    assert everything == registered
    mine = api_names(server, user)
    assert {"listZones", "deployVirtualMachine", "listApis"} <= mine
    assert not {"createAccount", "listDomains", "listRoles", "addHost"} & mine
    theirs = api_names(server, boss)
    assert {"createAccount", "createDomain", "listRoles", "listZones"} <= theirs
    assert not {"addHost", "updateDomain", "createRole", "listHosts"} & theirs
    assert mine < theirs < everything

    by_name = {a["name"]: a for a in server.ok("listApis")["api"]}
    assert by_name["listZones"]["type"] == "user"
    assert by_name["createAccount"]["type"] == "admin"
    status, body = server.call("listApis", user, name="createZone")
    assert status == 200 and "api" not in body


def test_a_custom_role_allows_by_wildcard_and_denies_by_rule(server: ServerHarness) -> None:
    role = new_role(server, "Lister", type="User")
    add_rule(server, role["id"], "listZones", "deny")
    add_rule(server, role["id"], "list*", "allow")
    _, keys = member(server, "lister", role["id"])

    # The first matching rule wins: listZones is denied before list* is reached.
    status, body = server.call("listZones", keys)
    assert (status, body["errortext"]) == (432, not_available("listZones")), body
    # list* allows what the User type does not have by default.
    assert server.call("listHosts", keys)[0] == 200
    # Commands no rule matches keep the User type's defaults.
    assert server.call("listCapabilities", keys)[0] == 200
    assert server.call("createZone", keys, name="z")[0] == 432
    names = api_names(server, keys)
    assert "listHosts" in names and "listZones" not in names and "createZone" not in names

    # A rule changed takes effect at the next request.
    deny = next(r for r in server.ok("listRolePermissions", roleid=role["id"])["rolepermission"])
    server.ok("updateRolePermission", roleid=role["id"], ruleid=deny["id"], permission="allow")
    assert server.call("listZones", keys)[0] == 200


# ---------------------------------------------------------------- listRoles


def test_list_roles_filters_and_pages(server: ServerHarness) -> None:
    new_role(server, "Auditor", type="User", description="reads")

    listed = server.ok("listRoles")
    assert listed["count"] == 5
    defaults = [r for r in listed["role"] if r["isdefault"]]
    assert [(r["id"], r["name"], r["type"]) for r in defaults] == [
        (ROOT_ADMIN, "Root Admin", "Admin"),
        (RESOURCE_ADMIN, "Resource Admin", "ResourceAdmin"),
        (DOMAIN_ADMIN, "Domain Admin", "DomainAdmin"),
        (USER, "User", "User"),
    ]
    auditor = listed["role"][-1]
    assert auditor["description"] == "reads" and auditor["isdefault"] is False
    assert auditor["ispublic"] is True

    assert [r["name"] for r in server.ok("listRoles", type="user")["role"]] == ["User", "Auditor"]
    assert [r["name"] for r in server.ok("listRoles", name="auditor")["role"]] == ["Auditor"]
    assert [r["name"] for r in server.ok("listRoles", keyword="admin")["role"]] == [
        "Root Admin",
        "Resource Admin",
        "Domain Admin",
    ]
    assert server.ok("listRoles", id=USER)["role"][0]["name"] == "User"
    page = server.ok("listRoles", page=2, pagesize=2)
    assert page["count"] == 5 and [r["name"] for r in page["role"]] == ["Domain Admin", "User"]

    status, body = server.call("listRoles", type="Superuser")
    assert status == 431 and "Invalid parameter type" in body["errortext"], body
    status, body = server.call("listRoles", id=UNKNOWN)
    assert status == 431 and "Invalid parameter id" in body["errortext"], body


def test_only_root_admins_see_admin_roles(server: ServerHarness) -> None:
    a = domain(server, "a")
    _, boss = account(server, "boss", a["id"], account_type=2)
    new_role(server, "Operator", type="Admin")

    status, body = server.call("listRoles", boss)
    assert status == 200
    assert [r["name"] for r in body["role"]] == ["Resource Admin", "Domain Admin", "User"]
    assert server.call("listRoles", boss, type="Admin")[1] == {}
    assert server.call("listRoles", server.user("plain"))[0] == 432


# ---------------------------------------------------------------- createRole, updateRole


def test_create_role_by_type_or_as_a_copy(server: ServerHarness) -> None:
    base = new_role(server, "Base", type="DomainAdmin", description="first")
    assert (base["name"], base["type"], base["description"]) == ("Base", "DomainAdmin", "first")
    add_rule(server, base["id"], "addHost", "allow")
    add_rule(server, base["id"], "list*", "deny")

    copy = server.ok("createRole", name="Copy", roleid=base["id"])["role"]

    assert copy["type"] == "DomainAdmin" and copy["id"] != base["id"]
    assert rules(server, copy["id"]) == [("addHost", "allow"), ("list*", "deny")]
    # A copy of a default role has no rules: it behaves as the default until given some.
    plain = server.ok("createRole", name="Plain", roleid=USER)["role"]
    assert plain["type"] == "User" and rules(server, plain["id"]) == []


@pytest.mark.parametrize(
    ("params", "param", "text"),
    [
        ({"name": "r"}, "type", "Neither role type nor role ID is provided"),
        (
            {"name": "r", "type": "User", "roleid": USER},
            "type",
            "Both role type and role ID should not be specified",
        ),
        ({"type": "User"}, "name", "due to missing parameter name"),
        ({"name": "  ", "type": "User"}, "name", "a role name may not be blank"),
        ({"name": "r", "type": "Boss"}, "type", "must be one of"),
        ({"name": "r", "roleid": UNKNOWN}, "roleid", "Invalid parameter roleid"),
        ({"name": "user", "type": "User"}, "name", "A role with name user already exists"),
    ],
)
def test_create_role_refuses_bad_parameters(
    server: ServerHarness, params: dict[str, str], param: str, text: str
) -> None:
    status, body = server.call("createRole", **params)
    assert status == 431 and body["cserrorcode"] == 4350, body
    assert param in body["errortext"] and text in body["errortext"], body


def test_update_role_renames_and_retypes_an_unused_role(server: ServerHarness) -> None:
    role = new_role(server, "Ops", type="User")

    updated = server.ok(
        "updateRole", id=role["id"], name="Operators", type="DomainAdmin", description="ops"
    )["role"]

    assert (updated["name"], updated["type"], updated["description"]) == (
        "Operators",
        "DomainAdmin",
        "ops",
    )
    member(server, "op", role["id"])
    status, body = server.call("updateRole", id=role["id"], type="User")
    assert status == 531 and "won't allow to change role type" in body["errortext"], body
    assert server.ok("updateRole", id=role["id"], name="Ops2")["role"]["name"] == "Ops2"
    status, body = server.call("updateRole", id=role["id"], name="Domain Admin")
    assert status == 431 and "name" in body["errortext"], body


def test_default_roles_cannot_be_changed(server: ServerHarness) -> None:
    status, body = server.call("updateRole", id=USER, name="Users")
    assert (status, body["errortext"]) == (531, "Default roles cannot be updated"), body
    status, body = server.call("deleteRole", id=USER)
    assert (status, body["errortext"]) == (531, "Default roles cannot be deleted"), body
    status, body = server.call("createRolePermission", roleid=USER, rule="*", permission="allow")
    assert status == 531 and "Default roles" in body["errortext"], body
    custom = add_rule(server, new_role(server, "Ops")["id"], "*", "allow")
    status, body = server.call(
        "updateRolePermission", roleid=USER, ruleid=custom["id"], permission="deny"
    )
    assert status == 531 and "Default roles" in body["errortext"], body


def test_role_commands_are_for_root_admins(server: ServerHarness) -> None:
    a = domain(server, "a")
    _, boss = account(server, "boss", a["id"], account_type=2)
    role = new_role(server, "Ops")
    for command, params in (
        ("createRole", {"name": "mine", "type": "User"}),
        ("updateRole", {"id": role["id"], "name": "x"}),
        ("deleteRole", {"id": role["id"]}),
        ("createRolePermission", {"roleid": role["id"], "rule": "*", "permission": "allow"}),
        ("listRolePermissions", {}),
        ("updateRolePermission", {"roleid": role["id"], "ruleorder": ""}),
        ("deleteRolePermission", {"id": UNKNOWN}),
    ):
        status, body = server.call(command, boss, **params)
        assert (status, body["errortext"]) == (432, not_available(command)), body


# ---------------------------------------------------------------- deleteRole


def test_delete_role_refuses_a_role_in_use_and_frees_its_name(server: ServerHarness) -> None:
    role = new_role(server, "Temp")
    add_rule(server, role["id"], "list*", "allow")
    created, _ = member(server, "temp", role["id"])

    status, body = server.call("deleteRole", id=role["id"])
    assert status == 531 and "won't allow to delete role" in body["errortext"], body

    server.ok("deleteAccount", id=created["id"])
    assert server.ok("deleteRole", id=role["id"]) == {"success": True}
    assert [r["name"] for r in server.ok("listRoles", keyword="Temp").get("role", [])] == []
    status, body = server.call("updateRole", id=role["id"], name="back")
    assert status == 431 and "id" in body["errortext"], body
    assert new_role(server, "Temp")["id"] != role["id"]


# ---------------------------------------------------------------- role permissions


def test_create_role_permission_answers_cloudstack_fields(server: ServerHarness) -> None:
    role = new_role(server, "Ops")

    reply = server.ok(
        "createRolePermission",
        roleid=role["id"],
        rule="list*",
        permission="ALLOW",
        description="read all",
    )["rolepermission"]

    assert reply["roleid"] == role["id"] and reply["rolename"] == "Ops"
    assert (reply["rule"], reply["permission"], reply["description"]) == (
        "list*",
        "allow",
        "read all",
    )
    listed = server.ok("listRolePermissions", roleid=role["id"])
    assert listed["count"] == 1 and listed["rolepermission"][0]["id"] == reply["id"]


@pytest.mark.parametrize(
    ("params", "param", "status", "text"),
    [
        ({"rule": "list zones", "permission": "allow"}, "rule", 431, "invalid rule provided"),
        ({"rule": "list*", "permission": "maybe"}, "permission", 431, "must be one of allow, deny"),
        ({"permission": "allow"}, "rule", 431, "missing parameter rule"),
        ({"rule": "list*"}, "permission", 431, "missing parameter permission"),
        ({"rule": "LIST*", "permission": "deny"}, "", 531, "Rule already exists for the role: Ops"),
    ],
)
def test_create_role_permission_refuses_bad_rules(
    server: ServerHarness, params: dict[str, str], param: str, status: int, text: str
) -> None:
    role = new_role(server, "Ops")
    add_rule(server, role["id"], "list*", "allow")

    got, body = server.call("createRolePermission", roleid=role["id"], **params)

    assert got == status and param in body["errortext"] and text in body["errortext"], body
    assert rules(server, role["id"]) == [("list*", "allow")]


def test_create_role_permission_needs_a_known_role(server: ServerHarness) -> None:
    status, body = server.call("createRolePermission", roleid=UNKNOWN, rule="*", permission="deny")
    assert status == 431 and "Invalid parameter roleid" in body["errortext"], body


def test_a_default_role_lists_its_catalog_rules(server: ServerHarness) -> None:
    user_rules = server.ok("listRolePermissions", roleid=USER)["rolepermission"]
    allowed = {r["rule"] for r in user_rules}
    assert {"listZones", "deployVirtualMachine"} <= allowed and "createAccount" not in allowed
    assert {r["permission"] for r in user_rules} == {"allow"}
    assert {r["roleid"] for r in user_rules} == {USER}
    assert rules(server, ROOT_ADMIN) == [("*", "allow")]
    # The ids are stable, but no rule of a default role can be changed or deleted.
    again = server.ok("listRolePermissions", roleid=USER)["rolepermission"]
    assert [r["id"] for r in again] == [r["id"] for r in user_rules]
    status, _ = server.call("deleteRolePermission", id=user_rules[0]["id"])
    assert status == 431

    role = new_role(server, "Ops")
    add_rule(server, role["id"], "addHost", "allow")
    every = server.ok("listRolePermissions")["rolepermission"]
    assert {r["rolename"] for r in every} >= {"Root Admin", "User", "Ops"}


def test_update_role_permission_reorders_and_flips_rules(server: ServerHarness) -> None:
    role = new_role(server, "Ops")
    deny = add_rule(server, role["id"], "listHosts", "deny")
    allow = add_rule(server, role["id"], "list*", "allow")
    _, keys = member(server, "op", role["id"])
    assert server.call("listHosts", keys)[0] == 432

    reply = server.ok(
        "updateRolePermission", roleid=role["id"], ruleorder=f"{allow['id']},{deny['id']}"
    )

    assert reply == {"success": True}
    assert rules(server, role["id"]) == [("list*", "allow"), ("listHosts", "deny")]
    assert server.call("listHosts", keys)[0] == 200
    server.ok("updateRolePermission", roleid=role["id"], ruleid=allow["id"], permission="deny")
    assert rules(server, role["id"]) == [("list*", "deny"), ("listHosts", "deny")]
    assert server.call("listZones", keys)[0] == 432


@pytest.mark.parametrize(
    ("params", "param", "text"),
    [
        ({"ruleorder": "{a}"}, "ruleorder", "list each of the 2 rules"),
        ({"ruleorder": "{a},{a}"}, "ruleorder", "list each of the 2 rules"),
        ({"ruleorder": "{a},{b}", "ruleid": "{a}"}, "ruleorder", "mutually exclusive"),
        ({"ruleid": "{a}"}, "ruleorder", "Either ruleorder, or ruleid and permission"),
        ({"ruleid": "{a}", "permission": "never"}, "permission", "must be one of allow, deny"),
        ({"ruleid": "{other}", "permission": "deny"}, "ruleid", "is not a rule of role Ops"),
        ({"ruleorder": UNKNOWN}, "ruleorder", "Invalid parameter ruleorder"),
    ],
)
def test_update_role_permission_refuses_bad_parameters(
    server: ServerHarness, params: dict[str, str], param: str, text: str
) -> None:
    role = new_role(server, "Ops")
    a = add_rule(server, role["id"], "listHosts", "deny")
    b = add_rule(server, role["id"], "list*", "allow")
    other = add_rule(server, new_role(server, "Other")["id"], "*", "allow")
    ids = {"a": a["id"], "b": b["id"], "other": other["id"]}
    given = {k: v.format(**ids) for k, v in params.items()}

    status, body = server.call("updateRolePermission", roleid=role["id"], **given)

    assert status == 431 and param in body["errortext"] and text in body["errortext"], body
    assert rules(server, role["id"]) == [("listHosts", "deny"), ("list*", "allow")]


def test_delete_role_permission(server: ServerHarness) -> None:
    role = new_role(server, "Ops")
    rule = add_rule(server, role["id"], "list*", "allow")

    assert server.ok("deleteRolePermission", id=rule["id"]) == {"success": True}

    assert rules(server, role["id"]) == []
    status, body = server.call("deleteRolePermission", id=rule["id"])
    assert status == 431 and "Invalid parameter id" in body["errortext"], body
    status, body = server.call("deleteRolePermission")
    assert status == 431 and "missing parameter id" in body["errortext"], body


# ---------------------------------------------------------------- accounts and roles


def test_create_account_with_a_custom_role(server: ServerHarness) -> None:
    role = new_role(server, "Helpdesk", type="DomainAdmin")

    created, _ = member(server, "desk", role["id"])

    assert (created["roleid"], created["rolename"], created["roletype"]) == (
        role["id"],
        "Helpdesk",
        "DomainAdmin",
    )
    assert created["accounttype"] == 2
    (user,) = created["user"]
    assert (user["roleid"], user["rolename"]) == (role["id"], "Helpdesk")
    listed = server.ok("listAccounts", id=created["id"])["account"][0]
    assert listed["rolename"] == "Helpdesk"


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        ({"accounttype": 0}, "the role does not match accounttype"),
        ({"roleid": RESOURCE_ADMIN}, "cannot be given to accounts"),
        ({"roleid": UNKNOWN}, "Invalid parameter roleid"),
    ],
)
def test_create_account_refuses_a_role_it_cannot_have(
    server: ServerHarness, extra: dict[str, Any], text: str
) -> None:
    role = new_role(server, "Helpdesk", type="DomainAdmin")
    params = {"roleid": role["id"], **extra}

    status, body = server.call("createAccount", username="x", **DETAILS, **params)

    assert status == 431 and "roleid" in body["errortext"] and text in body["errortext"], body


def test_a_domain_admin_cannot_give_more_than_their_role_has(server: ServerHarness) -> None:
    a = domain(server, "a")
    _, boss = account(server, "boss", a["id"], account_type=2)
    wider = new_role(server, "Wider", type="User")
    add_rule(server, wider["id"], "addHost", "allow")
    narrower = new_role(server, "Narrower", type="User")
    add_rule(server, narrower["id"], "deployVirtualMachine", "deny")

    status, body = server.call(
        "createAccount", boss, username="x", **DETAILS, roleid=wider["id"], domainid=a["id"]
    )

    assert status == 531, body
    assert body["errortext"] == (
        "User of Account boss and domain a can not create an account with access to more "
        "privileges they have themself."
    )
    created, _ = member(server, "y", narrower["id"], boss, domainid=a["id"])
    status, body = server.call("updateAccount", boss, id=created["id"], roleid=wider["id"])
    assert status == 531 and "more privileges" in body["errortext"], body
    # The root admin may give any role.
    member(server, "z", wider["id"])


def test_update_account_changes_the_role_within_its_type(server: ServerHarness) -> None:
    role = new_role(server, "Lister", type="User")
    add_rule(server, role["id"], "listHosts", "allow")
    created, keys = member(server, "lister", USER)
    assert server.call("listHosts", keys)[0] == 432

    updated = server.ok("updateAccount", id=created["id"], roleid=role["id"])["account"]

    assert (updated["roleid"], updated["rolename"], updated["accounttype"]) == (
        role["id"],
        "Lister",
        0,
    )
    assert server.call("listHosts", keys)[0] == 200
    status, body = server.call("updateAccount", id=created["id"], roleid=DOMAIN_ADMIN)
    assert status == 431 and "roleid" in body["errortext"], body
    assert "the type cannot change" in body["errortext"]
    assert (
        server.ok("updateAccount", id=created["id"], roleid=USER)["account"]["rolename"] == "User"
    )


def test_the_default_admin_keeps_root_admin(server: ServerHarness) -> None:
    operator = new_role(server, "Operator", type="Admin")
    admin = server.ok("listAccounts", name="admin")["account"][0]

    status, body = server.call("updateAccount", id=admin["id"], roleid=operator["id"])

    assert status == 531, body
    assert body["errortext"] == "The role of the default admin account cannot change"
    assert server.ok("updateAccount", id=admin["id"], roleid=ROOT_ADMIN)["account"]["roleid"] == (
        ROOT_ADMIN
    )


def test_capabilities_say_roles_are_dynamic(server: ServerHarness) -> None:
    assert server.ok("listCapabilities")["capability"]["dynamicrolesenabled"] is True


def test_api_md_gives_each_commands_default_roles() -> None:
    # The command table's roles column must say what the catalog says, for every command.
    letters = {"A": "Admin", "R": "ResourceAdmin", "D": "DomainAdmin", "U": "User"}
    table = (Path(__file__).parents[3] / "docs" / "api.md").read_text(encoding="utf-8")
    documented: dict[str, set[str]] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 5 or not re.fullmatch(r"[ARDU ]+", cells[3]):
            continue
        for command in re.findall(r"`(\w+)`", cells[2]):
            documented[command] = {letters[x] for x in cells[3].split()}
    expected = {c: {t.value for t in types} for c, types in DEFAULT_PERMISSIONS.items()}
    assert documented == expected


def test_list_apis_describes_roles_and_role_permissions(server: ServerHarness) -> None:
    apis = {a["name"]: a for a in server.ok("listApis")["api"]}
    role = {f["name"]: f["type"] for f in apis["createRole"]["response"]}
    assert role["isdefault"] == "boolean" and role["type"] == "string"
    rule = {f["name"] for f in apis["listRolePermissions"]["response"]}
    assert {"roleid", "rule", "permission"} <= rule
    assert apis["listRolePermissions"]["related"] == "createRolePermission"
