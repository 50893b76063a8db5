from urllib.parse import parse_qsl

import httpx
import pytest

from kvmcloud.cli.api_client import (
    ApiCallError,
    ApiClient,
    ApiConnectionError,
    ApiResponseError,
    JobStatus,
    JobTimeoutError,
    job_error,
    job_progress_percent,
    job_status,
)
from kvmcloud.protocol.api_signing import is_valid_signature
from tests.unit.cli.fake_api import (
    API_KEY,
    ENDPOINT,
    SECRET_KEY,
    FakeApi,
    FakeClock,
    failed,
    pending,
    succeeded,
)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


def test_call_sends_signature_v3_parameters(api: FakeApi) -> None:
    api.on("listZones", {"count": 1, "zone": [{"id": "z1"}]})

    api.client().call("listZones", {"name": "zone one"})

    (request,) = api.requests
    assert request.method == "GET"
    params = dict(request.url.params)
    assert params["command"] == "listZones"
    assert params["response"] == "json"
    assert params["apiKey"] == API_KEY
    assert params["signatureVersion"] == "3"
    # NOW is 2024-05-01T10:20:30Z; cs's expiry is ten minutes later, offset spelled +0000.
    assert params["expires"] == "2024-05-01T10:30:30+0000"
    assert params["name"] == "zone one"
    assert is_valid_signature(params, SECRET_KEY, params["signature"])


def test_signature_covers_map_parameters_and_odd_characters(api: FakeApi) -> None:
    api.on("registerTemplate", {"count": 1, "template": [{"id": "t1"}]})
    params = {
        "details[0].HTTP_HEADER:X-Auth-Token": "secret=with=equals",
        "url": "http://origin/a b+c~d*e.qcow2?x=1&y=2",
        "name": "ümlaut",
    }

    api.client().call("registerTemplate", params)

    sent = api.params[0]
    assert sent["details[0].HTTP_HEADER:X-Auth-Token"] == "secret=with=equals"
    assert sent["url"] == params["url"]
    assert is_valid_signature(sent, SECRET_KEY, sent["signature"])
    assert not is_valid_signature(sent, "other-secret", sent["signature"])


def test_post_sends_everything_as_a_form(api: FakeApi) -> None:
    api.on("deployVirtualMachine", {"id": "vm1", "jobid": "j1"})

    api.client(use_post=True).call("deployVirtualMachine", {"zoneid": "z1"})

    (request,) = api.requests
    assert request.method == "POST"
    assert request.url.query == b""
    form = dict(parse_qsl(request.content.decode()))
    assert form["command"] == "deployVirtualMachine"
    assert form["zoneid"] == "z1"
    assert is_valid_signature(form, SECRET_KEY, form["signature"])


def test_call_unwraps_the_one_key_envelope(api: FakeApi) -> None:
    api.on("listZones", {"count": 1, "zone": [{"id": "z1", "name": "zone"}]})

    assert api.client().call("listZones", {}) == {
        "count": 1,
        "zone": [{"id": "z1", "name": "zone"}],
    }


def test_error_status_becomes_api_call_error_with_code_and_text(api: FakeApi) -> None:
    api.on(
        "listTemplates",
        {"uuidList": [], "errorcode": 431, "cserrorcode": 9999, "errortext": "bad filter"},
        status=431,
    )

    with pytest.raises(ApiCallError) as caught:
        api.client().call("listTemplates", {})

    assert (caught.value.code, caught.value.text) == (431, "bad filter")
    assert str(caught.value) == "error 431: bad filter"


def test_error_without_json_body_uses_status_and_description(api: FakeApi) -> None:
    api.on_raw("listZones", httpx.Response(530, text="", headers={"X-Description": "boom"}))

    with pytest.raises(ApiCallError) as caught:
        api.client().call("listZones", {})

    assert (caught.value.code, caught.value.text) == (530, "boom")


