import json
import logging
import threading
from collections.abc import Callable

import httpx
import pytest

from kvmcloud.agent.certificates import CertificateStoreError
from kvmcloud.agent.enrollment import Enrollment
from kvmcloud.agent.heartbeat import (
    FIRST_RETRIES,
    FIRST_RETRY_S,
    RECONNECT_EVERY_S,
    HeartbeatError,
    HeartbeatLoop,
    clamp_interval_s,
    retry_in_s,
)
from kvmcloud.agent.vms.errors import HypervisorUnavailableError
from kvmcloud.protocol.agent_messages import VmPowerState
from tests.support.agent_harness import HOST_REPORT, HeartbeatRecorder

ENROLLMENT = Enrollment(host_uuid="h1", host_key="key-1", server_url="http://mgmt.test/")


def loop_with(handler: Callable[[httpx.Request], httpx.Response]) -> HeartbeatLoop:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return HeartbeatLoop(enrollment=ENROLLMENT, client=client, report=lambda: HOST_REPORT)


def test_send_posts_heartbeat_with_bearer_key_and_returns_clamped_interval():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"interval_s": 0.01})

    assert loop_with(handler).send(shutting_down=True) == 1.0
    request = seen[0]
    assert str(request.url) == "http://mgmt.test/agent/v1/heartbeat"
    assert request.headers["authorization"] == "Bearer key-1"
    body = json.loads(request.content)
    assert body["host_uuid"] == "h1"
    assert body["shutting_down"] is True
    assert body["report"]["hostname"] == "kvm1"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(401, json={"error": "bad key"}), "HTTP 401 Unauthorized"),
        (httpx.Response(200, json={"nope": 1}), "unexpected heartbeat reply"),
    ],
)
def test_send_raises_on_refusal(response, message):
    with pytest.raises(HeartbeatError, match=message):
        loop_with(lambda request: response).send()


