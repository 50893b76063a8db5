import io
import json

from kvmcloud.cli.__main__ import EXIT_FAILED, EXIT_OK, parse_args, run_api
from kvmcloud.cli.api_client import JsonObject
from kvmcloud.cli.template_downloads import pool_downloads
from tests.unit.cli.fake_api import FakeApi, FakeClock, failed, pending, succeeded


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def prepared_template(*details: JsonObject) -> JsonObject:
    return {
        "count": 1,
        "template": [{"id": "t1", "name": "tiny", "downloaddetails": list(details)}],
    }


def detail(pool: str, jobid: str | None, percent: int = 0) -> JsonObject:
    entry: JsonObject = {
        "datastore": pool,
        "datastoreid": f"{pool}-id",
        "downloadPercent": percent,
        "downloadState": "Downloading" if jobid else "Downloaded",
    }
    if jobid is not None:
        entry["jobid"] = jobid
    return entry


def prepare(api: FakeApi, stderr: io.StringIO) -> tuple[int, str]:
    stdout = io.StringIO()
    argv = ["api", "prepareTemplate", "templateid=t1", "zoneid=z1", "--wait"]
    status = run_api(
        api.client(FakeClock()), parse_args(argv), stdout=stdout, stderr=stderr, poll_interval_s=1.0
    )
    return status, stdout.getvalue()


def test_pool_downloads_reads_every_templates_details() -> None:
    reply = prepared_template(detail("pool-a", "ja", 12), detail("pool-b", None, 100))

    downloads = pool_downloads(reply)

    assert [(d.label, d.jobid, d.percent) for d in downloads] == [
        ("pool-a", "ja", 12),
        ("pool-b", None, 100),
    ]
    assert pool_downloads({}) == []


def test_wait_follows_every_pools_job_with_plain_progress_lines() -> None:
    api = FakeApi()
    api.on("prepareTemplate", prepared_template(detail("pool-a", "ja"), detail("pool-b", "jb")))
    api.script_job(
        "ja",
        pending(1),
        pending(3),
        pending(6),
        pending(7),
        pending(12),
        succeeded({"success": True}),
    )
    api.script_job("jb", pending(50), succeeded({"success": True}))
    stderr = io.StringIO()

    status, out = prepare(api, stderr)

    assert status == EXIT_OK
    # Without a terminal: one line per 5 % step at most, then the outcome.
    assert stderr.getvalue().splitlines() == [
        "pool-a: 0%",
        "pool-b: 0%",
        "pool-b: 50%",
        "pool-b: done",
        "pool-a: 6%",
        "pool-a: 12%",
        "pool-a: done",
    ]
    assert json.loads(out) == [
        {
            "datastore": "pool-a",
            "datastoreid": "pool-a-id",
            "jobid": "ja",
            "jobstatus": 1,
            "jobresult": {"success": True},
        },
        {
            "datastore": "pool-b",
            "datastoreid": "pool-b-id",
            "jobid": "jb",
            "jobstatus": 1,
            "jobresult": {"success": True},
        },
    ]


def test_failed_pool_job_exits_1_with_its_errortext() -> None:
    api = FakeApi()
    api.on(
        "prepareTemplate",
        prepared_template(detail("pool-a", "ja"), detail("pool-b", "jb"), detail("pool-c", None)),
    )
    api.script_job("ja", pending(20), succeeded({"success": True}))
    api.script_job("jb", pending(10), failed(534, "checksum mismatch"))
    stderr = io.StringIO()

    status, out = prepare(api, stderr)

    assert status == EXIT_FAILED
    lines = stderr.getvalue().splitlines()
    assert "pool-b: failed (534: checksum mismatch)" in lines
    assert "pool-c: Downloaded" in lines
    assert lines[-1] == "error 534: checksum mismatch (pool pool-b)"
    results = json.loads(out)
    assert [result.get("jobstatus") for result in results] == [1, 2, None]
    assert results[2] == detail("pool-c", None)


def test_wait_on_a_terminal_redraws_one_bar_per_pool() -> None:
    api = FakeApi()
    api.on("prepareTemplate", prepared_template(detail("pool-a", "ja"), detail("b", "jb")))
    api.script_job("ja", pending(50), succeeded({"success": True}))
    api.script_job("jb", pending(10), pending(90), succeeded({"success": True}))
    stderr = TerminalStream()

    status, _ = prepare(api, stderr)

    assert status == EXIT_OK
    drawn = stderr.getvalue()
    assert "\x1b[2A" in drawn  # moved back up over the two lines to redraw them
    final_frame = drawn.rsplit("\x1b[2A", 1)[1]
    assert final_frame == (
        "\r\x1b[2Kpool-a [##############################] 100% done\n"
        "\r\x1b[2Kb      [##############################] 100% done\n"
    )
    assert "[###############---------------]  50%" in drawn


def test_wait_without_jobs_prints_the_reply() -> None:
    api = FakeApi()
    reply = prepared_template(detail("pool-a", None, 100))
    api.on("prepareTemplate", reply)

    status, out = prepare(api, io.StringIO())

    assert (status, json.loads(out)) == (EXIT_OK, reply)
