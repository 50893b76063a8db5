"""Domains, accounts, users, roles and keys through the real app (issue 13, items 1 and 2)."""

from typing import Any

from kvmcloud.server.accounts.service import ApiKeys
from tests.integration.server.conftest import ServerHarness
from tests.integration.server.jobs import finished


def domain(server: ServerHarness, name: str, parent: str | None = None) -> dict[str, Any]:
    params = {"name": name} | ({"parentdomainid": parent} if parent else {})
    return server.ok("createDomain", **params)["domain"]


def account(
    server: ServerHarness,
    name: str,
    domain_id: str,
    account_type: int = 0,
    keys: ApiKeys | None = None,
) -> tuple[dict[str, Any], ApiKeys]:
    """Create an account through the API and mint its user's keys."""
    status, body = server.call(
        "createAccount",
        keys,
        username=name,
        email=f"{name}@example.org",
        firstname=name,
        lastname="Tester",
        accounttype=account_type,
        domainid=domain_id,
    )
    assert status == 200, body
    created = body["account"]
    user_id = created["user"][0]["id"]
    pair = server.ok("registerUserKeys", id=user_id)["userkeys"]
    return created, ApiKeys(name, pair["apikey"], pair["secretkey"])


# What createAccount requires besides the username, as CloudStack does.
DETAILS = {"email": "e@example.org", "firstname": "F", "lastname": "L"}


def root_id(server: ServerHarness) -> str:
    return server.ok("listDomains")["domain"][0]["id"]


def names(items: list[dict[str, Any]]) -> list[str]:
    return sorted(item["name"] for item in items)


# ---------------------------------------------------------------- domains


def test_domains_form_a_tree_with_cloudstack_paths_and_levels(server: ServerHarness) -> None:
    root = server.ok("listDomains")["domain"]
    assert [(d["name"], d["path"], d["level"]) for d in root] == [("ROOT", "ROOT", 0)]

    a = domain(server, "a")
    b = domain(server, "b", a["id"])

    assert (a["path"], a["level"], a["parentdomainname"]) == ("ROOT/a", 1, "ROOT")
    assert (b["path"], b["level"], b["parentdomainid"]) == ("ROOT/a/b", 2, a["id"])
    every = server.ok("listDomains", listall=True)["domain"]
    assert names(every) == ["ROOT", "a", "b"]
    assert {d["name"]: d["haschild"] for d in every} == {"ROOT": True, "a": True, "b": False}
    children = server.ok("listDomainChildren", id=root[0]["id"])["domain"]
    assert names(children) == ["a"]
    tree = server.ok("listDomainChildren", id=root[0]["id"], isrecursive=True)["domain"]
    assert names(tree) == ["a", "b"]
    assert server.ok("listDomains", level=2, listall=True)["domain"][0]["id"] == b["id"]


def test_a_domain_name_is_unique_among_its_siblings_only(server: ServerHarness) -> None:
    a = domain(server, "a")
    domain(server, "x", a["id"])
    domain(server, "x")  # a sibling of a, not of a/x

    status, body = server.call("createDomain", name="x", parentdomainid=a["id"])

    assert status == 431
    assert body["errortext"] == f"Domain with name x already exists for the parent id={a['id']}"


def test_renaming_a_domain_rewrites_the_paths_of_its_subtree(server: ServerHarness) -> None:
    a = domain(server, "a")
    b = domain(server, "b", a["id"])

    renamed = server.ok("updateDomain", id=a["id"], name="z")["domain"]

    assert renamed["path"] == "ROOT/z"
    assert server.ok("listDomains", id=b["id"])["domain"][0]["path"] == "ROOT/z/b"
    status, body = server.call("updateDomain", id=root_id(server), name="other")
    assert status == 431 and "ROOT domain can not be edited" in body["errortext"]


def test_deleting_a_domain_refuses_children_and_accounts_without_cleanup(
    server: ServerHarness,
) -> None:
    a = domain(server, "a")
    b = domain(server, "b", a["id"])
    account(server, "alice", b["id"])

    status, body = server.call("deleteDomain", id=a["id"])

    assert status == 530
    assert body["errortext"] == (
        f"Delete failed on domain a (id: {a['id']}); Please make sure all users and sub "
        "domains have been removed from the domain before deleting"
    )
    alice = server.ok("listAccounts", domainid=b["id"])["account"][0]
    assert finished(server, server.ok("deleteAccount", id=alice["id"]))["jobstatus"] == 1
    status, body = server.call("deleteDomain", id=a["id"])
    assert status == 530 and "sub domains have been removed" in body["errortext"]
    assert finished(server, server.ok("deleteDomain", id=b["id"]))["jobstatus"] == 1
    assert finished(server, server.ok("deleteDomain", id=a["id"]))["jobstatus"] == 1
    assert names(server.ok("listDomains", listall=True)["domain"]) == ["ROOT"]
    status, _ = server.call("deleteDomain", id=root_id(server))
    assert status == 531


