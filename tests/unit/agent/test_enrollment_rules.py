import pytest

from kvmcloud.agent.enrollment_rules import FailureBucket, token_expired


@pytest.mark.parametrize(
    ("created", "now", "expired"),
    [
        (1000.0, 1000.0, False),
        (1000.0, 1000.0 + 86399, False),
        (1000.0, 1000.0 + 86400, True),
        (1000.0, 900.0, True),
        (1000.0, 990.0, False),
    ],
)
def test_token_expiry(created: float, now: float, expired: bool) -> None:
    assert token_expired(created, now, 86400.0) is expired


def test_bucket_allows_a_burst_then_refuses_until_refilled() -> None:
    bucket = FailureBucket(capacity=3, refill_s=60.0)
    for _ in range(3):
        assert bucket.retry_after_s(100.0) == 0.0
        bucket.record_failure(100.0)

    assert bucket.retry_after_s(100.0) == pytest.approx(60.0)
    assert bucket.retry_after_s(130.0) == pytest.approx(30.0)
    assert bucket.retry_after_s(160.0) == 0.0
    bucket.record_failure(160.0)
    assert bucket.retry_after_s(160.0) == pytest.approx(60.0)


def test_bucket_never_goes_below_empty_and_refills_to_capacity() -> None:
    bucket = FailureBucket(capacity=2, refill_s=10.0)
    for _ in range(50):
        bucket.record_failure(0.0)

    assert bucket.retry_after_s(0.0) == pytest.approx(10.0)
    assert bucket.retry_after_s(1000.0) == 0.0
    bucket.record_failure(1000.0)
    bucket.record_failure(1000.0)
    assert bucket.retry_after_s(1000.0) > 0


def test_clock_going_backwards_does_not_refill() -> None:
    bucket = FailureBucket(capacity=1, refill_s=10.0)
    bucket.record_failure(100.0)

    assert bucket.retry_after_s(50.0) == pytest.approx(10.0)
