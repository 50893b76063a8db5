"""Events that domain, account, user, role and login commands leave, as CloudStack's do."""

from typing import Any

from tests.integration.server.conftest import ServerHarness
from tests.integration.server.test_directory import DETAILS, account, domain
from tests.integration.server.test_login import PASSWORD, give_password, login, session_call


def events(server: ServerHarness, **filters: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = server.ok("listEvents", listall=True, **filters).get("event", [])
    return found


def test_directory_commands_record_completed_events_for_the_caller(
    server: ServerHarness,
) -> None:
    sub = domain(server, "sub")
    alice, _ = account(server, "alice", sub["id"])
    server.ok("updateDomain", id=sub["id"], name="renamed")
    server.ok("updateAccount", id=alice["id"], newname="alicia")
    server.ok("disableAccount", id=alice["id"], lock=True)
    server.ok("enableAccount", id=alice["id"])
    bob = server.ok("createUser", username="bob", account="alicia", domainid=sub["id"], **DETAILS)
    bob_id = bob["user"]["id"]
    server.ok("updateUser", id=bob_id, email="bob@example.org")
    server.ok("registerUserKeys", id=bob_id)
    server.ok("deleteUser", id=bob_id)
    role = server.ok("createRole", name="auditor", type="User")["role"]

    listed = events(server)
    expected = {
        "DOMAIN.CREATE": ("Domain", sub["id"], "creating domain sub"),
        "DOMAIN.UPDATE": ("Domain", sub["id"], "updating domain renamed"),
        "ACCOUNT.CREATE": ("Account", alice["id"], "creating account alice"),
        "ACCOUNT.UPDATE": ("Account", alice["id"], "updating account alicia"),
        "ACCOUNT.ENABLE": ("Account", alice["id"], "enabling account alicia"),
        "USER.CREATE": ("User", bob_id, "creating user bob"),
        "USER.UPDATE": ("User", bob_id, "updating user bob"),
        "REGISTER.USER.KEY": ("User", bob_id, "registering API keys of user"),
        "USER.DELETE": ("User", bob_id, "deleting user"),
        "ROLE.CREATE": ("Role", role["id"], "creating role auditor"),
    }
    for event_type, (resource_type, resource_id, words) in expected.items():
        (event,) = [
            e for e in listed if e["type"] == event_type and e.get("resourceid") == resource_id
        ]
        assert event["resourcetype"] == resource_type
        assert event["description"].startswith(f"Successfully completed {words}"), event
        assert (event["level"], event["state"], event["account"]) == (
            "INFO",
            "Completed",
            "admin",
        )
    # No secret reaches an event: registerUserKeys' answer holds the secret key.
    assert not any("secret" in e["description"].lower() for e in listed)
    # The resource filter finds them, as for templates and VMs.
    about_bob = events(server, resourcetype="User", resourceid=bob_id)
    assert {e["type"] for e in about_bob} == {
        "USER.CREATE",
        "USER.UPDATE",
        "REGISTER.USER.KEY",
        "USER.DELETE",
    }


def test_a_refused_command_records_no_event(server: ServerHarness) -> None:
    before = len(events(server))
    status, _ = server.call("createDomain", name="x", parentdomainid="not-a-uuid")
    assert status == 431
    status, _ = server.call("createAccount", username="y", accounttype=7, **DETAILS)
    assert status == 431
    assert len(events(server)) == before


def test_login_and_logout_are_the_users_events(server: ServerHarness) -> None:
    give_password(server, "admin")
    response = login(server, username="admin", password=PASSWORD)
    assert response.status_code == 200
    key = response.json()["loginresponse"]["sessionkey"]
    user_id = response.json()["loginresponse"]["userid"]
    assert session_call(server, "logout", sessionkey=key).status_code == 200
    # A refused login and a logout without a session leave nothing.
    assert login(server, username="admin", password="wrong").status_code == 531
    assert session_call(server, "logout").status_code == 200

    listed = [e for e in events(server) if e["type"].startswith("USER.LOG")]
    assert sorted(e["type"] for e in listed) == ["USER.LOGIN", "USER.LOGOUT"]
    assert {(e["resourcetype"], e["resourceid"], e["username"]) for e in listed} == {
        ("User", user_id, "admin")
    }
    assert all(PASSWORD not in e["description"] for e in listed)
