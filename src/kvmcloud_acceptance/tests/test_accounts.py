"""Accounts and their users: create, find, delete."""

import secrets

import pytest
from cs import CloudStack

from kvmcloud_acceptance.plugin import Cleanup, listed

pytestmark = pytest.mark.cloudstack_compatible


def test_an_account_with_a_user_is_created_and_deleted(
    api: CloudStack, run_id: str, cleanup: Cleanup
) -> None:
    name = f"{run_id}-account"
    account = api.createAccount(
        accounttype=0,
        username=name,
        password=secrets.token_urlsafe(16),
        email=f"{name}@example.org",
        firstname="Acceptance",
        lastname="Test",
        account=name,
    )["account"]
    cleanup.add(f"account {name}", lambda: api.deleteAccount(id=account["id"]))
    assert account["name"] == name

    user = api.createUser(
        account=name,
        domainid=account["domainid"],
        username=f"{name}-2",
        password=secrets.token_urlsafe(16),
        email=f"{name}-2@example.org",
        firstname="Second",
        lastname="User",
    )["user"]
    users = {
        u["username"]
        for u in listed(api, "listUsers", "user", account=name, domainid=account["domainid"])
    }
    assert users == {name, f"{name}-2"}
    api.deleteUser(id=user["id"])
    users = {
        u["username"]
        for u in listed(api, "listUsers", "user", account=name, domainid=account["domainid"])
    }
    assert users == {name}

    api.deleteAccount(id=account["id"])
    cleanup.done(f"account {name}")
    assert listed(api, "listAccounts", "account", id=account["id"]) == []
