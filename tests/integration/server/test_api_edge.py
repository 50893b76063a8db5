"""The /client/api edge: auth, envelopes, errors, paging, listApis — in-process, real SQLite."""

from datetime import UTC, datetime, timedelta

from kvmcloud.protocol.api_signing import format_expires, sign
from tests.integration.server.conftest import ServerHarness


def test_bad_signature_is_401_with_cloudstack_text(server: ServerHarness) -> None:
    query = {"command": "listZones", "response": "json", "apiKey": server.admin.api_key}
    query["signature"] = sign(query, "not-the-secret")
    response = server.client.get("/client/api", params=query)
    assert response.status_code == 401
    body = response.json()["listzonesresponse"]
    assert body["errorcode"] == 401
    assert body["errortext"] == "unable to verify user credentials and/or request signature"
    assert "cserrorcode" not in body


def test_unknown_key_and_missing_signature_are_401(server: ServerHarness) -> None:
    query = {"command": "listZones", "response": "json", "apiKey": "nope"}
    query["signature"] = sign(query, server.admin.secret_key)
    assert server.client.get("/client/api", params=query).status_code == 401
    assert server.client.get("/client/api", params={"command": "listZones"}).status_code == 401


def test_v3_expiry_is_enforced(server: ServerHarness) -> None:
    for delta, expected in ((timedelta(minutes=10), 200), (timedelta(minutes=-1), 401)):
        query = {
            "command": "listZones",
            "response": "json",
            "apiKey": server.admin.api_key,
            "signatureVersion": "3",
            "expires": format_expires(server.clock() + delta),
        }
        query["signature"] = sign(query, server.admin.secret_key)
        assert server.client.get("/client/api", params=query).status_code == expected


def test_post_form_with_query_and_body_is_signed_over_both(server: ServerHarness) -> None:
    params = {
        "command": "createZone",
        "response": "json",
        "apiKey": server.admin.api_key,
        "name": "a b+c*d~é",
        "networktype": "Basic",
    }
    params["signature"] = sign(params, server.admin.secret_key)
    query = {k: params[k] for k in ("command", "apiKey")}
    form = {k: v for k, v in params.items() if k not in query}
    response = server.client.post("/client/api", params=query, data=form)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.json()["createzoneresponse"]["zone"]["name"] == "a b+c*d~é"


def test_unknown_command_with_valid_keys_is_cloudstacks_401(server: ServerHarness) -> None:
    for keys in (None, server.user("alice")):
        status, body = server.call("fooBar", keys, id="x")
        assert status == 401, body
        assert body == {
            "errorcode": 401,
            "errortext": "unable to verify user credentials and/or request signature",
            "uuidList": [],
        }
    # The same answer as for a bad signature on a real command: keys cannot probe names.
    query = {"command": "fooBar", "response": "json", "apiKey": server.admin.api_key}
    query["signature"] = sign(query, "not-the-secret")
    response = server.client.get("/client/api", params=query)
    assert response.status_code == 401
    assert "errorresponse" in response.json()


def test_missing_and_invalid_parameters_name_the_parameter(server: ServerHarness) -> None:
    status, body = server.call("createZone", name="z")
    assert status == 431
    assert (
        body["errortext"]
        == "Unable to execute API command createzone due to missing parameter networktype"
    )
    status, body = server.call("listZones", id="not-a-uuid")
    assert status == 431 and "Invalid parameter id value=not-a-uuid" in body["errortext"]
    status, body = server.call("createZone", name="z", networktype="Weird")
    assert status == 431 and "networktype" in body["errortext"]


def test_empty_list_is_an_empty_object_and_count_is_total(server: ServerHarness) -> None:
    assert server.ok("listZones") == {}
    for i in range(5):
        server.ok("createZone", name=f"z{i}", networktype="Advanced")
    page = server.ok("listZones", page=2, pagesize=2)
    assert page["count"] == 5
    assert [z["name"] for z in page["zone"]] == ["z2", "z3"]
    assert server.ok("listZones", keyword="z4")["count"] == 1
    status, body = server.call("listZones", page=1)
    assert status == 431 and "pagesize" in body["errortext"]


