import io
import json

import pytest

from kvmcloud.cli.__main__ import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ApiInvocation,
    UsageError,
    main,
    parse_args,
    parse_params,
    run_api,
)
from kvmcloud.cli.api_client import ApiClient
from tests.unit.cli.fake_api import FakeApi, FakeClock, failed, pending, succeeded


def run(client: ApiClient, argv: list[str]) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = run_api(client, parse_args(argv), stdout=stdout, stderr=stderr, poll_interval_s=1.0)
    return status, stdout.getvalue(), stderr.getvalue()


def test_parse_params_splits_on_the_first_equals_sign() -> None:
    assert parse_params(["a=b=c", "empty=", "details[0].HTTP_HEADER:X-Auth-Token=secret"]) == {
        "a": "b=c",
        "empty": "",
        "details[0].HTTP_HEADER:X-Auth-Token": "secret",
    }


@pytest.mark.parametrize("argument", ["novalue", "=value"])
def test_parse_params_rejects_arguments_without_a_key(argument: str) -> None:
    with pytest.raises(UsageError, match="key=value"):
        parse_params([argument])


def test_parse_args_collects_parameters_around_flags() -> None:
    invocation = parse_args(
        ["--url", "http://h/client/api", "api", "deployVirtualMachine", "a=1", "--post", "b=2=3"]
    )

    assert invocation == ApiInvocation(
        command="deployVirtualMachine",
        params={"a": "1", "b": "2=3"},
        post=True,
        setting_overrides={"KVMCLOUD_URL": "http://h/client/api"},
    )


def test_parse_args_accepts_connection_flags_after_the_verb() -> None:
    invocation = parse_args(["api", "listZones", "--api-key", "k", "--no-wait", "--timeout", "9"])

    assert invocation.setting_overrides == {"KVMCLOUD_API_KEY": "k"}
    assert invocation.wait_for_job is False
    assert invocation.timeout_s == 9.0


@pytest.mark.parametrize(
    "argv",
    [
        ["api", "listZones", "--wait"],
        ["api", "listZones", "--bogus"],
        ["api", "listZones", "novalue"],
        ["api", "listZones", "--timeout", "0"],
        ["api"],
    ],
)
def test_parse_args_rejects_bad_command_lines(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args(argv)

    assert caught.value.code == EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


def test_sync_reply_is_printed_as_indented_json() -> None:
    api = FakeApi()
    api.on("listZones", {"count": 1, "zone": [{"id": "z1", "name": "zoné"}]})

    status, out, err = run(api.client(), ["api", "listZones"])

    assert (status, err) == (EXIT_OK, "")
    assert json.loads(out) == {"count": 1, "zone": [{"id": "z1", "name": "zoné"}]}
    assert out.startswith("{\n  ")
    assert "zoné" in out


def test_async_reply_is_followed_and_the_job_result_printed() -> None:
    api = FakeApi()
    api.on("deployVirtualMachine", {"id": "vm1", "jobid": "j1"})
    api.script_job(
        "j1", pending(), succeeded({"virtualmachine": {"id": "vm1", "state": "Running"}})
    )
    clock = FakeClock()

    status, out, _ = run(api.client(clock), ["api", "deployVirtualMachine", "zoneid=z1"])

    assert status == EXIT_OK
    assert json.loads(out) == {"virtualmachine": {"id": "vm1", "state": "Running"}}
    assert clock.sleeps == [1.0]


def test_no_wait_prints_the_jobid_without_polling() -> None:
    api = FakeApi()
    api.on("deleteTemplate", {"jobid": "j1"})

    status, out, _ = run(api.client(), ["api", "deleteTemplate", "id=t1", "--no-wait"])

    assert (status, json.loads(out)) == (EXIT_OK, {"jobid": "j1"})
    assert api.job_polls("j1") == 0


def test_query_async_job_result_is_printed_not_followed() -> None:
    api = FakeApi()
    api.script_job("j1", pending(30))

    status, out, _ = run(api.client(), ["api", "queryAsyncJobResult", "jobid=j1"])

    assert status == EXIT_OK
    assert json.loads(out) == {"jobid": "j1", "jobstatus": 0, "jobprocstatus": 30}
    assert api.job_polls("j1") == 1


def test_api_error_is_printed_compactly_with_exit_1() -> None:
    api = FakeApi()
    api.on("listTemplates", {"errorcode": 431, "errortext": "templatefilter missing"}, status=431)

    status, out, err = run(api.client(), ["api", "listTemplates"])

    assert (status, out) == (EXIT_FAILED, "")
    assert err == "error 431: templatefilter missing\n"


def test_failed_job_is_printed_compactly_with_exit_1() -> None:
    api = FakeApi()
    api.on("deleteTemplate", {"jobid": "j1"})
    api.script_job("j1", failed(536, "template in use"))

    status, _, err = run(api.client(), ["api", "deleteTemplate", "id=t1"])

    assert (status, err) == (EXIT_FAILED, "error 536: template in use\n")


def test_job_timeout_is_reported() -> None:
    api = FakeApi()
    api.on("deleteTemplate", {"jobid": "j1"})
    api.script_job("j1", pending())

    status, _, err = run(api.client(), ["api", "deleteTemplate", "id=t1", "--timeout", "3"])

    assert status == EXIT_FAILED
    assert err == "error: job(s) j1 still running after 3 s\n"


def test_main_names_the_missing_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KVMCLOUD_API_KEY", raising=False)
    monkeypatch.setenv("KVMCLOUD_SECRET_KEY", "s")

    assert main(["api", "listZones"]) == EXIT_USAGE

    err = capsys.readouterr().err
    assert "KVMCLOUD_API_KEY" in err
    assert "--api-key" in err
