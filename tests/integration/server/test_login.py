"""Password login and sessions through the real app: cookies, sessionkey, timeouts, throttling."""

import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from kvmcloud.protocol.api_signing import sign
from kvmcloud.server.accounts.models import Account, User
from kvmcloud.server.accounts.service import set_password
from tests.integration.server.conftest import ServerHarness, Wire

PASSWORD = "Adm1n-pa55word"
REFUSED = "failed to authenticate user, check if username/password are correct"


def give_password(server: ServerHarness, username: str, password: str = PASSWORD) -> None:
    with server.db.transaction() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        set_password(user, password)


def login(server: ServerHarness, **params: str) -> httpx.Response:
    data = {"command": "login", "response": "json", **params}
    return server.client.post("/client/api", data=data)


def body(response: httpx.Response) -> dict[str, Any]:
    payload = response.json()
    assert len(payload) == 1, payload
    value: dict[str, Any] = next(iter(payload.values()))
    return value


def logged_in(server: ServerHarness, username: str = "admin") -> str:
    response = login(server, username=username, password=PASSWORD)
    assert response.status_code == 200, response.text
    key: str = body(response)["sessionkey"]
    return key


def session_call(server: ServerHarness, command: str, **params: str) -> httpx.Response:
    query = {"command": command, "response": "json", **params}
    return server.client.get("/client/api", params=query)


@pytest.fixture
def admin(server: ServerHarness) -> ServerHarness:
    give_password(server, "admin")
    return server


def test_login_answers_cloudstacks_loginresponse_and_sets_httponly_cookies(
    admin: ServerHarness,
) -> None:
    response = login(admin, username="admin", password=PASSWORD)

    assert response.status_code == 200, response.text
    assert list(response.json()) == ["loginresponse"]
    answer = body(response)
    assert answer["username"] == "admin"
    assert answer["account"] == "admin"
    assert answer["type"] == "1"
    assert answer["timeout"] == "1800"
    assert answer["registered"] == "false"
    assert {"userid", "domainid", "sessionkey"} <= set(answer)
    assert all(isinstance(value, str) for value in answer.values())
    assert PASSWORD not in response.text
    cookies = response.headers.get_list("set-cookie")
    names = sorted(cookie.split("=", 1)[0] for cookie in cookies)
    assert names == ["JSESSIONID", "sessionkey"]
    for cookie in cookies:
        assert "HttpOnly" in cookie and "Path=/client" in cookie and "SameSite=Lax" in cookie
    assert f"sessionkey={answer['sessionkey']};" in " ".join(cookies)


def test_a_session_calls_commands_with_its_cookie_and_sessionkey(admin: ServerHarness) -> None:
    key = logged_in(admin)

    response = session_call(admin, "listZones", sessionkey=key)
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["listzonesresponse"]
    # Admin commands are the admin's, by session as by key.
    assert session_call(admin, "listConfigurations", sessionkey=key).status_code == 200


def test_login_over_get_is_refused_with_405(admin: ServerHarness) -> None:
    response = admin.client.get(
        "/client/api",
        params={"command": "login", "username": "admin", "password": PASSWORD, "response": "json"},
    )
    assert response.status_code == 405
    assert body(response)["errortext"] == "Please use HTTP POST to authenticate using this API"
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "params",
    [
        {"username": "admin", "password": "wrong-password"},
        {"username": "nobody", "password": PASSWORD},
        {"username": "admin", "password": PASSWORD, "domain": "/elsewhere"},
        {
            "username": "admin",
            "password": PASSWORD,
            "domainId": "5a7f3c1e-0000-4000-8000-000000000000",
        },
    ],
)
def test_bad_credentials_get_531_with_one_text(
    admin: ServerHarness, params: dict[str, str]
) -> None:
    response = login(admin, **params)
    assert response.status_code == 531
    answer = body(response)
    assert answer["errorcode"] == 531
    assert answer["errortext"] == REFUSED
    assert "set-cookie" not in response.headers


def test_domain_path_and_domainid_of_root_are_accepted(admin: ServerHarness) -> None:
    domain_id = body(login(admin, username="admin", password=PASSWORD))["domainid"]
    assert login(admin, username="admin", password=PASSWORD, domain="/").status_code == 200
    assert login(admin, username="admin", password=PASSWORD, domainid=domain_id).status_code == 200


