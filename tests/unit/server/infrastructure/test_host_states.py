from datetime import UTC, datetime, timedelta

import pytest

from kvmcloud.server.infrastructure.host_states import (
    CANDIDATE_MARGIN,
    HostStatus,
    host_status,
    sweep_cutoffs,
)

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


def test_sweep_cutoffs_select_every_host_whose_state_may_change() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0)
    up_before, disconnected_before = sweep_cutoffs(now, interval_s=60, timeout_factor=2.5)
    assert up_before == now - timedelta(seconds=150) + CANDIDATE_MARGIN
    assert disconnected_before == now - timedelta(seconds=450) + CANDIDATE_MARGIN
    for silent_s in (0, 149, 150, 151, 449, 450, 451, 10_000):
        last_ping = now - timedelta(seconds=silent_s)
        new = host_status(last_ping, now, interval_s=60, timeout_factor=2.5)
        # Up may change only when selected as an Up candidate...
        if new != HostStatus.UP:
            assert last_ping < up_before
        # ...Disconnected only when past the Down cutoff; Down only when within it.
        if new == HostStatus.DOWN:
            assert last_ping < disconnected_before
        else:
            assert last_ping >= disconnected_before - 2 * CANDIDATE_MARGIN