def test_who_may_change_domains(server: ServerHarness) -> None:
    a = domain(server, "a")
    _, admin_a = account(server, "boss", a["id"], account_type=2)
    user = server.user("plain")
    for command, params in (
        ("createDomain", {"name": "n", "parentdomainid": a["id"]}),
        ("updateDomain", {"id": a["id"], "name": "n"}),
        ("deleteDomain", {"id": a["id"]}),
    ):
        assert server.call(command, user, **params)[0] == 432, command

    # Domain admins create and delete domains below their own (CloudStack 4.18's
    # annotations); renaming stays a root admin's.
    status, child = server.call("createDomain", admin_a, name="n", parentdomainid=a["id"])
    assert status == 200 and child["domain"]["path"] == "ROOT/a/n", child
    child_id = child["domain"]["id"]
    assert server.call("createDomain", admin_a, name="top")[0] == 531
    assert server.call("updateDomain", admin_a, id=child_id, name="m")[0] == 432
    status, body = server.call("deleteDomain", admin_a, id=a["id"])
    assert status == 531 and "the account you are calling as is in it" in body["errortext"]
    status, reply = server.call("deleteDomain", admin_a, id=child_id)
    assert status == 200, reply
    assert finished(server, reply)["jobstatus"] == 1


# ---------------------------------------------------------------- accounts and users


def test_create_account_answers_cloudstack_fields(server: ServerHarness) -> None:
    a = domain(server, "a")

    created, keys = account(server, "alice", a["id"], account_type=2)

    assert created["name"] == "alice"
    assert created["accounttype"] == 2
    assert (created["roletype"], created["rolename"]) == ("DomainAdmin", "Domain Admin")
    assert (created["domainid"], created["domain"], created["domainpath"]) == (
        a["id"],
        "a",
        "ROOT/a",
    )
    assert created["state"] == "enabled"
    (user,) = created["user"]
    assert (user["username"], user["email"], user["account"]) == (
        "alice",
        "alice@example.org",
        "alice",
    )
    assert "secretkey" not in user
    listed = server.ok("listUsers", id=user["id"])["user"][0]
    assert listed["apikey"] == keys.api_key and "secretkey" not in listed
    roles = {r["id"]: r for r in server.ok("listRoles")["role"]}
    assert roles[created["roleid"]]["name"] == "Domain Admin"


def test_names_are_unique_per_domain_not_globally(server: ServerHarness) -> None:
    a, b = domain(server, "a"), domain(server, "b")
    account(server, "alice", a["id"])
    account(server, "alice", b["id"])

    status, body = server.call(
        "createAccount",
        username="alice",
        **DETAILS,
        accounttype=0,
        domainid=a["id"],
    )

    assert status == 431 and "account" in body["errortext"]
    assert len(server.ok("listAccounts", name="alice", listall=True)["account"]) == 2


def test_create_account_needs_a_type_or_role(server: ServerHarness) -> None:
    base = {"username": "u", **DETAILS}
    status, body = server.call("createAccount", **base)
    assert status == 431 and "accounttype" in body["errortext"]
    user_role = next(r for r in server.ok("listRoles")["role"] if r["name"] == "User")
    created = server.ok("createAccount", **base, roleid=user_role["id"])["account"]
    assert created["accounttype"] == 0