def test_missing_username_or_password_is_a_431_naming_it(admin: ServerHarness) -> None:
    response = login(admin, username="admin")
    assert response.status_code == 431
    assert "password" in body(response)["errortext"]
    response = login(admin, password=PASSWORD)
    assert response.status_code == 431
    assert "username" in body(response)["errortext"]


@pytest.mark.parametrize("table", ["user", "account"])
def test_a_disabled_user_or_account_cannot_log_in_nor_use_its_session(
    server: ServerHarness, table: str
) -> None:
    server.user("alice")
    give_password(server, "alice")
    key = logged_in(server, "alice")
    with server.db.transaction() as session:
        user = session.scalars(select(User).where(User.username == "alice")).one()
        row = user if table == "user" else session.get(Account, user.account_id)
        assert row is not None
        row.state = "disabled"

    response = login(server, username="alice", password=PASSWORD)
    assert response.status_code == 531
    assert body(response)["errortext"] == REFUSED
    assert session_call(server, "listZones", sessionkey=key).status_code == 401


def test_a_user_session_is_a_user_caller(server: ServerHarness) -> None:
    server.user("bob")
    give_password(server, "bob")
    key = logged_in(server, "bob")
    answer = session_call(server, "listConfigurations", sessionkey=key)
    assert answer.status_code == 432
    assert session_call(server, "listZones", sessionkey=key).status_code == 200


def test_an_unknown_command_in_a_session_is_432_as_cloudstack_answers(
    admin: ServerHarness,
) -> None:
    key = logged_in(admin)
    answer = session_call(admin, "fooBar", sessionkey=key)
    assert answer.status_code == 432
    assert answer.json()["errorresponse"]["errortext"] == "Unknown API command: fooBar"
    admin.user("bob")
    give_password(admin, "bob")
    # A user's role has no rule for it: the same text as any command the role may not call.
    answer = session_call(admin, "fooBar", sessionkey=logged_in(admin, "bob"))
    assert answer.status_code == 432
    assert answer.json()["errorresponse"]["errortext"] == (
        "The API fooBar does not exist or is not available for this account."
    )


def test_a_request_without_a_command_is_refused_as_cloudstack_does(admin: ServerHarness) -> None:
    key = logged_in(admin)
    answer = admin.client.get("/client/api", params={"response": "json", "sessionkey": key})
    assert answer.status_code == 400
    assert answer.json() == {
        "errorresponse": {"uuidList": [], "errorcode": 400, "errortext": "no command specified"}
    }
    query = {"response": "json", "apiKey": admin.admin.api_key}
    query["signature"] = sign(query, admin.admin.secret_key)
    answer = admin.client.get("/client/api", params=query)
    assert answer.status_code == 401
    assert answer.json()["errorresponse"]["errortext"] == (
        "unable to verify user credentials and/or request signature"
    )


def test_a_session_is_refused_without_its_sessionkey(admin: ServerHarness) -> None:
    key = logged_in(admin)
    assert session_call(admin, "listZones").status_code == 401
    assert session_call(admin, "listZones", sessionkey=key + "x").status_code == 401
    assert session_call(admin, "listZones", sessionkey=key).status_code == 200


def test_a_session_is_refused_without_its_cookie(admin: ServerHarness) -> None:
    key = logged_in(admin)
    admin.client.cookies.clear()
    response = session_call(admin, "listZones", sessionkey=key)
    assert response.status_code == 401
    # The sessionkey as a cookie does not stand in for the session cookie.
    admin.client.cookies.set("sessionkey", key)
    assert session_call(admin, "listZones", sessionkey=key).status_code == 401


def test_a_session_is_refused_after_logout(admin: ServerHarness) -> None:
    key = logged_in(admin)
    session_cookie = admin.client.cookies["JSESSIONID"]

    response = session_call(admin, "logout", sessionkey=key)
    assert response.status_code == 200
    assert response.json() == {"logoutresponse": {"description": "success"}}

    admin.client.cookies.set("JSESSIONID", session_cookie)
    assert session_call(admin, "listZones", sessionkey=key).status_code == 401


