"""/client/api as a client's socket sees it: header values, body and request bounds, faults."""

import pytest
from sqlalchemy import text

from kvmcloud.protocol.api_signing import sign
from kvmcloud.server.api.params import MAX_PARAMS
from kvmcloud.server.api.routes import MAX_BODY_BYTES
from tests.integration.server.conftest import ServerHarness, Wire


@pytest.mark.parametrize("value", ["\x00", "a\rb", "a\nb", "\x1b[2J", "日本\u2028", "x" * 3000])
@pytest.mark.parametrize("post", [False, True])
def test_a_hostile_value_quoted_by_an_error_is_answered(wire: Wire, value: str, post: bool) -> None:
    """Issue 12, defect 3: ``listZones id=%00`` got no HTTP answer (h11 refused the header)."""
    response = wire.send("listZones", post=post, id=value)

    assert response.status_code == 431
    text_ = response.json()["listzonesresponse"]["errortext"]
    assert text_.startswith("Unable to execute API command listzones due to invalid value.")
    assert "Invalid parameter id value=" in text_
    assert all(ch not in text_ for ch in "\x00\r\n\x1b\u2028") and len(text_) < 400
    header = response.headers["x-description"]
    assert header.startswith("Unable to execute API command listzones")
    header.encode("latin-1")


def test_the_escaped_value_is_readable(wire: Wire) -> None:
    body = wire.send("listZones", id="a\x00b\r\n").json()["listzonesresponse"]

    assert "value=a\\x00b\\r\\n due to" in body["errortext"]


def test_a_body_over_the_cap_is_refused_with_a_cloudstack_error(wire: Wire) -> None:
    big = "x" * (MAX_BODY_BYTES + 1)
    response = wire.http.post(
        f"{wire.base_url}/client/api",
        params={"command": "listZones"},
        content=f"userdata={big}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 413
    body = response.json()["listzonesresponse"]
    assert body["errorcode"] == 413
    assert body["errortext"] == f"The request body is larger than {MAX_BODY_BYTES} bytes"


def test_a_streamed_body_over_the_cap_is_refused_without_reading_it_all(wire: Wire) -> None:
    def chunks():  # no Content-Length: the server must count as it reads
        for _ in range(64):
            yield b"x" * (MAX_BODY_BYTES // 16)

    response = wire.http.post(
        f"{wire.base_url}/client/api",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 413
    assert response.json()["errorresponse"]["errorcode"] == 413


def test_a_large_legitimate_body_is_read(wire: Wire, server: ServerHarness) -> None:
    # 1 MiB of userdata (CloudStack's limit) fits; the command then fails on its own terms.
    response = wire.send("deployVirtualMachine", post=True, userdata="A" * 1_048_576)

    assert response.status_code == 431
    assert "missing parameter" in response.json()["deployvirtualmachineresponse"]["errortext"]


def test_too_many_parameters_are_refused_before_authentication(wire: Wire) -> None:
    form = {f"p{i}": "v" for i in range(MAX_PARAMS + 1)}
    for response in (
        wire.http.post(f"{wire.base_url}/client/api", data=form),
        wire.http.get(f"{wire.base_url}/client/api", params=form),
    ):
        assert response.status_code == 413
        assert response.json()["errorresponse"]["errortext"] == (
            f"The request has more than {MAX_PARAMS} parameters"
        )


def test_an_overlong_value_is_refused_before_authentication(wire: Wire) -> None:
    form = {"command": "listZones", "name": "n" * 1_048_577, "apiKey": "not-checked-yet"}
    response = wire.http.post(f"{wire.base_url}/client/api", data=form)

    assert response.status_code == 431
    # Named, never quoted: before authentication any value may be a password.
    assert response.json()["listzonesresponse"]["errortext"] == (
        "Invalid parameter name: longer than 1048576 characters"
    )


def test_a_server_fault_is_530_with_a_generic_text_and_no_traceback(
    wire: Wire, server: ServerHarness
) -> None:
    with server.db.transaction() as session:  # a real fault: the zones table is gone
        session.execute(text("DROP TABLE data_center"))
    response = wire.send("listZones")

    assert response.status_code == 530
    body = response.json()["listzonesresponse"]
    assert body["errortext"] == (
        "Internal error executing command, please contact your administrator"
    )
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()


def test_a_json_body_carries_no_parameters(wire: Wire) -> None:
    query = {"command": "listZones", "response": "json", "apiKey": wire.admin.api_key}
    query["signature"] = sign(query, wire.admin.secret_key)
    response = wire.http.post(
        f"{wire.base_url}/client/api", params=query, json={"id": "not-a-uuid"}
    )

    assert response.status_code == 200


def test_non_utf8_form_bytes_do_not_break_the_request(wire: Wire) -> None:
    response = wire.http.post(
        f"{wire.base_url}/client/api",
        content=b"command=listZones&id=%ff%fe\xff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 401
    assert isinstance(response.json()["listzonesresponse"]["errortext"], str)


def test_parameters_are_not_looked_at_before_authentication(wire: Wire) -> None:
    # Bad values everywhere, but no valid signature: the answer is 401, never a 431 that
    # would tell an anonymous caller anything about the parameters.
    form = {"command": "listZones", "id": "\x00", "page": "x", "details[0].k": "\r\n"}
    for response in (
        wire.http.get(f"{wire.base_url}/client/api", params=form),
        wire.http.post(f"{wire.base_url}/client/api", data=form),
    ):
        assert response.status_code == 401
        assert response.json()["listzonesresponse"]["errorcode"] == 401
