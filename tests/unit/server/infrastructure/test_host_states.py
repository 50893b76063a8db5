from datetime import UTC, datetime, timedelta

import pytest

from kvmcloud.server.infrastructure.host_states import HostStatus, host_status

NOW = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
# ping.interval 60 s × ping.timeout 2.5 → Disconnected after 150 s, Down after 450 s.
INTERVAL_S = 60.0
FACTOR = 2.5


def status_after(seconds: float) -> HostStatus:
    last_ping = NOW - timedelta(seconds=seconds)
    return host_status(last_ping, NOW, interval_s=INTERVAL_S, timeout_factor=FACTOR)


@pytest.mark.parametrize(
    ("silent_s", "expected"),
    [
        (0, HostStatus.UP),
        (60, HostStatus.UP),
        (150, HostStatus.UP),
        (150.001, HostStatus.DISCONNECTED),
        (300, HostStatus.DISCONNECTED),
        (450, HostStatus.DISCONNECTED),
        (450.001, HostStatus.DOWN),
        (86400, HostStatus.DOWN),
    ],
)
def test_status_by_silence(silent_s, expected):
    assert status_after(silent_s) is expected


def test_never_pinged_is_down():
    assert host_status(None, NOW, interval_s=INTERVAL_S, timeout_factor=FACTOR) is HostStatus.DOWN


def test_ping_slightly_in_the_future_is_up():
    assert status_after(-5) is HostStatus.UP


def test_thresholds_follow_settings():
    last_ping = NOW - timedelta(seconds=25)

    assert host_status(last_ping, NOW, interval_s=10, timeout_factor=2) is HostStatus.DISCONNECTED
    assert host_status(last_ping, NOW, interval_s=10, timeout_factor=3) is HostStatus.UP
    assert host_status(last_ping, NOW, interval_s=4, timeout_factor=2) is HostStatus.DOWN


def test_status_values_are_cloudstack_spelling():
    assert [s.value for s in HostStatus] == ["Up", "Disconnected", "Down"]
