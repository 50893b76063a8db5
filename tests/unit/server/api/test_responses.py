from datetime import UTC, datetime, timedelta, timezone

import pytest

from kvmcloud.server.api.responses import (
    JSON_CONTENT_TYPE,
    MAX_ERROR_TEXT_CHARS,
    MAX_HEADER_CHARS,
    AsyncResult,
    ErrorReply,
    FlatResult,
    ListResult,
    ObjectResult,
    error_text,
    format_date,
    header_value,
    render,
    render_error,
    response_key,
    without_none,
)


def test_response_key_is_lower_cased_command_plus_response():
    assert response_key("listZones") == "listzonesresponse"
    assert response_key("queryAsyncJobResult") == "queryasyncjobresultresponse"


def test_content_type():
    assert JSON_CONTENT_TYPE == "application/json; charset=UTF-8"


def test_list_envelope():
    zones = [{"id": "z1", "name": "one"}, {"id": "z2", "name": "two"}]

    assert render("listZones", ListResult("zone", zones, count=7)) == {
        "listzonesresponse": {"count": 7, "zone": zones}
    }


def test_list_envelope_copies_items_into_a_list():
    body = render("listZones", ListResult("zone", ({"id": "z1"},), count=1))

    assert body["listzonesresponse"]["zone"] == [{"id": "z1"}]
    assert isinstance(body["listzonesresponse"]["zone"], list)


def test_empty_list_is_empty_object_without_count():
    assert render("listHosts", ListResult("host", [], count=0)) == {"listhostsresponse": {}}


def test_empty_page_of_nonempty_result_is_still_empty_object():
    # cs's fetch_list stops on an empty page; CloudStack writes {} there too.
    assert render("listHosts", ListResult("host", [], count=12)) == {"listhostsresponse": {}}


def test_object_envelope():
    item = {"name": "ping.interval", "value": "60"}

    assert render("updateConfiguration", ObjectResult("configuration", item)) == {
        "updateconfigurationresponse": {"configuration": item}
    }


def test_async_envelope():
    assert render("deleteTemplate", AsyncResult(job_id="j-1")) == {
        "deletetemplateresponse": {"jobid": "j-1"}
    }


def test_async_create_envelope():
    assert render("deployVirtualMachine", AsyncResult(job_id="j-1", object_id="vm-1")) == {
        "deployvirtualmachineresponse": {"id": "vm-1", "jobid": "j-1"}
    }


def test_flat_envelope():
    payload = {"jobid": "j-1", "jobstatus": 1, "jobresult": {"success": True}}

    assert render("queryAsyncJobResult", FlatResult(payload)) == {
        "queryasyncjobresultresponse": payload
    }


def test_error_body():
    reply = render_error("listZones", 431, "bad page", 4350)

    assert reply == ErrorReply(
        status=431,
        body={
            "listzonesresponse": {
                "uuidList": [],
                "errorcode": 431,
                "cserrorcode": 4350,
                "errortext": "bad page",
            }
        },
    )


def test_error_body_without_cserrorcode():
    reply = render_error("listZones", 401, "unable to verify", None)

    assert reply.status == 401
    assert reply.body == {
        "listzonesresponse": {"uuidList": [], "errorcode": 401, "errortext": "unable to verify"}
    }


@pytest.mark.parametrize(("command", "code"), [(None, 401), (None, 530), ("listZones", 432)])
def test_unknown_command_and_432_use_errorresponse(command, code):
    reply = render_error(command, code, "nope", 9999)

    assert list(reply.body) == ["errorresponse"]
    assert reply.body["errorresponse"]["errorcode"] == code
    assert reply.status == code


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 20, 30, tzinfo=timezone(timedelta(hours=2))),
        datetime(2024, 5, 1, 5, 20, 30, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2024, 5, 1, 10, 20, 30, 999_999, tzinfo=UTC),
    ],
)
def test_format_date(moment):
    assert format_date(moment) == "2024-05-01T10:20:30+0000"


def test_format_date_none():
    assert format_date(None) is None


def test_without_none_drops_only_nulls():
    item: dict[str, object] = {"a": None, "b": 0, "c": "", "d": False, "e": [], "f": {"g": None}}

    assert without_none(item) == {"b": 0, "c": "", "d": False, "e": [], "f": {"g": None}}


# --- hostile text in errors and headers -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "header"),
    [
        ("plain text", "plain text"),
        ("value=\x00 here", "value=? here"),
        ("one\r\nX-Injected: 1", "one X-Injected: 1"),
        ("tab\there", "tab here"),
        ("  padded\n", "padded"),
        ("é ñ", "é ñ"),
        ("日本 💥 \u2028", "?? ?"),
        ("\x7f\x85\x9f", "? ?"),
    ],
)
def test_header_value_is_one_printable_latin1_line(text, header):
    value = header_value(text)

    assert value == header
    value.encode("latin-1")


def test_header_value_is_bounded():
    value = header_value("x" * 10_000)

    assert len(value) == MAX_HEADER_CHARS and value.endswith("...")


def test_error_text_escapes_controls_keeps_lines_and_is_bounded():
    assert error_text("bad value=\x00\x1b[31m\tend") == "bad value=\\x00\\x1b[31m\tend"
    assert error_text("first line\nsecond line") == "first line\nsecond line"
    long = error_text("y" * 10_000)
    assert len(long) == MAX_ERROR_TEXT_CHARS + 1 and long.endswith("…")


def test_error_body_carries_the_escaped_text():
    reply = render_error("listZones", 431, "Invalid parameter id value=\x00", 4350)

    assert reply.body["listzonesresponse"]["errortext"] == "Invalid parameter id value=\\x00"
