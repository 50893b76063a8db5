"""The requests and answers CloudMonkey 5.3.3.1's password profile relies on, through the real app.

CloudMonkey (requester.py, cachemaker.py) posts login with its parameters in the query
string, reads ``loginresponse.sessionkey``, sends the JSESSIONID cookie and the sessionkey
parameter, builds its command cache from listApis (``int(length)``, ``required is True``,
``related`` split on commas), shows ``X-Description`` for errors, and logs out with a GET
carrying only the cookie. tests/e2e/test_cloudmonkey.py runs the real program.
"""

from typing import Any

from sqlalchemy import select

from kvmcloud.server.accounts.models import User
from kvmcloud.server.accounts.service import set_password
from tests.integration.server.conftest import ServerHarness

PASSWORD = "M0nkey-pa55word"
# The parameter types CloudMonkey 5.3.3.1 knows (config.param_type).
CLOUDMONKEY_TYPES = {
    "boolean",
    "date",
    "float",
    "integer",
    "short",
    "list",
    "long",
    "object",
    "map",
    "string",
    "tzdate",
    "uuid",
}


def cloudmonkey_login(server: ServerHarness) -> str:
    """Log in as CloudMonkey does: POST, every parameter in the query, no body."""
    with server.db.transaction() as session:
        set_password(session.scalars(select(User).where(User.username == "admin")).one(), PASSWORD)
    query = {
        "command": "login",
        "username": "admin",
        "password": PASSWORD,
        "domain": "/",
        "response": "json",
    }
    response = server.client.post("/client/api", params=query)
    assert response.status_code == 200, response.text
    sessionkey: str = response.json()["loginresponse"]["sessionkey"]
    return sessionkey


def session_get(server: ServerHarness, command: str, **params: str) -> Any:
    return server.client.get(
        "/client/api", params={"command": command, "response": "json", **params}
    )


def test_listapis_by_session_has_every_field_cloudmonkeys_sync_reads(
    server: ServerHarness,
) -> None:
    key = cloudmonkey_login(server)

    response = session_get(server, "listApis", sessionkey=key)

    assert response.status_code == 200, response.text
    (responsekey,) = response.json()
    assert "response" in responsekey
    answer = response.json()[responsekey]
    apis = answer["api"]
    assert answer["count"] == len(apis) > 0
    names = {api["name"] for api in apis}
    assert {"listZones", "registerTemplate", "deployVirtualMachine"} <= names
    assert {"uploadTemplateDirectDownloadCertificate", "queryAsyncJobResult"} <= names
    for api in apis:
        assert isinstance(api["description"], str) and api["description"], api["name"]
        assert isinstance(api["isasync"], bool)
        assert isinstance(api["related"], str)
        assert isinstance(api["response"], list)
        for param in api["params"]:
            assert isinstance(param["name"], str) and param["name"]
            assert isinstance(param["description"], str)
            assert isinstance(param["required"], bool)
            assert isinstance(param["length"], int)
            assert isinstance(param["related"], str)
            assert param["type"] in CLOUDMONKEY_TYPES, (api["name"], param)
    by_name = {api["name"]: api for api in apis}
    assert by_name["deployVirtualMachine"]["isasync"] is True
    required = {p["name"] for p in by_name["registerTemplate"]["params"] if p["required"]}
    assert {"name", "url", "format", "hypervisor"} <= required


def test_an_error_by_session_carries_its_text_in_x_description(server: ServerHarness) -> None:
    key = cloudmonkey_login(server)

    response = session_get(server, "listZones", sessionkey=key, id="not-a-uuid")

    assert response.status_code == 431
    errortext = response.json()["listzonesresponse"]["errortext"]
    assert response.headers["X-Description"] == errortext


def test_cloudmonkeys_logout_a_get_with_only_the_cookie_ends_the_session(
    server: ServerHarness,
) -> None:
    key = cloudmonkey_login(server)
    cookie = server.client.cookies["JSESSIONID"]

    response = server.client.get("/client/api", params={"command": "logout"})

    assert response.status_code == 200
    assert response.json() == {"logoutresponse": {"description": "success"}}
    server.client.cookies.set("JSESSIONID", cookie)
    assert session_get(server, "listZones", sessionkey=key).status_code == 401
