"""flush_interval_s: how often heartbeat times are written, against the Disconnected bound."""

import pytest

from kvmcloud.server.infrastructure.last_seen import (
    MAX_FLUSH_INTERVAL_S,
    MIN_FLUSH_INTERVAL_S,
    flush_interval_s,
)


def test_the_defaults_flush_every_five_seconds() -> None:
    assert flush_interval_s(60, 2.5) == MAX_FLUSH_INTERVAL_S == 5.0


def test_short_intervals_flush_ten_times_per_threshold() -> None:
    assert flush_interval_s(1, 2.5) == pytest.approx(0.25)
    assert flush_interval_s(1, 1.0) == MIN_FLUSH_INTERVAL_S


@pytest.mark.parametrize("interval_s", [1, 2, 5, 10, 30, 60, 300, 3600])
@pytest.mark.parametrize("timeout_factor", [2.5, 3.0, 10.0])
def test_a_lost_batch_delays_but_never_disconnects(interval_s: int, timeout_factor: float) -> None:
    threshold_s = interval_s * timeout_factor
    flush_s = flush_interval_s(interval_s, timeout_factor)
    # Beats flushed late: the sweeper sees at most one interval plus one flush of silence.
    assert interval_s + flush_s < threshold_s
    # A server crash loses one unwritten beat: one more interval.
    assert 2 * interval_s + flush_s < threshold_s
