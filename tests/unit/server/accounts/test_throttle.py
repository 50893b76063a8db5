"""Failed-login throttling: a sliding window per subject."""

from datetime import UTC, datetime, timedelta

from kvmcloud.server.accounts.throttle import (
    LoginLimits,
    address_subject,
    is_throttled,
    retry_after_s,
    user_subject,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(*seconds: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


def test_under_the_limit_is_not_throttled() -> None:
    assert not is_throttled(at(0, 1, 2, 3), T0 + timedelta(seconds=4), 300, 5)


def test_the_limit_within_the_window_throttles() -> None:
    assert is_throttled(at(0, 1, 2, 3, 4), T0 + timedelta(seconds=5), 300, 5)


def test_failures_age_out_one_by_one() -> None:
    failures = at(0, 10, 20, 30, 40)
    assert is_throttled(failures, T0 + timedelta(seconds=299), 300, 5)
    assert not is_throttled(failures, T0 + timedelta(seconds=301), 300, 5)
    assert retry_after_s(failures, T0 + timedelta(seconds=100), 300, 5) == 201
    assert retry_after_s(failures, T0 + timedelta(seconds=301), 300, 5) == 0


def test_future_failures_do_not_count() -> None:
    assert not is_throttled(at(100, 100, 100), T0, 300, 3)


def test_subjects_and_limits() -> None:
    assert user_subject("Admin") == "user:admin"
    assert address_subject("127.0.0.1") == "addr:127.0.0.1"
    assert len(user_subject("x" * 1000)) == 300
    assert LoginLimits(5, 20, 300).since(T0) == T0 - timedelta(seconds=300)