def test_bad_signature_is_reported_as_401() -> None:
    api = FakeApi()
    api.on("listZones", {})

    with pytest.raises(ApiCallError) as caught:
        api.client(secret_key="wrong").call("listZones", {})

    assert caught.value.code == 401


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<xml/>"),
        httpx.Response(200, json={"a": {}, "b": {}}),
        httpx.Response(200, json={"listzonesresponse": [1, 2]}),
    ],
)
def test_reply_that_is_not_an_envelope_is_rejected(api: FakeApi, response: httpx.Response) -> None:
    api.on_raw("listZones", response)

    with pytest.raises(ApiResponseError):
        api.client().call("listZones", {})


def test_transport_failure_becomes_connection_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    client = ApiClient(ENDPOINT, API_KEY, SECRET_KEY, http=http)

    with pytest.raises(ApiConnectionError, match="connection refused"):
        client.call("listZones", {})


def test_wait_for_job_polls_until_success_and_returns_the_result(api: FakeApi) -> None:
    api.script_job("j1", pending(0), pending(40), succeeded({"virtualmachine": {"id": "vm1"}}))
    clock = FakeClock()
    seen: list[int | None] = []

    result = api.client(clock).wait_for_job(
        "j1",
        poll_interval_s=2.0,
        timeout_s=60.0,
        on_progress=lambda reply: seen.append(job_progress_percent(reply)),
    )

    assert result == {"virtualmachine": {"id": "vm1"}}
    assert api.job_polls("j1") == 3
    assert clock.sleeps == [2.0, 2.0]
    assert seen == [0, 40, None]


def test_wait_for_job_raises_the_jobs_error(api: FakeApi) -> None:
    api.script_job("j1", pending(), failed(534, "checksum mismatch"))

    with pytest.raises(ApiCallError) as caught:
        api.client().wait_for_job("j1", poll_interval_s=1.0, timeout_s=60.0)

    assert (caught.value.code, caught.value.text) == (534, "checksum mismatch")


def test_wait_for_job_gives_up_at_the_timeout(api: FakeApi) -> None:
    api.script_job("j1", pending())
    clock = FakeClock()

    with pytest.raises(JobTimeoutError) as caught:
        api.client(clock).wait_for_job("j1", poll_interval_s=2.0, timeout_s=5.0)

    assert caught.value.jobids == ["j1"]
    assert sum(clock.sleeps) == pytest.approx(5.0)
    assert api.job_polls("j1") == 4


def test_wait_is_bounded_even_when_the_clock_does_not_move(api: FakeApi) -> None:
    api.script_job("j1", pending())

    with pytest.raises(JobTimeoutError):
        api.client(FakeClock(stalled=True)).wait_for_job("j1", poll_interval_s=1.0, timeout_s=3.0)

    assert api.job_polls("j1") == 4


def test_wait_for_jobs_returns_every_final_reply_in_order(api: FakeApi) -> None:
    api.script_job("a", pending(), pending(), succeeded({"success": True}))
    api.script_job("b", failed(530, "no pool"))

    replies = api.client().wait_for_jobs(["a", "b"], poll_interval_s=1.0, timeout_s=60.0)

    assert list(replies) == ["a", "b"]
    assert job_status(replies["a"]) is JobStatus.SUCCEEDED
    assert job_status(replies["b"]) is JobStatus.FAILED
    # A finished job is not asked about again.
    assert api.job_polls("b") == 1
    assert api.job_polls("a") == 3


def test_job_error_falls_back_to_jobresultcode_and_text_results() -> None:
    assert job_error({"jobid": "j", "jobstatus": 2, "jobresultcode": 531}).code == 531
    old_style = job_error({"jobstatus": 2, "jobresulttype": "text", "jobresult": "it broke"})
    assert (old_style.code, old_style.text) == (530, "it broke")


def test_cancelled_job_counts_as_failed_and_missing_status_is_rejected() -> None:
    assert job_status({"jobstatus": 3}) is JobStatus.FAILED
    with pytest.raises(ApiResponseError):
        job_status({"jobid": "j"})