def test_visibility_root_admin_domain_admin_and_user(server: ServerHarness) -> None:
    a = domain(server, "a")
    b = domain(server, "b", a["id"])
    other = domain(server, "other")
    _, boss = account(server, "boss", a["id"], account_type=2)
    account(server, "bob", b["id"])
    _, eve = account(server, "eve", other["id"])

    every = server.ok("listAccounts", listall=True)["account"]
    assert names(every) == ["admin", "bob", "boss", "eve"]
    # The domain admin sees their subtree, never ROOT's or a sibling's accounts.
    status, body = server.call("listAccounts", boss, listall=True)
    assert status == 200 and names(body["account"]) == ["bob", "boss"]
    status, body = server.call("listDomains", boss, listall=True)
    assert names(body["domain"]) == ["a", "b"]
    status, body = server.call("listUsers", boss, domainid=b["id"])
    assert [u["username"] for u in body["user"]] == ["bob"]
    assert body["user"][0]["iscallerchilddomain"] is True
    assert server.call("listAccounts", boss, domainid=other["id"])[0] == 531
    assert server.call("listDomains", boss, id=other["id"])[0] == 531
    # A user of another domain sees their own account and user only.
    status, body = server.call("listAccounts", eve, listall=True)
    assert names(body["account"]) == ["eve"]
    status, body = server.call("listUsers", eve, listall=True)
    assert [u["username"] for u in body["user"]] == ["eve"]
    # CloudStack's default User role has neither listDomains nor listDomainChildren.
    assert server.call("listDomains", eve, listall=True)[0] == 432
    assert server.call("listDomainChildren", eve)[0] == 432
    assert server.call("listAccounts", eve, domainid=a["id"])[0] == 531
    # Without listall an admin lists their own account, as CloudStack does.
    assert names(server.ok("listAccounts")["account"]) == ["admin"]
    recursive = server.ok("listAccounts", domainid=a["id"], isrecursive=True)["account"]
    assert names(recursive) == ["bob", "boss"]


def test_a_domain_admin_manages_accounts_in_their_subtree_only(server: ServerHarness) -> None:
    a, other = domain(server, "a"), domain(server, "other")
    _, boss = account(server, "boss", a["id"], account_type=2)

    made, _ = account(server, "carol", a["id"], keys=boss)
    status, _ = server.call(
        "createAccount",
        boss,
        username="x",
        **DETAILS,
        accounttype=0,
        domainid=other["id"],
    )
    assert status == 531
    status, _ = server.call(
        "createAccount",
        boss,
        username="y",
        **DETAILS,
        accounttype=1,
        domainid=a["id"],
    )
    assert status == 531
    assert server.call("disableAccount", boss, id=made["id"], lock=False)[0] == 200
    user = server.user("plain")
    # The default User role may not call disableAccount at all: refused before its checks.
    assert server.call("disableAccount", user, id=made["id"], lock=False)[0] == 432


def test_disabled_locked_and_deleted_accounts_lose_api_access(server: ServerHarness) -> None:
    a = domain(server, "a")
    created, keys = account(server, "alice", a["id"])
    assert server.call("listZones", keys)[0] == 200

    job = server.ok("disableAccount", id=created["id"], lock=False)
    # The account is disabled when asked; the job then stops its VMs (it has none).
    assert server.call("listZones", keys)[0] == 401
    assert finished(server, job)["jobresult"]["account"]["state"] == "disabled"
    server.ok("enableAccount", id=created["id"])
    assert server.call("listZones", keys)[0] == 200
    locked = server.ok("lockAccount", account="alice", domainid=a["id"])["account"]
    assert locked["state"] == "locked"
    assert server.call("listZones", keys)[0] == 401
    server.ok("enableAccount", account="alice", domainid=a["id"])

    job = server.ok("deleteAccount", id=created["id"])

    assert server.call("listZones", keys)[0] == 401
    assert finished(server, job)["jobresult"] == {"success": True}
    assert server.ok("listAccounts", listall=True, name="alice").get("account", []) == []
    again, _ = account(server, "alice", a["id"])  # the name is free again
    assert again["id"] != created["id"]


def test_users_are_added_updated_disabled_and_deleted(server: ServerHarness) -> None:
    a = domain(server, "a")
    created, _ = account(server, "team", a["id"])

    user = server.ok(
        "createUser",
        username="second",
        email="s@example.org",
        firstname="S",
        lastname="U",
        account="team",
        domainid=a["id"],
    )["user"]
    assert (user["account"], user["domainid"]) == ("team", a["id"])
    pair = server.ok("registerUserKeys", id=user["id"])["userkeys"]
    keys = ApiKeys("second", pair["apikey"], pair["secretkey"])

    updated = server.ok("updateUser", id=user["id"], firstname="New", email="n@example.org")
    assert (updated["user"]["firstname"], updated["user"]["email"]) == ("New", "n@example.org")
    # A user reads their own keys; the secret key is shown to them.
    status, body = server.call("getUserKeys", keys, id=user["id"])
    assert status == 200 and body["userkeys"]["secretkey"] == keys.secret_key
    first = created["user"][0]["id"]
    assert server.call("getUserKeys", keys, id=first)[0] == 531

    server.ok("disableUser", id=user["id"])
    assert server.call("listZones", keys)[0] == 401
    server.ok("enableUser", id=user["id"])
    assert server.call("listZones", keys)[0] == 200
    assert server.ok("deleteUser", id=user["id"]) == {"success": True}
    assert server.call("listZones", keys)[0] == 401
    status, body = server.call("deleteUser", id=first)
    assert status == 431 and "last user" in body["errortext"]


