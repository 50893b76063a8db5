"""Peer uploads: slots bounded by the grant's limit; pauses that keep to the rate."""

import pytest

from kvmcloud.agent.peer_serving import UploadSlots, pause_s


def test_slots_refuse_past_the_limit_and_come_back() -> None:
    slots = UploadSlots()
    first, second = slots.acquire(2), slots.acquire(2)
    assert first is not None and second is not None
    assert slots.acquire(2) is None
    first.release()
    first.release()  # once only
    assert slots.active == 1
    assert slots.acquire(2) is not None
    assert slots.acquire(2) is None


def test_pause_keeps_to_the_rate() -> None:
    assert pause_s(sent_bytes=10_000_000, elapsed_s=0.0, rate_bytes=0) == 0.0
    assert pause_s(sent_bytes=10_000_000, elapsed_s=0.1, rate_bytes=10_000_000) == pytest.approx(
        0.9
    )
    assert pause_s(sent_bytes=10_000_000, elapsed_s=2.0, rate_bytes=10_000_000) == 0.0
    assert pause_s(sent_bytes=1, elapsed_s=0.0, rate_bytes=10_000_000) == 0.0