def test_a_new_login_ends_the_session_its_cookie_names(admin: ServerHarness) -> None:
    first_key = logged_in(admin)
    first_cookie = admin.client.cookies["JSESSIONID"]

    # A refused login still ends the earlier session, as CloudStack's does.
    assert login(admin, username="admin", password=PASSWORD + "x").status_code == 531
    admin.client.cookies.clear()
    admin.client.cookies.set("JSESSIONID", first_cookie)
    assert session_call(admin, "listZones", sessionkey=first_key).status_code == 401

    admin.client.cookies.clear()
    second_key = logged_in(admin)
    second_cookie = admin.client.cookies["JSESSIONID"]
    third_key = logged_in(admin)
    assert admin.client.cookies["JSESSIONID"] != second_cookie
    assert session_call(admin, "listZones", sessionkey=third_key).status_code == 200
    admin.client.cookies.clear()
    admin.client.cookies.set("JSESSIONID", second_cookie)
    assert session_call(admin, "listZones", sessionkey=second_key).status_code == 401


def test_a_session_ends_after_its_idle_timeout(admin: ServerHarness) -> None:
    key = logged_in(admin)
    admin.clock.advance(1700)
    assert session_call(admin, "listZones", sessionkey=key).status_code == 200
    admin.clock.advance(1700)
    assert session_call(admin, "listZones", sessionkey=key).status_code == 200
    admin.clock.advance(1800)
    assert session_call(admin, "listZones", sessionkey=key).status_code == 401


def test_a_busy_session_ends_at_its_absolute_timeout(admin: ServerHarness) -> None:
    admin.ok("updateConfiguration", name="session.absolute.timeout", value="3600")
    key = logged_in(admin)
    for _ in range(3):
        admin.clock.advance(1000)
        assert session_call(admin, "listZones", sessionkey=key).status_code == 200
    admin.clock.advance(600)
    assert session_call(admin, "listZones", sessionkey=key).status_code == 401


def test_failed_logins_are_throttled_per_user_then_age_out(admin: ServerHarness) -> None:
    for _ in range(5):
        assert login(admin, username="admin", password="guess").status_code == 531
    # Even the right password is refused now, with the same text.
    response = login(admin, username="admin", password=PASSWORD)
    assert response.status_code == 531
    assert body(response)["errortext"] == REFUSED
    admin.clock.advance(301)
    assert login(admin, username="admin", password=PASSWORD).status_code == 200


def test_failed_logins_are_throttled_per_source_address(admin: ServerHarness) -> None:
    admin.ok("updateConfiguration", name="login.failures.address.max", value="3")
    for name in ("u1", "u2", "u3"):
        assert login(admin, username=name, password="guess").status_code == 531
    assert login(admin, username="admin", password=PASSWORD).status_code == 531
    admin.clock.advance(301)
    assert login(admin, username="admin", password=PASSWORD).status_code == 200


def test_keys_still_work_and_login_needs_no_signature(admin: ServerHarness) -> None:
    assert admin.call("listZones")[0] == 200
    assert login(admin, username="admin", password=PASSWORD).status_code == 200


def test_no_password_reaches_the_logs(
    admin: ServerHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(6):
        login(admin, username="admin", password="Secret-Guess-123")
    assert "Secret-Guess-123" not in caplog.text


def test_login_over_a_real_socket_sets_cookies_a_client_keeps(
    admin: ServerHarness, wire: Wire
) -> None:
    with httpx.Client(base_url=wire.base_url, timeout=30) as http:
        response = http.post(
            "/client/api",
            data={
                "command": "login",
                "username": "admin",
                "password": PASSWORD,
                "response": "json",
            },
        )
        assert response.status_code == 200, response.text
        key = body(response)["sessionkey"]
        answer = http.get("/client/api", params={"command": "listZones", "sessionkey": key})
        assert answer.status_code == 200, answer.text
        http.post("/client/api", data={"command": "logout"})
        again = http.get("/client/api", params={"command": "listZones", "sessionkey": key})
        assert again.status_code == 401


def test_naming_the_domain_by_uuid_does_not_reset_the_user_budget(admin: ServerHarness) -> None:
    domain_id = body(login(admin, username="admin", password=PASSWORD))["domainid"]
    for index in range(5):
        by_uuid = {"domainid": domain_id} if index % 2 else {"domain": "/"}
        assert login(admin, username="admin", password="guess", **by_uuid).status_code == 531
    assert login(admin, username="admin", password=PASSWORD, domainid=domain_id).status_code == 531
