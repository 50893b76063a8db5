"""`kvmcloud-server create-account` and `create-api-key`: domains, taken names, unknown users."""

from tests.integration.server.test_secrets_at_rest import Installation, install

__all__ = ["install"]


def test_a_taken_account_name_is_a_clear_error_not_a_traceback(install: Installation) -> None:
    install.keys("init")
    install.keys("create-account", "bob")

    code, out, err = install.cli("create-account", "bob")

    assert code == 1 and out == ""
    assert err.strip() == (
        "kvmcloud-server: The specified account: bob already exists in domain ROOT"
    )


def test_accounts_and_keys_are_made_in_the_domain_named(install: Installation) -> None:
    admin = install.keys("init")
    with install.server(admin) as server:
        sub = server.ok("createDomain", name="sub")["domain"]

    bob = install.keys("create-account", "bob", "--domain", "sub")
    root_bob = install.keys("create-account", "bob")
    again = install.keys("create-api-key", "--user", "bob", "--domain", "/sub/")

    with install.server(admin) as server:
        # The old pair of sub's bob stopped working; ROOT's bob was not touched.
        assert server.call("listZones", bob)[0] == 401
        status, body = server.call("listAccounts", again)
        assert status == 200
        assert [(a["name"], a["domainid"]) for a in body["account"]] == [("bob", sub["id"])]
        status, body = server.call("listAccounts", root_bob)
        assert status == 200 and body["account"][0]["domain"] == "ROOT"


def test_unknown_users_and_domains_are_named_in_the_error(install: Installation) -> None:
    install.keys("init")

    code, _, err = install.cli("create-api-key", "--user", "nobody")
    assert code == 1 and "Unable to find user nobody in domain ROOT" in err
    code, _, err = install.cli("create-account", "bob", "--domain", "/missing/")
    assert code == 1 and "Unable to find domain ROOT/missing" in err