def test_list_apis_describes_commands(server: ServerHarness) -> None:
    apis = {a["name"]: a for a in server.ok("listApis")["api"]}
    assert apis["deleteTemplate"]["isasync"] is True
    assert apis["registerTemplate"]["isasync"] is False
    params = {p["name"]: p for p in apis["registerTemplate"]["params"]}
    assert params["url"]["required"] is True and params["url"]["type"] == "string"
    assert params["zoneid"]["type"] == "uuid" and params["zoneid"]["required"] is False
    assert params["directdownload"]["type"] == "boolean"
    assert params["details"]["type"] == "map"
    assert isinstance(params["url"]["length"], int)
    assert server.ok("listApis", name="prepareTemplate")["count"] == 1


def test_non_admin_is_refused_admin_commands_and_sees_fewer_apis(server: ServerHarness) -> None:
    user = server.user("alice")
    status, body = server.call("createZone", user, name="z", networktype="Basic")
    assert status == 432, body
    assert body["errortext"] == (
        "The API createZone does not exist or is not available for this account."
    )
    names = {a["name"] for a in server.call("listApis", user)[1]["api"]}
    assert "listTemplates" in names and "createZone" not in names


def test_configuration_defaults_and_validated_update(server: ServerHarness) -> None:
    configs = {
        c["name"]: c
        for c in server.ok("listConfigurations", keyword="direct.download")["configuration"]
    }
    assert configs["direct.download.connect.timeout"]["value"] == "5000"
    assert configs["direct.download.socket.timeout"]["value"] == "5000"
    assert configs["direct.download.connection.request.timeout"]["value"] == "5000"
    assert configs["direct.download.certificate.background.task.interval"]["value"] == "0"
    updated = server.ok("updateConfiguration", name="direct.download.connect.timeout", value="7000")
    assert updated["configuration"]["value"] == "7000"
    status, body = server.call(
        "updateConfiguration", name="direct.download.connect.timeout", value="soon"
    )
    assert status == 431 and "direct.download.connect.timeout" in body["errortext"]
    status, body = server.call("updateConfiguration", name="no.such.setting", value="1")
    assert status == 431


def test_os_types_and_offerings(server: ServerHarness) -> None:
    os_types = server.ok("listOsTypes", description="Other Linux (64-bit)")
    assert os_types["count"] == 1 and os_types["ostype"][0]["oscategoryname"] == "Other"
    offering = server.ok(
        "createServiceOffering", name="tiny", cpunumber=1, cpuspeed=500, memory=128
    )
    assert offering["serviceoffering"]["memory"] == 128
    assert server.ok("listServiceOfferings")["count"] == 1
    status, body = server.call(
        "createServiceOffering", name="bad", cpunumber=0, cpuspeed=500, memory=128
    )
    assert status == 431 and "cpunumber" in body["errortext"]


def test_dates_are_cloudstack_formatted(server: ServerHarness) -> None:
    server.clock.now = datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)
    zone = server.ok("createZone", name="z", networktype="Basic")["zone"]
    assert zone["created"] == "2024-05-01T10:20:30+0000"


def test_list_apis_describes_the_response_fields_and_related_commands(
    server: ServerHarness,
) -> None:
    apis = {a["name"]: a for a in server.ok("listApis")["api"]}
    fields = {f["name"]: f for f in apis["listRegions"]["response"]}
    assert fields["id"] == {"name": "id", "description": "The ID of the region", "type": "integer"}
    assert fields["gslbserviceenabled"]["type"] == "boolean" and "jobid" in fields
    job = {f["name"]: f for f in apis["queryAsyncJobResult"]["response"]}
    assert job["created"]["type"] == "date" and job["jobresult"]["type"] == "object"
    assert apis["queryAsyncJobResult"]["related"] == "listAsyncJobs"
    success = {f["name"] for f in apis["deleteTemplate"]["response"]}
    assert {"success", "displaytext"} <= success and apis["deleteTemplate"]["related"] == ""
    described = {f["name"]: f for f in apis["listApis"]["response"]}
    nested = {f["name"]: f for f in described["params"]["response"]}
    assert nested["required"]["type"] == "boolean"