def test_list_roles_gives_cloudstacks_four_default_roles(server: ServerHarness) -> None:
    roles = server.ok("listRoles")["role"]

    assert [(r["name"], r["type"]) for r in roles] == [
        ("Root Admin", "Admin"),
        ("Resource Admin", "ResourceAdmin"),
        ("Domain Admin", "DomainAdmin"),
        ("User", "User"),
    ]
    assert [r["name"] for r in server.ok("listRoles", type="DomainAdmin")["role"]] == [
        "Domain Admin"
    ]


def test_update_account_renames_within_its_domain(server: ServerHarness) -> None:
    sub = domain(server, "sub")
    alice, alice_keys = account(server, "alice", sub["id"])
    account(server, "bob", sub["id"])
    account(server, "carol", root_id(server))

    renamed = server.ok("updateAccount", id=alice["id"], newname="alicia")["account"]

    assert (renamed["id"], renamed["name"], renamed["domainid"]) == (
        alice["id"],
        "alicia",
        sub["id"],
    )
    listed = server.ok("listAccounts", name="alicia", listall=True)["account"]
    assert [a["id"] for a in listed] == [alice["id"]]
    # Her keys name her user, not the account's name: they keep working.
    assert server.call("listZones", alice_keys)[0] == 200
    # By name and domain, as CloudStack accepts; a name taken in that domain is refused.
    status, body = server.call("updateAccount", account="alicia", domainid=sub["id"], newname="bob")
    assert status == 431
    assert body["errortext"] == (
        f"Invalid parameter newname: The specified account: bob already exists in domain "
        f"{sub['id']}"
    )
    # Another domain's account name is free to take.
    again = server.ok("updateAccount", account="alicia", domainid=sub["id"], newname="carol")
    assert again["account"]["name"] == "carol"
    # A plain user cannot rename an account, not even their own: the User role lacks it.
    status, _ = server.call("updateAccount", alice_keys, id=alice["id"], newname="mine")
    assert status == 432
    assert server.ok("listAccounts", id=alice["id"])["account"][0]["name"] == "carol"


def test_a_domain_admin_of_root_cannot_act_on_the_root_admin(server: ServerHarness) -> None:
    # A ROOT domain admin's subtree holds the root admin: they see it, but may not take its
    # keys, reset its password, disable, lock or delete it (that would make them root).
    _, boss = account(server, "boss", root_id(server), account_type=2)
    status, listed = server.call("listAccounts", boss, name="admin", listall=True)
    assert status == 200, listed
    admin = listed["account"][0]
    admin_user = admin["user"][0]["id"]
    refusals = [
        server.call("getUserKeys", boss, id=admin_user),
        server.call("registerUserKeys", boss, id=admin_user),
        server.call("updateUser", boss, id=admin_user, password="Taken-0ver"),
        server.call("disableUser", boss, id=admin_user),
        server.call("updateAccount", boss, id=admin["id"], newname="mine"),
        server.call("lockAccount", boss, id=admin["id"]),
        server.call("disableAccount", boss, id=admin["id"], lock=True),
        server.call("deleteAccount", boss, id=admin["id"]),
    ]

    assert [status for status, _ in refusals] == [531] * len(refusals)
    assert "has a lower role type than the user account [admin, " in refusals[0][1]["errortext"]
    # Still the admin's: its keys work and nothing changed.
    assert server.call("listZones")[0] == 200
    assert server.ok("listAccounts", id=admin["id"])["account"][0]["state"] == "enabled"


def test_list_apis_describes_accounts_with_their_users_and_related_commands(
    server: ServerHarness,
) -> None:
    apis = {a["name"]: a for a in server.ok("listApis")["api"]}
    fields = {f["name"]: f for f in apis["listAccounts"]["response"]}
    assert fields["accounttype"]["type"] == "integer" and fields["vmtotal"]["type"] == "long"
    users = {f["name"]: f for f in fields["user"]["response"]}
    assert fields["user"]["type"] == "list" and users["apikey"]["type"] == "string"
    assert "secretkey" not in users
    # disableAccount's job answers the account: it is related like the synchronous commands.
    assert {"createAccount", "disableAccount", "lockAccount"} <= set(
        apis["listAccounts"]["related"].split(",")
    )
    keys = {f["name"] for f in apis["getUserKeys"]["response"]}
    assert {"apikey", "secretkey"} <= keys and apis["getUserKeys"]["related"] == "registerUserKeys"
    (domain_id,) = (p for p in apis["updateDomain"]["params"] if p["name"] == "id")
    assert "listDomains" in domain_id["related"].split(",")