def test_send_raises_when_server_unreachable():
    def handler(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(HeartbeatError, match=r"cannot reach http://mgmt\.test/agent/v1/heartbeat"):
        loop_with(handler).send()


def test_loop_beats_at_once_keeps_going_after_failures_and_sends_final_beat():
    beats: list[bool] = []
    two_beats = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        beats.append(json.loads(request.content)["shutting_down"])
        if len(beats) >= 2:
            two_beats.set()
        if len(beats) == 1:
            return httpx.Response(503)
        return httpx.Response(200, json={"interval_s": 1})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    loop = HeartbeatLoop(
        enrollment=ENROLLMENT, client=client, report=lambda: HOST_REPORT, initial_interval_s=0
    )
    loop.start()
    assert two_beats.wait(5)
    loop.stop(final=True)

    assert beats[:2] == [False, False]
    assert beats[-1] is True


def test_a_new_enrolment_refused_at_first_is_retried_soon_not_after_the_interval():
    # addHost records the host's key only after the agent answered: the first beat can
    # get a 401. The next try must come well before the 10 s initial interval.
    refusals = 0
    accepted = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal refusals
        if refusals < 2:
            refusals += 1
            return httpx.Response(401, json={"error": "unknown host or wrong key"})
        accepted.set()
        return httpx.Response(200, json={"interval_s": 60})

    loop = HeartbeatLoop(
        enrollment=ENROLLMENT,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        report=lambda: HOST_REPORT,
        initial_interval_s=600,
    )
    loop.start()
    try:
        assert accepted.wait(30), "the refused first beats were not retried soon"
    finally:
        loop.stop()


def test_quick_retries_only_before_the_first_accepted_beat_and_only_a_few():
    assert retry_in_s(10, accepted_once=False, failures=1) == FIRST_RETRY_S
    assert retry_in_s(10, accepted_once=False, failures=FIRST_RETRIES) == FIRST_RETRY_S
    assert retry_in_s(10, accepted_once=False, failures=FIRST_RETRIES + 1) == 10
    assert retry_in_s(10, accepted_once=True, failures=1) == 10
    assert retry_in_s(0.2, accepted_once=False, failures=1) == 0.2


def test_interval_is_clamped():
    assert clamp_interval_s(0) == 1
    assert clamp_interval_s(30) == 30
    assert clamp_interval_s(10_000) == 300


def test_heartbeat_carries_vm_states():
    recorder = HeartbeatRecorder(interval_s=10)

    loop = HeartbeatLoop(
        enrollment=ENROLLMENT,
        client=recorder.client(),
        report=lambda: HOST_REPORT,
        vm_states=lambda: {"i-2-10-VM": VmPowerState.RUNNING, "i-2-11-VM": VmPowerState.STOPPED},
    )

    loop.send()

    assert recorder.beats[0]["vm_states"] == {"i-2-10-VM": "running", "i-2-11-VM": "stopped"}


def test_libvirt_unavailable_sends_unknown_vm_states_and_logs_once_per_change(caplog):
    recorder = HeartbeatRecorder(interval_s=10)
    problems = iter(
        [
            HypervisorUnavailableError("cannot connect to libvirt: socket missing"),
            HypervisorUnavailableError("cannot connect to libvirt: socket missing"),
            HypervisorUnavailableError("cannot connect to libvirt: permission denied"),
            None,
            None,
        ]
    )

    def vm_states() -> dict[str, VmPowerState]:
        problem = next(problems)
        if problem is not None:
            raise problem
        return {"i-2-10-VM": VmPowerState.RUNNING}

    loop = HeartbeatLoop(
        enrollment=ENROLLMENT,
        client=recorder.client(),
        report=lambda: HOST_REPORT,
        vm_states=vm_states,
    )

    with caplog.at_level(logging.INFO, logger="kvmcloud.agent.heartbeat"):
        for _ in range(5):
            loop.send()

    assert [body["vm_states"] for body in recorder.beats] == [
        None,
        None,
        None,
        *[{"i-2-10-VM": "running"}] * 2,
    ]
    messages = [r.getMessage() for r in caplog.records]
    unknown = "cannot read VM states, reporting them unknown: cannot connect to libvirt: "
    assert messages == [
        unknown + "socket missing",
        unknown + "permission denied",
        "VM states readable again",
    ]


def test_heartbeat_carries_certificates():
    recorder = HeartbeatRecorder(interval_s=10)

    loop = HeartbeatLoop(
        enrollment=ENROLLMENT,
        client=recorder.client(),
        report=lambda: HOST_REPORT,
        certificates=lambda: {"zone-ca": "ab" * 32},
    )

    loop.send()

    assert recorder.beats[0]["certificates"] == {"zone-ca": "ab" * 32}


def test_no_certificate_store_reports_none_held():
    recorder = HeartbeatRecorder(interval_s=10)

    loop_with(recorder.handle).send()

    assert recorder.beats[0]["certificates"] == {}


def test_unreadable_certificate_store_sends_unknown_and_logs_once_per_change(caplog):
    recorder = HeartbeatRecorder(interval_s=10)
    problems = iter(
        [
            CertificateStoreError("cannot list certificate store /c: Permission denied"),
            CertificateStoreError("cannot list certificate store /c: Permission denied"),
            CertificateStoreError("cannot list certificate store /c: Not a directory"),
            None,
            None,
        ]
    )

    def held() -> dict[str, str]:
        problem = next(problems)
        if problem is not None:
            raise problem
        return {"zone-ca": "ab" * 32}

    loop = HeartbeatLoop(
        enrollment=ENROLLMENT,
        client=recorder.client(),
        report=lambda: HOST_REPORT,
        certificates=held,
    )

    with caplog.at_level(logging.INFO, logger="kvmcloud.agent.heartbeat"):
        for _ in range(5):
            loop.send()

    assert [body["certificates"] for body in recorder.beats] == [
        None,
        None,
        None,
        *[{"zone-ca": "ab" * 32}] * 2,
    ]
    messages = [r.getMessage() for r in caplog.records]
    unknown = "cannot read certificates, reporting them unknown: cannot list certificate store /c: "
    assert messages == [
        unknown + "Permission denied",
        unknown + "Not a directory",
        "certificates readable again",
    ]


@pytest.mark.parametrize(
    "stale",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset"),
        httpx.WriteError("broken pipe"),
    ],
)
def test_a_beat_cut_by_a_closed_kept_alive_connection_is_sent_once_more(stale):
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) == 1:
            raise stale
        return httpx.Response(200, json={"interval_s": 60})

    assert loop_with(handler).send() == 60.0
    assert len(attempts) == 2
    assert attempts[0].content == attempts[1].content


def test_a_beat_is_not_sent_a_third_time_nor_again_after_a_timeout():
    attempts: list[httpx.Request] = []

    def closed(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    with pytest.raises(HeartbeatError, match="Server disconnected"):
        loop_with(closed).send()
    assert len(attempts) == 2

    attempts.clear()

    def hung(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ReadTimeout("timed out")

    with pytest.raises(HeartbeatError, match="timed out"):
        loop_with(hung).send()
    assert len(attempts) == 1


def test_the_kept_alive_connection_is_closed_after_a_beat_once_an_hour():
    now = [0.0]
    closes: list[bool] = []

    def handler(request: httpx.Request) -> httpx.Response:
        closes.append(request.headers.get("connection") == "close")
        return httpx.Response(200, json={"interval_s": 60})

    loop = HeartbeatLoop(
        enrollment=ENROLLMENT,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        report=lambda: HOST_REPORT,
        clock=lambda: now[0],
    )
    for second in (60.0, RECONNECT_EVERY_S - 1, RECONNECT_EVERY_S, RECONNECT_EVERY_S + 60):
        now[0] = second
        loop.send()
    assert closes == [False, False, True, False]
