"""listTemplates shows each pool copy's host, bytes, rate, ETA and failed attempts."""

from typing import Any

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.agent_client import ProgressCallback
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness
from tests.integration.server.test_download_retries import failing, register, second_host


def details(server: ServerHarness, template_id: str) -> dict[str, Any]:
    (template,) = server.ok("listTemplates", templatefilter="all", id=template_id)["template"]
    (copy,) = template["downloaddetails"]
    return copy


def installed(command: msg.DirectDownloadCommand) -> msg.Answer:
    return msg.Answer(
        ok=True,
        result=msg.DirectDownloadResult(
            install_path=f"{command.pool.path}/{command.install_name}",
            physical_size_bytes=1000,
            virtual_size_bytes=4096,
            format=command.format,
        ),
    )


def prepare(server: ServerHarness, cloud: Cloud, template_id: str) -> dict[str, Any]:
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    server.run_jobs()
    return details(server, template_id)


def test_a_running_download_shows_its_host_bytes_rate_and_eta(
    server: ServerHarness, cloud: Cloud
) -> None:
    agent = server.agents.agents[AGENT_URL]
    template_id = register(server, cloud)
    seen: list[dict[str, Any]] = []

    def report(on_progress: ProgressCallback) -> None:
        on_progress(0, 1000)
        server.clock.advance(5)
        on_progress(400, 1000)
        seen.append(details(server, template_id))
        # The same percentage soon after: not worth a write yet.
        server.clock.advance(1)
        on_progress(405, 1000)
        seen.append(details(server, template_id))
        # Still 40 %, but bytes kept coming for the write interval: written.
        server.clock.advance(5)
        on_progress(440, 1000)
        seen.append(details(server, template_id))

    agent.download_progress = report
    done = prepare(server, cloud, template_id)

    running, unwritten, refreshed = seen
    assert running["downloadState"] == "DOWNLOAD_IN_PROGRESS"
    assert running["hostname"] == "kvm1" and running["hostid"] == cloud.host_id
    assert (running["downloadedbytes"], running["totalbytes"]) == (400, 1000)
    assert running["downloadPercent"] == 40 and running["attempts"] == 1
    # 400 bytes in 5 s: 80 B/s, and 600 bytes left take 8 s at that rate.
    assert (running["downloadrate"], running["eta"]) == (80, 8)
    assert running["failures"] == []
    assert unwritten["downloadedbytes"] == 400
    assert refreshed["downloadedbytes"] == 440 and refreshed["downloadrate"] == 40
    assert done["downloadState"] == "DOWNLOADED" and "eta" not in done


def test_a_finished_download_records_its_host_and_every_byte(
    server: ServerHarness, cloud: Cloud
) -> None:
    agent = server.agents.agents[AGENT_URL]

    def report(on_progress: ProgressCallback) -> None:
        on_progress(0, None)
        on_progress(990, None)
        # The last report, after every byte: the same percentage (0: no size announced).
        on_progress(1000, None)

    def slow_install(command: msg.DirectDownloadCommand) -> msg.Answer:
        server.clock.advance(4)
        return installed(command)

    agent.download_progress, agent.download = report, slow_install
    copy = prepare(server, cloud, register(server, cloud))

    assert copy["downloadState"] == "DOWNLOADED" and copy["downloadPercent"] == 100
    assert copy["hostname"] == "kvm1" and copy["hostid"] == cloud.host_id
    # The source announced no size: it was as long as what was received.
    assert (copy["downloadedbytes"], copy["totalbytes"]) == (1000, 1000)
    assert copy["downloadrate"] == 250 and "eta" not in copy
    assert copy["attempts"] == 1 and copy["failures"] == []
    assert copy["downloadstarted"] == "2026-01-01T00:00:00+0000"


def test_a_failing_download_records_each_host_and_what_it_said(
    server: ServerHarness, cloud: Cloud
) -> None:
    first, second = server.agents.agents[AGENT_URL], second_host(server, cloud)
    kvm2_id = server.ok("listHosts", name="kvm2")["host"][0]["id"]
    first.download = failing(ErrorCode.TIMEOUT, "no data from http://x for 5 s")
    template_id = register(server, cloud)
    while_second_tries: list[dict[str, Any]] = []

    def second_fails(command: msg.DirectDownloadCommand) -> msg.Answer:
        while_second_tries.append(details(server, template_id))
        return failing(ErrorCode.SOURCE_UNAVAILABLE, "HTTP 503 from http://x")(command)

    second.download = second_fails
    copy = prepare(server, cloud, template_id)

    (trying,) = while_second_tries
    assert trying["downloadState"] == "DOWNLOAD_IN_PROGRESS"
    assert trying["hostname"] == "kvm2" and trying["attempts"] == 2
    assert [(f["hostname"], f["hostid"]) for f in trying["failures"]] == [("kvm1", cloud.host_id)]
    assert copy["downloadState"] == "DOWNLOAD_ERROR" and copy["attempts"] == 2
    assert copy["hostname"] == "kvm2" and "downloadrate" not in copy and "eta" not in copy
    failures = copy["failures"]
    assert [(f["hostname"], f["hostid"]) for f in failures] == [
        ("kvm1", cloud.host_id),
        ("kvm2", kvm2_id),
    ]
    assert "no data from http://x for 5 s" in failures[0]["reason"]
    assert "HTTP 503 from http://x" in failures[1]["reason"]
    # The reasons leave out what every attempt shares; errortext keeps the whole story.
    assert "could not be downloaded" not in failures[0]["reason"]
    assert "tried 2 hosts" in copy["errortext"]


def test_a_new_prepare_forgets_the_failed_download(server: ServerHarness, cloud: Cloud) -> None:
    agent = server.agents.agents[AGENT_URL]
    agent.download = failing(ErrorCode.SOURCE_UNAVAILABLE, "HTTP 503 from http://x")
    template_id = register(server, cloud)
    failed = prepare(server, cloud, template_id)
    assert failed["attempts"] == 1 and len(failed["failures"]) == 1

    server.clock.advance(1)
    agent.download = None
    (queued,) = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)[
        "template"
    ][0]["downloaddetails"]
    assert queued["downloadState"] == "NOT_DOWNLOADED"
    assert queued["attempts"] == 0 and queued["failures"] == []
    assert "hostname" not in queued and "downloadedbytes" not in queued
    server.clock.advance(1)
    server.run_jobs()
    done = details(server, template_id)
    assert done["downloadState"] == "DOWNLOADED" and done["hostname"] == "kvm1"
    assert done["attempts"] == 1 and done["failures"] == []
    assert (done["downloadedbytes"], done["totalbytes"]) == (50, 100)
