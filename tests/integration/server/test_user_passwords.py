"""Passwords set by createAccount, createUser and updateUser, and what they do to sessions."""

from typing import Any

import pytest
from starlette.testclient import TestClient

from kvmcloud.server.accounts.service import ApiKeys
from tests.integration.server.conftest import ServerHarness

DETAILS = {"email": "e@example.org", "firstname": "F", "lastname": "L"}
SECRET = "Corr3ct-horse-battery"


class Browser:
    """One cookie jar: a person's login session against the in-process app."""

    def __init__(self, server: ServerHarness) -> None:
        self.client = TestClient(server.client.app)
        self.key = ""

    def login(self, username: str, password: str, **where: str) -> int:
        response = self.client.post(
            "/client/api",
            data={"command": "login", "response": "json", "username": username}
            | {"password": password}
            | where,
        )
        if response.status_code == 200:
            self.key = response.json()["loginresponse"]["sessionkey"]
        return response.status_code

    def call(self, command: str, **params: str) -> tuple[int, dict[str, Any]]:
        query = {"command": command, "response": "json", "sessionkey": self.key, **params}
        response = self.client.get("/client/api", params=query)
        return response.status_code, next(iter(response.json().values()))


def sub_domain(server: ServerHarness, name: str = "sub") -> dict[str, Any]:
    return server.ok("createDomain", name=name)["domain"]


def user_account(server: ServerHarness, name: str, domain_id: str, **extra: Any) -> dict[str, Any]:
    created = server.ok(
        "createAccount",
        username=name,
        accounttype=0,
        domainid=domain_id,
        password=SECRET,
        **DETAILS,
        **extra,
    )["account"]
    user: dict[str, Any] = created["user"][0]
    return user


def test_a_created_account_logs_in_to_its_own_domain(server: ServerHarness) -> None:
    sub = sub_domain(server)
    user_account(server, "alice", sub["id"])

    browser = Browser(server)
    assert browser.login("alice", SECRET, domain="/sub") == 200
    status, body = browser.call("listAccounts")
    assert status == 200 and [a["name"] for a in body["account"]] == ["alice"]
    assert Browser(server).login("alice", SECRET, domainId=sub["id"]) == 200
    # Names are per domain: ROOT has no alice, and the wrong password is refused alike.
    assert Browser(server).login("alice", SECRET) == 531
    assert Browser(server).login("alice", SECRET + "x", domain="/sub") == 531


def test_create_user_takes_a_password_and_refuses_a_blank_one(server: ServerHarness) -> None:
    sub = sub_domain(server)
    user_account(server, "alice", sub["id"])
    status, body = server.call(
        "createUser", username="bob", account="alice", domainid=sub["id"], password=" ", **DETAILS
    )
    assert status == 431 and body["errortext"] == "Password cannot be empty or blank."
    server.ok(
        "createUser",
        username="bob",
        account="alice",
        domainid=sub["id"],
        password=SECRET,
        **DETAILS,
    )
    assert Browser(server).login("bob", SECRET, domain="/sub") == 200


def test_a_password_is_never_shown_nor_quoted(server: ServerHarness) -> None:
    sub = sub_domain(server)
    user = user_account(server, "alice", sub["id"])
    listed = server.ok("listUsers", id=user["id"])["user"][0]
    assert SECRET not in repr(listed) and "password" not in listed
    too_long = "p" * 256
    status, body = server.call("updateUser", id=user["id"], password=too_long)
    assert status == 431 and "password" in body["errortext"]
    assert too_long not in body["errortext"]


def test_a_user_changing_their_own_password_must_give_the_current_one(
    server: ServerHarness,
) -> None:
    sub = sub_domain(server)
    user = user_account(server, "alice", sub["id"])
    mine, other = Browser(server), Browser(server)
    assert mine.login("alice", SECRET, domain="/sub") == 200
    assert other.login("alice", SECRET, domain="/sub") == 200

    status, body = mine.call("updateUser", id=user["id"], password="N3w-secret")
    assert status == 431 and "current password must be provided" in body["errortext"]
    status, body = mine.call(
        "updateUser", id=user["id"], password="N3w-secret", currentpassword="wrong"
    )
    assert status == 431 and body["errortext"].endswith("Current password is incorrect.")
    status, _ = mine.call(
        "updateUser", id=user["id"], password="N3w-secret", currentpassword=SECRET
    )
    assert status == 200

    # The session that made the change stays; the other one is ended.
    assert mine.call("listZones")[0] == 200
    assert other.call("listZones")[0] == 401
    assert Browser(server).login("alice", SECRET, domain="/sub") == 531
    assert Browser(server).login("alice", "N3w-secret", domain="/sub") == 200


@pytest.mark.parametrize("admin_type", [1, 2])
def test_an_admin_resets_a_password_without_the_current_one_and_ends_sessions(
    server: ServerHarness, admin_type: int
) -> None:
    sub = sub_domain(server)
    user = user_account(server, "alice", sub["id"])
    boss = server.ok(
        "createAccount", username="boss", accounttype=admin_type, domainid=sub["id"], **DETAILS
    )["account"]["user"][0]
    pair = server.ok("registerUserKeys", id=boss["id"])["userkeys"]
    boss_keys = ApiKeys("boss", pair["apikey"], pair["secretkey"])
    browser = Browser(server)
    assert browser.login("alice", SECRET, domain="/sub") == 200

    status, body = server.call("updateUser", boss_keys, id=user["id"], password="Res3t-by-admin")
    assert status == 200, body

    assert browser.call("listZones")[0] == 401
    assert Browser(server).login("alice", "Res3t-by-admin", domain="/sub") == 200


def test_another_user_cannot_set_a_password(server: ServerHarness) -> None:
    sub = sub_domain(server)
    user = user_account(server, "alice", sub["id"])
    user_account(server, "mallory", sub["id"])
    browser = Browser(server)
    assert browser.login("mallory", SECRET, domain="/sub") == 200
    status, _ = browser.call("updateUser", id=user["id"], password="Tak3n", currentpassword=SECRET)
    assert status == 531
    assert Browser(server).login("alice", SECRET, domain="/sub") == 200


def test_deleting_a_user_ends_their_sessions(server: ServerHarness) -> None:
    sub = sub_domain(server)
    user_account(server, "alice", sub["id"])
    second = server.ok(
        "createUser",
        username="bob",
        account="alice",
        domainid=sub["id"],
        password=SECRET,
        **DETAILS,
    )["user"]
    browser = Browser(server)
    assert browser.login("bob", SECRET, domain="/sub") == 200
    assert browser.call("listZones")[0] == 200

    server.ok("deleteUser", id=second["id"])

    assert browser.call("listZones")[0] == 401
    assert Browser(server).login("bob", SECRET, domain="/sub") == 531
