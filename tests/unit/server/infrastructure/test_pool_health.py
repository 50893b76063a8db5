"""Up and Down from the hosts' pool checks: the status rule and the failure book."""

from datetime import UTC, datetime, timedelta

import pytest

from kvmcloud.server.infrastructure.pool_states import (
    FAILURE_MEMORY_S,
    PoolFailures,
    PoolStatus,
    may_enter_maintenance,
    status_after_checks,
)

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def test_an_up_pool_goes_down_while_a_host_fails_it_and_comes_back():
    assert status_after_checks("Up", failing=True) == PoolStatus.DOWN
    assert status_after_checks("Down", failing=True) == PoolStatus.DOWN
    assert status_after_checks("Down", failing=False) == PoolStatus.UP
    assert status_after_checks("Up", failing=False) == PoolStatus.UP


@pytest.mark.parametrize(
    "status", ["Disabled", "PrepareForMaintenance", "Maintenance", "ErrorInMaintenance"]
)
def test_an_operators_state_is_left_alone(status):
    assert status_after_checks(status, failing=True) == status
    assert status_after_checks(status, failing=False) == status


def test_a_down_pool_may_enter_maintenance():
    assert may_enter_maintenance(PoolStatus.DOWN)


def test_the_pool_is_failing_while_any_host_last_failed_it():
    book = PoolFailures()
    book.record("p1", 1, "server down", NOW)
    book.record("p1", 2, None, NOW)
    assert book.failing("p1", NOW) == {1: "server down"}
    book.record("p1", 1, None, NOW + timedelta(seconds=5))
    assert book.failing("p1", NOW) == {}
    assert book.failing("p2", NOW) == {}


def test_a_failure_no_host_repeats_is_forgotten():
    book = PoolFailures()
    book.record("p1", 1, "mount hung", NOW)
    assert book.failing("p1", NOW + timedelta(seconds=FAILURE_MEMORY_S)) == {1: "mount hung"}
    assert book.failing("p1", NOW + timedelta(seconds=FAILURE_MEMORY_S + 1)) == {}


def test_how_a_host_reaches_a_pool_is_news_once_and_when_it_changes():
    book = PoolFailures()
    assert book.note_access("p1", 1, "userspace")
    assert not book.note_access("p1", 1, "userspace")
    assert book.note_access("p1", 2, "userspace")
    assert book.note_access("p1", 1, "mount")
