"""listCapabilities, and the empty lists CloudStack's login page asks for before login."""

import pytest

from tests.integration.server.conftest import ServerHarness


def test_list_capabilities_answers_cloudstacks_fields(server: ServerHarness) -> None:
    capability = server.ok("listCapabilities")["capability"]

    assert capability["cloudstackversion"].startswith("4.")
    assert capability["securitygroupsenabled"] is False
    assert capability["supportELB"] == "false"
    assert capability["kvmsnapshotenabled"] is False
    assert capability["allowusercreateprojects"] is False
    assert capability["projectinviterequired"] is False
    assert capability["customdiskofferingmaxsize"] >= capability["customdiskofferingminsize"]
    assert {"apilimitinterval", "apilimitmax", "allowuserviewdestroyedvm"} <= set(capability)
    assert {"allowuserexpungerecovervm", "dynamicrolesenabled"} <= set(capability)


def test_list_apis_describes_the_capabilities(server: ServerHarness) -> None:
    apis = {a["name"]: a for a in server.ok("listApis")["api"]}
    fields = {f["name"]: f for f in apis["listCapabilities"]["response"]}
    assert fields["supportELB"]["type"] == "string"
    assert fields["customdiskofferingmaxsize"]["type"] == "long"
    assert fields["kvmcloudversion"]["description"].startswith("kvmcloud: ")


def test_a_user_may_list_capabilities(server: ServerHarness) -> None:
    status, body = server.call("listCapabilities", server.user("carol"))
    assert status == 200
    assert body["capability"]["userpublictemplateenabled"] is True


@pytest.mark.parametrize(
    ("command", "key"),
    [
        ("listIdps", "listidpsresponse"),
        ("listOauthProvider", "listoauthproviderresponse"),
        ("listGuiThemes", "listguithemesresponse"),
    ],
)
def test_pre_login_lists_are_empty_and_need_no_credentials(
    server: ServerHarness, command: str, key: str
) -> None:
    response = server.client.get("/client/api", params={"command": command, "response": "json"})
    assert response.status_code == 200
    assert response.json() == {key: {}}
    assert server.call(command)[0] == 200
